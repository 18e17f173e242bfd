/**
 * `sluice-server dlq replay STREAM`: publishes the dead letters a running
 * server holds in a dead-letter stream back into the streams they were
 * refused from, after a fix (a schema relaxed, a sink repaired). It reads
 * the dead-letter topic from its oldest retained record (or --from) up to
 * the newest one at the start, so what it dead-letters again (as new
 * records after that) is not replayed in a loop; each record's exact bytes
 * (`data`) are published again under a new publisher id.
 */
import { bytes, createSluiceClient, PublishError, SluiceError, type NodeClientOptions, type SluicePublisher } from "@sluice/client-node";
import type { DeadLetterRecord } from "@sluice/server";

/** What a replay is asked to do. */
export interface ReplayOptions {
  /** The running server (http://host:port). */
  readonly url: string;
  /** The dead-letter stream to replay. */
  readonly stream: string;
  /** The first dead-letter seq to replay (default: the oldest retained). */
  readonly from?: number;
  /** Credentials and transport for the calls. */
  readonly client?: Omit<NodeClientOptions, "baseUrl">;
  /** Progress and outcome lines. */
  readonly report: (line: string) => void;
}

/** What a replay did. */
export interface ReplayResult {
  /** Records read from the dead-letter stream. */
  readonly replayed: number;
  /** Of them, accepted by their stream this time. */
  readonly accepted: number;
  /** Of them, refused again (they are new dead letters now). */
  readonly deadLetteredAgain: number;
  /** The dead-letter seqs replayed (undefined: there was nothing to replay). */
  readonly seqs?: { readonly first: number; readonly last: number };
}

/** Replays a dead-letter stream; throws a SluiceError when it cannot start or a publish fails for another reason than a new dead letter. */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplayResult> {
  const { url, stream, report } = options;
  const history = await historyOf(url, stream, options.client);
  const last = history.nextSeq - 1;
  const first = Math.max(options.from ?? history.oldestSeq, history.oldestSeq);
  if (options.from !== undefined && options.from < history.oldestSeq) report(`${stream}: seqs ${options.from}-${history.oldestSeq - 1} are no longer retained; starting at ${history.oldestSeq}`);
  if (first > last) {
    report(`${stream}: nothing to replay (${history.nextSeq > history.oldestSeq ? `it holds seqs ${history.oldestSeq}-${last}` : "it is empty"})`);
    return { replayed: 0, accepted: 0, deadLetteredAgain: 0 };
  }
  const client = createSluiceClient({ ...options.client, baseUrl: url });
  const publishers = new Map<string, SluicePublisher<Uint8Array>>();
  const sends: Promise<void>[] = [];
  let replayed = 0;
  let accepted = 0;
  let deadLetteredAgain = 0;
  try {
    for await (const event of client.subscribe<DeadLetterRecord>(stream, { startAfter: { seq: first - 1 } })) {
      if (event.kind === "gap") {
        report(`${stream}: seqs ${event.fromSeq}-${event.fromSeq + event.count - 1} were lost before they could be replayed (${event.reason})`);
        if (event.fromSeq + event.count - 1 >= last) break;
        continue;
      }
      const record = event.value;
      if (typeof record.stream !== "string" || typeof record.data !== "string") throw new SluiceError("invalid_argument", `${stream} seq ${event.seq}: not a dead-letter record (no stream or data)`);
      let publisher = publishers.get(record.stream);
      if (!publisher) publishers.set(record.stream, (publisher = client.publish(record.stream, { codec: bytes() })));
      replayed++;
      const seq = event.seq;
      sends.push(
        publisher.send(Buffer.from(record.data, "base64")).then(
          () => void accepted++,
          (error: unknown) => {
            if (!(error instanceof PublishError && error.failure === "dead_lettered")) throw error;
            deadLetteredAgain++;
            report(`${stream} seq ${seq} (${record.stream}, publisher ${record.publisherId} seq ${record.seq}): dead-lettered again: ${error.message.replace(/^dead-lettered: /, "")}`);
          },
        ),
      );
      if (seq >= last) break;
    }
    await Promise.all(sends);
    await Promise.all([...publishers.values()].map((publisher) => publisher.close()));
  } finally {
    client.close();
  }
  report(`${stream}: replayed ${replayed} dead letters (seqs ${first}-${last}): ${accepted} accepted, ${deadLetteredAgain} dead-lettered again; to go on from here next time: --from ${last + 1}`);
  return { replayed, accepted, deadLetteredAgain, seqs: { first, last } };
}

/** The dead-letter topic's retained seqs, from the server's GET /streams. */
async function historyOf(url: string, stream: string, client: ReplayOptions["client"]): Promise<{ oldestSeq: number; nextSeq: number }> {
  const headers: Record<string, string> = {};
  if (client?.token !== undefined) headers.authorization = `Bearer ${typeof client.token === "string" ? client.token : await client.token()}`;
  if (client?.apiKey !== undefined) headers["x-api-key"] = client.apiKey;
  let response: Response;
  try {
    response = await fetch(new URL("/streams", url), { headers });
  } catch (error) {
    throw new SluiceError("unavailable", `cannot reach ${url}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`);
  }
  if (response.status === 401) throw new SluiceError("unauthenticated", `${url}: credentials are required (--token or --api-key)`);
  if (!response.ok) throw new SluiceError("unavailable", `${url}/streams answered ${response.status}`);
  const { streams } = (await response.json()) as { streams: { name: string; history?: { oldestSeq: number; nextSeq: number } }[] };
  const found = streams.find((candidate) => candidate.name === stream);
  if (!found) throw new SluiceError("stream_not_found", `${url} has no stream ${stream} that these credentials may read (it has ${streams.map((candidate) => candidate.name).join(", ") || "none"})`);
  if (!found.history) throw new SluiceError("invalid_argument", `${stream} is not a topic: it has no history of dead letters to replay`);
  return found.history;
}
