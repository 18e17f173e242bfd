#!/usr/bin/env node
/**
 * `sluice`: the client on the command line, as `nats sub` is NATS's.
 *
 *   sluice tail URL STREAM [--params JSON] [--from SEQ] [--count N] [--transport auto|http|websocket] [--http 1.1|2] [--json] [--token T] [--api-key K]
 *   sluice publish URL STREAM [VALUE] [--raw] [--priority critical|high|normal|low] [--publisher-id ID] [--transport …] [--http 1.1|2] [--json] [--token T] [--api-key K]
 *   sluice streams URL [--token T] [--api-key K]
 *
 * tail prints items as they come (seq, then the item as text; `--json`:
 * one JSON object per line), gaps and connection states on stderr, and
 * exits 0 when the stream ends or --count items came, 1 on a final error.
 * publish sends VALUE, or every line of stdin, as one item each (JSON
 * unless --raw), prints each item's seq once the server accepted it, and
 * exits 0 when every item was accepted, 1 when any was refused (the reason
 * on stderr). streams lists what a reference server offers (GET /streams).
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { bytes, createSluiceClient, SluiceError, type NodeClientOptions, type PriorityName } from "./index.js";

const USAGE = `usage:
  sluice tail URL STREAM [--params JSON] [--from SEQ] [--count N] [--transport auto|http|websocket] [--http 1.1|2] [--json] [--token T] [--api-key K]
  sluice publish URL STREAM [VALUE] [--raw] [--priority critical|high|normal|low] [--publisher-id ID] [--transport auto|http|websocket] [--http 1.1|2] [--json] [--token T] [--api-key K]
  sluice streams URL [--token T] [--api-key K]`;

type Flags = Record<string, string | boolean | undefined>;

/** The client options the flags ask for. */
function clientOptions(url: string, flags: Flags): NodeClientOptions {
  return {
    baseUrl: url,
    ...(flags.transport ? { transport: flags.transport as NodeClientOptions["transport"] } : {}),
    ...(flags.http ? { httpVersion: flags.http as NodeClientOptions["httpVersion"] } : {}),
    ...(typeof flags.token === "string" ? { token: flags.token } : {}),
    ...(typeof flags["api-key"] === "string" ? { apiKey: flags["api-key"] } : {}),
  };
}

const PRIORITIES: readonly string[] = ["critical", "high", "normal", "low"];
/** Sends in flight before the next line is read: the queue's block policy does the rest. */
const MAX_PENDING = 10_000;

async function publish(url: string, stream: string, value: string | undefined, flags: Flags): Promise<number> {
  const priority = (flags.priority ?? "normal") as string;
  if (!PRIORITIES.includes(priority)) {
    process.stderr.write(`sluice: --priority must be one of ${PRIORITIES.join(", ")}, got ${priority}\n`);
    return 2;
  }
  const encoder = new TextEncoder();
  /** One item's bytes: the text as given (--raw), or the text once it parsed as JSON. */
  const itemOf = (text: string, where: string): Uint8Array | string => {
    if (flags.raw) return encoder.encode(text);
    try {
      JSON.parse(text);
    } catch (error) {
      return `${where} is not JSON (${(error as Error).message}); send it with --raw`;
    }
    return encoder.encode(text);
  };
  const client = createSluiceClient(clientOptions(url, flags));
  const publisher = client.publish<Uint8Array>(stream, { codec: bytes(), ...(typeof flags["publisher-id"] === "string" ? { publisherId: flags["publisher-id"] } : {}) });
  publisher.onStateChange((state) => {
    if (state.state === "reconnecting") process.stderr.write(`sluice: reconnecting (attempt ${state.attempt}, in ${Math.round(state.delayMs)} ms): ${state.error.code}: ${state.error.message}\n`);
  });
  let failed = 0;
  let fatal: SluiceError | undefined;
  // Results are printed in input order, as each item's fate comes.
  const pending: Promise<void>[] = [];
  const send = (text: string, where: string) => {
    const item = itemOf(text, where);
    if (typeof item === "string") {
      failed++;
      process.stderr.write(`sluice: ${item}\n`);
      return;
    }
    const sent = publisher.send(item, { priority: priority as PriorityName });
    const previous = pending.at(-1);
    pending.push(
      (async () => {
        let outcome: { seq: number } | { error: SluiceError & { failure?: string } };
        try {
          outcome = await sent;
        } catch (error) {
          outcome = { error: error as SluiceError & { failure?: string } };
        }
        await previous;
        if ("seq" in outcome) process.stdout.write(flags.json ? `${JSON.stringify({ seq: outcome.seq })}\n` : `${outcome.seq}\n`);
        else {
          failed++;
          if (outcome.error.failure === "failed" || outcome.error.failure === "closed") fatal ??= outcome.error;
          else process.stderr.write(`sluice: ${where}: ${outcome.error.failure === "dead_lettered" ? "" : `${outcome.error.code}: `}${outcome.error.message}\n`);
        }
      })(),
    );
  };
  try {
    if (value !== undefined) send(value, "VALUE");
    else {
      let line = 0;
      for await (const text of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
        line++;
        if (text.trim() === "") continue;
        send(text, `line ${line}`);
        if (pending.length >= MAX_PENDING) await pending.splice(0, MAX_PENDING / 2).at(-1);
        if (fatal) break;
      }
    }
    await Promise.all(pending);
    if (fatal) {
      process.stderr.write(`sluice: ${stream}: ${fatal.code}: ${fatal.message}\n`);
      return 1;
    }
    await publisher.close();
    return failed > 0 ? 1 : 0;
  } finally {
    client.close();
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** An item as text when it is UTF-8 (JSON items are), else as hex. */
function asText(data: Uint8Array): { text: string; binary: boolean } {
  try {
    return { text: decoder.decode(data), binary: false };
  } catch {
    return { text: Buffer.from(data).toString("hex"), binary: true };
  }
}

async function tail(url: string, stream: string, flags: Flags): Promise<number> {
  let params = {};
  if (typeof flags.params === "string") {
    try {
      params = JSON.parse(flags.params) as object;
    } catch (error) {
      process.stderr.write(`sluice: --params is not JSON: ${(error as Error).message}\n`);
      return 2;
    }
  }
  const from = flags.from === undefined ? undefined : Number(flags.from);
  if (from !== undefined && !(Number.isSafeInteger(from) && from >= 1)) {
    process.stderr.write(`sluice: --from must be a seq (an integer from 1), got ${String(flags.from)}\n`);
    return 2;
  }
  const count = flags.count === undefined ? Infinity : Number(flags.count);
  if (!(count > 0) || !Number.isInteger(count === Infinity ? 1 : count)) {
    process.stderr.write(`sluice: --count must be a positive integer, got ${String(flags.count)}\n`);
    return 2;
  }
  const client = createSluiceClient(clientOptions(url, flags));
  const subscription = client.subscribe(stream, {
    params,
    codec: bytes(),
    // --from SEQ prints SEQ first: the stream starts after SEQ - 1.
    ...(from !== undefined ? { startAfter: { seq: from - 1 } } : {}),
    onState: (state) => {
      if (state.state === "reconnecting") process.stderr.write(`sluice: reconnecting (attempt ${state.attempt}, in ${Math.round(state.delayMs)} ms): ${state.error.code}: ${state.error.message}\n`);
      else if (state.state === "resumed") process.stderr.write(`sluice: resumed after seq ${state.resume.requestedSeq}\n`);
    },
  });
  const stop = () => subscription.cancel("interrupted");
  process.once("SIGINT", stop);
  let seen = 0;
  try {
    for await (const event of subscription) {
      if (event.kind === "gap") {
        process.stderr.write(`sluice: gap: seqs ${event.fromSeq}-${event.fromSeq + event.count - 1} lost (${event.reason})\n`);
        continue;
      }
      const { text, binary } = asText(event.value);
      if (flags.json) {
        let value: unknown = text;
        if (!binary) {
          try {
            value = JSON.parse(text);
          } catch {
            /* not JSON: the text itself */
          }
        }
        process.stdout.write(`${JSON.stringify({ seq: event.seq, ...(event.subject !== undefined ? { subject: event.subject } : {}), ...(binary ? { hex: text } : { item: value }) })}\n`);
      } else process.stdout.write(event.subject !== undefined ? `${event.seq}\t${event.subject}\t${text}\n` : `${event.seq}\t${text}\n`);
      if (++seen >= count) break;
    }
    return 0;
  } catch (error) {
    const e = error instanceof SluiceError ? error : new SluiceError("internal", String(error));
    process.stderr.write(`sluice: ${stream}: ${e.code}: ${e.message}\n`);
    return 1;
  } finally {
    process.off("SIGINT", stop);
    client.close();
  }
}

async function streams(url: string, flags: Flags): Promise<number> {
  const headers: Record<string, string> = {};
  if (typeof flags.token === "string") headers.authorization = `Bearer ${flags.token}`;
  if (typeof flags["api-key"] === "string") headers["x-api-key"] = flags["api-key"];
  let response: Response;
  try {
    response = await fetch(new URL("/streams", url), { headers });
  } catch (error) {
    process.stderr.write(`sluice: ${url}: ${(error as Error).message}\n`);
    return 1;
  }
  const body = (await response.json().catch(() => undefined)) as { streams?: { name: string; source: string; params: string[]; live: boolean; publish?: boolean }[]; error?: string } | undefined;
  if (!response.ok || !body?.streams) {
    process.stderr.write(`sluice: ${url} answered ${response.status}${body?.error ? `: ${body.error}` : " (not a server that lists its streams: GET /streams)"}\n`);
    return 1;
  }
  for (const s of body.streams) process.stdout.write(`${s.name}\t${s.source}${s.live ? ", live" : ""}${s.publish ? ", takes publishing" : ""}\tparams: ${s.params.length > 0 ? s.params.join(", ") : "none"}\n`);
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { params: { type: "string" }, from: { type: "string" }, raw: { type: "boolean" }, priority: { type: "string" }, "publisher-id": { type: "string" }, count: { type: "string" }, transport: { type: "string" }, http: { type: "string" }, json: { type: "boolean" }, token: { type: "string" }, "api-key": { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  } catch (error) {
    process.stderr.write(`sluice: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [command, url, stream, value] = parsed.positionals;
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === "tail" && url && stream) return tail(url, stream, parsed.values);
  if (command === "publish" && url && stream) return publish(url, stream, value, parsed.values);
  if (command === "streams" && url) return streams(url, parsed.values);
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
