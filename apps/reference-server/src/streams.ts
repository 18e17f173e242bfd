/**
 * Turns the configured streams into SluiceServer stream definitions:
 * generator, JSON Lines file (with a server-side filter) and in-memory topic
 * (optionally fed by a demo publisher).
 */
import { resolve } from "node:path";
import type { JsonObject, Limits } from "@sluice/core";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { SluiceError, Topic, fromJsonLines, indexCursor, invalidParam, readSeqCursor, type PublishDefinition, type StreamDefinition, type TopicEngine } from "@sluice/server";
import { NatsTopic } from "@sluice/topic-nats";
import pg from "pg";
import { deadLetterStreamOf, throttleOptions, type Config, type StreamConfig } from "./config.js";
import { itemValidator } from "./item-validator.js";
import { postgresSink, type PostgresSink } from "./postgres-sink.js";
import { postgresSource } from "./postgres-source.js";
import { checkReadable, openFile } from "./shipped-files.js";

/** What GET /streams tells about a stream: enough to subscribe to it. */
export interface StreamDescription {
  readonly name: string;
  readonly source: "generator" | "jsonl" | "topic" | "postgres";
  /** The params it takes (any other is refused). */
  readonly params: readonly string[];
  readonly contentType: string;
  /** Whether it ends (a finite generator, a file, a query) or runs until cancelled (a topic, an endless generator). */
  readonly live: boolean;
  /** Whether clients may publish into it. */
  readonly publish: boolean;
  /** Where its refused items go (streams that take publishing). */
  readonly deadLetterStream?: string;
  /** A topic's retained seqs at the time of the answer: the oldest, and the one the next item gets. */
  readonly history?: { readonly oldestSeq: number; readonly nextSeq: number };
}

/** The configured streams, described (GET /streams, `sluice streams URL`). */
export function describeStreams(config: Config): StreamDescription[] {
  return Object.entries(config.streams).map(([name, stream]) => {
    const source = stream.source;
    const params = source.type === "generator" ? ["count"] : source.type === "jsonl" ? (source.filter ? [source.filter.param] : []) : source.type === "postgres" ? Object.keys(source.params) : [];
    const live = source.type === "topic" || (source.type === "generator" && source.count === 0);
    return { name, source: source.type, params, contentType: stream.contentType ?? "application/json", live, publish: stream.publish !== undefined, ...(stream.publish ? { deadLetterStream: deadLetterStreamOf(name, stream.publish) } : {}) };
  });
}

export interface BuiltStreams {
  readonly streams: Record<string, StreamDefinition<JsonObject>>;
  readonly topics: ReadonlyMap<string, TopicEngine>;
  /** The PostgreSQL sinks of streams that publish into a table, by stream. */
  readonly sinks: ReadonlyMap<string, PostgresSink>;
  /** The NATS connection of `topics.engine: nats` (the server's Control relay uses it too); stop() drains it. */
  readonly nats: NatsConnection | undefined;
  /** Whether every external dependency answers (for /readyz). */
  ready(): Promise<{ ok: boolean; problems: string[] }>;
  /** Stops the demo publishers and closes database pools. */
  stop(): Promise<void>;
}

/** The NATS connection of the `nats` topic engine: reconnects for as long as the process runs. */
async function connectNats(config: Config): Promise<NatsConnection> {
  const servers = config.nats.servers ?? process.env.SLUICE_NATS_URL ?? "127.0.0.1:4222";
  try {
    return await connect({ servers, name: "sluice-server", maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  } catch (error) {
    throw new SluiceError("unavailable", `nats: cannot connect to ${[servers].flat().join(", ")} (topics.engine is nats): ${(error as Error).message}`, { cause: error });
  }
}

/** Hooks of the built streams into the server's metrics. */
export interface StreamHooks {
  /** A NATS topic's publish took `ms` from send to PubAck. */
  readonly onNatsPublish?: (topic: string, ms: number) => void;
}

export async function buildStreams(config: Config, baseDir: string, hooks: StreamHooks = {}): Promise<BuiltStreams> {
  const streams: Record<string, StreamDefinition<JsonObject>> = {};
  const timers: ReturnType<typeof setInterval>[] = [];
  const topics = new Map<string, TopicEngine>();
  const nats = config.topics.engine === "nats" ? await connectNats(config) : undefined;
  const pools = new Map<string, pg.Pool>();
  /** JSON Lines files by stream, for /readyz. */
  const files = new Map<string, string>();
  const sinks = new Map<string, PostgresSink>();
  /** One pool per database URL, for sources and sinks alike. */
  const poolOf = (configured: string | undefined): pg.Pool => {
    const url = configured ?? process.env.SLUICE_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
    let pool = pools.get(url);
    if (!pool) {
      pool = new pg.Pool({ connectionString: url, max: 10 });
      // An idle client's error (server restart) must not crash the process.
      pool.on("error", () => undefined);
      pools.set(url, pool);
    }
    return pool;
  };
  for (const [name, stream] of Object.entries(config.streams)) {
    const common = {
      ...(stream.contentType ? { contentType: stream.contentType } : {}),
      ...(stream.chunk ? { chunk: stream.chunk } : {}),
      ...(stream.yieldTimeoutMs !== undefined ? { yieldTimeoutMs: stream.yieldTimeoutMs } : {}),
      ...(stream.stallTimeoutMs !== undefined ? { stallTimeoutMs: stream.stallTimeoutMs } : {}),
      ...(stream.window?.default ? { defaultWindow: stream.window.default } : {}),
      ...(streamLimits(stream) ? { limits: streamLimits(stream) } : {}),
    };
    const source = stream.source;
    switch (source.type) {
      case "generator":
        streams[name] = { ...common, ...generator(source) };
        break;
      case "jsonl":
        streams[name] = { ...common, ...jsonLines(source, baseDir) };
        files.set(name, resolve(baseDir, source.path));
        break;
      case "postgres":
        streams[name] = { ...common, ...postgresSource({ pool: poolOf(source.url), query: source.query, params: source.params, key: source.key, pageSize: source.pageSize, stream: name }) };
        break;
      case "topic": {
        const settings = {
          historyItems: source.historyItems,
          ...(source.historyBytes !== undefined ? { historyBytes: source.historyBytes } : {}),
          ...(source.historyMaxAgeMs !== undefined ? { historyMaxAgeMs: source.historyMaxAgeMs } : {}),
          subscriberQueueItems: source.queueItems,
          overflow: source.overflow,
          resumeExpired: source.resumeExpired,
        };
        let topic: TopicEngine;
        try {
          topic = nats
            ? await NatsTopic.open(name, { ...settings, connection: nats, stream: `${config.nats.streamPrefix}${name.replace(/[^A-Za-z0-9_-]/g, "_")}`, storage: config.nats.storage, dedupeWindowMs: config.nats.dedupeWindowMs, ...(hooks.onNatsPublish ? { onPublishLatency: (ms: number) => hooks.onNatsPublish!(name, ms) } : {}) })
            : new Topic(name, settings);
        } catch (error) {
          await nats?.close();
          throw error;
        }
        streams[name] = { ...common, topic, params: (params) => (refuseUnknownParams(params, []), params) };
        topics.set(name, topic);
        if (source.demoPublisherPerSecond > 0) timers.push(demoPublisher(topic, source.demoPublisherPerSecond));
        break;
      }
    }
  }
  // Publishing, on any stream: into its topic, or into its sink.
  for (const [name, stream] of Object.entries(config.streams)) {
    if (!stream.publish) continue;
    const sinkConfig = stream.publish.sink;
    let sink: PostgresSink | undefined;
    if (sinkConfig) {
      const { type: _type, url, ...table } = sinkConfig;
      sink = postgresSink({ pool: poolOf(url), stream: name, ...table });
      sinks.set(name, sink);
    }
    streams[name] = { ...streams[name]!, publish: { ...publishDefinition(name, stream.publish, baseDir), ...(sink ? { sink } : {}) } };
  }
  return {
    streams,
    topics,
    sinks,
    nats,
    async ready() {
      const problems: string[] = [];
      for (const [stream, file] of files) {
        try {
          await checkReadable(file);
        } catch (error) {
          problems.push(`stream ${stream}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
        }
      }
      if (nats) {
        // A round trip to the server: a connection that is reconnecting does not answer in time.
        const answered = await Promise.race([nats.flush().then(() => true, () => false), new Promise<boolean>((resolve) => setTimeout(resolve, 1_000, false).unref())]);
        if (!answered) problems.push(`nats ${nats.getServer()}: not connected (${nats.isClosed() ? "closed" : "reconnecting"})`);
      }
      for (const [url, pool] of pools) {
        try {
          await pool.query("select 1");
        } catch (error) {
          problems.push(`postgres ${new URL(url).host}: ${(error as Error).message}`);
        }
      }
      return { ok: problems.length === 0, problems };
    },
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await Promise.all([...pools.values()].map((pool) => pool.end()));
      await nats?.drain().catch(() => undefined);
    },
  };
}

/** A stream's publish settings as the server takes them. */
function publishDefinition(name: string, publish: NonNullable<StreamConfig["publish"]>, baseDir: string): PublishDefinition {
  return {
    deadLetterStream: deadLetterStreamOf(name, publish),
    ...(publish.window ? { window: publish.window } : {}),
    ...(publish.throttle ? { throttle: { ...throttleOptions(publish.throttle), ...(publish.throttle.consumers ? { consumers: publish.throttle.consumers } : {}) } } : {}),
    ...(publish.maxItemBytes !== undefined ? { maxItemBytes: publish.maxItemBytes } : {}),
    ...(publish.validate ? { validate: itemValidator(publish.validate, baseDir) } : {}),
    ...(publish.retries ? { retries: publish.retries } : {}),
    ...(publish.queue ? { queue: publish.queue } : {}),
    ...(publish.route ? { route: publish.route } : {}),
  };
}

type GeneratorConfig = Extract<StreamConfig["source"], { type: "generator" }>;

/** Refuses any param but `allowed`, naming it: a misspelled param must not be ignored silently. */
function refuseUnknownParams(params: JsonObject, allowed: readonly string[]): void {
  for (const name of Object.keys(params)) {
    if (!allowed.includes(name)) throw invalidParam(name, allowed.length > 0 ? `unknown parameter (this stream takes ${allowed.join(", ")})` : "unknown parameter (this stream takes none)");
  }
}

/**
 * Items {"seq":n,"at":ms,"pad":"..."} of the configured size, at the
 * configured rate. The cursor is the seq itself, so a resume needs no
 * re-reading, and one beyond a finite stream's end is refused.
 */
function generator(source: GeneratorConfig): Pick<StreamDefinition<JsonObject>, "source" | "params"> {
  return {
    params: (params) => {
      refuseUnknownParams(params, ["count"]);
      const count = params.count ?? source.count;
      if (typeof count !== "number" || !Number.isInteger(count) || count < 0) throw invalidParam("count", `must be a non-negative integer, got ${JSON.stringify(count)}`);
      if (source.count > 0 && count > source.count) throw invalidParam("count", `at most ${source.count} for this stream, got ${count}`);
      return { count };
    },
    source: {
      cursorAfter: (_params, seq) => indexCursor(seq),
      length: (params) => ((params as { count: number }).count > 0 ? (params as { count: number }).count : undefined),
      open(params, cursor, { signal, cursorSeq }) {
        // The cursor is checked now: a bad one refuses the Open (PROTOCOL.md §7.6).
        const first = readSeqCursor(cursor, cursorSeq) + 1;
        return items((params as { count: number }).count, first, signal);
      },
    },
  };

  async function* items(count: number, first: number, signal: AbortSignal) {
    const encoder = new TextEncoder();
    const interval = source.ratePerSecond > 0 ? 1000 / source.ratePerSecond : 0;
    let next = performance.now();
    for (let seq = first; count === 0 || seq <= count; seq++) {
      if (interval > 0) {
        next += interval;
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait, signal);
      }
      const head = `{"seq":${seq},"at":${Date.now()},"pad":"`;
      const padding = Math.max(0, source.itemBytes - head.length - 2);
      yield { data: encoder.encode(`${head}${"x".repeat(padding)}"}`), cursor: indexCursor(seq) };
    }
  }
}

type JsonLinesConfig = Extract<StreamConfig["source"], { type: "jsonl" }>;

function jsonLines(source: JsonLinesConfig, baseDir: string): Pick<StreamDefinition<JsonObject>, "source" | "params"> {
  const path = resolve(baseDir, source.path);
  const filter = source.filter;
  return {
    params: (params) => {
      refuseUnknownParams(params, filter ? [filter.param] : []);
      if (filter && params[filter.param] !== undefined && typeof params[filter.param] !== "string" && typeof params[filter.param] !== "number") {
        throw invalidParam(filter.param, `must be a string or number, got ${JSON.stringify(params[filter.param])}`);
      }
      return params;
    },
    source: fromJsonLines<JsonObject>({
      open: (_params, start) => openFile(path, start),
      ...(filter
        ? {
            filter: (record, params) => params[filter.param] === undefined || (record as Record<string, unknown>)[filter.field] === params[filter.param],
          }
        : {}),
    }),
  };
}

function demoPublisher(topic: TopicEngine, perSecond: number): ReturnType<typeof setInterval> {
  const encoder = new TextEncoder();
  const headlines = ["markets calm", "storm warning lifted", "new bridge opens", "team wins final", "rates unchanged", "comet sighted"];
  let n = 0;
  const timer = setInterval(() => {
    n++;
    // A NATS topic that is reconnecting refuses the publish: a demo event is skipped, not a crash.
    void Promise.resolve(topic.publish(encoder.encode(JSON.stringify({ n, at: new Date().toISOString(), headline: headlines[n % headlines.length] })))).catch(() => undefined);
  }, 1000 / perSecond);
  timer.unref();
  return timer;
}

/** Waits `ms`, or less when `signal` aborts; the abort listener goes with the wait (one per item would pile up). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** A stream's own limits (max window, heartbeat, item size), or undefined when it sets none. */
function streamLimits(stream: StreamConfig): Partial<Limits> | undefined {
  const limits: { -readonly [K in keyof Limits]?: Limits[K] } = {};
  if (stream.window?.max?.items !== undefined) limits.maxWindowItems = stream.window.max.items;
  if (stream.window?.max?.bytes !== undefined) limits.maxWindowBytes = stream.window.max.bytes;
  if (stream.heartbeat) {
    limits.heartbeatIntervalMs = stream.heartbeat.intervalMs;
    limits.heartbeatTimeoutMs = stream.heartbeat.timeoutMs;
  }
  if (stream.maxItemBytes !== undefined) limits.maxItemBytes = stream.maxItemBytes;
  return Object.keys(limits).length > 0 ? limits : undefined;
}
