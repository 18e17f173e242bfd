/**
 * The reference server's configuration: a YAML or JSON file, then
 * SLUICE_* environment overrides, validated before anything starts. Every
 * error names its path ("streams.books.source.path: required").
 */
import { dirname, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { DEFAULT_LAG_THROTTLE, DEFAULT_LIMITS, LagThrottle, heartbeatProblem, type LagThrottleOptions, itemSizeProblem, limitsProblem, MIN_HEARTBEAT_INTERVAL_MS, windowProblem, type Limits } from "@sluice/core";
import { SubjectRouter, type SluiceError } from "@sluice/server";
import { itemValidator } from "./item-validator.js";
import { compileQuery, POSTGRES_IDENTIFIER } from "./postgres-source.js";
import { checkReadableSync, packageRoot, readFile } from "./shipped-files.js";

/** Whole numbers (every number in the config but a backoff factor): a value of another type is told as "expected an integer, got …". */
const integer = z.number({ error: (issue) => (issue.code === "invalid_type" && issue.input !== undefined ? `expected an integer, got ${describeValue(issue.input)}` : undefined) }).int();
const positiveInt = integer.positive();
const nonNegativeInt = integer.nonnegative();
/** A whole number whose bounds are a protocol rule: core checks them (limitsProblem, windowProblem), this file does not restate them. */
const int = integer;

const chunkSchema = z.strictObject({
  maxBytes: positiveInt.optional(),
  maxItems: positiveInt.optional(),
  flushDelayMs: nonNegativeInt.optional(),
});

const generatorSource = z.strictObject({
  type: z.literal("generator"),
  /** Items per second (0: as fast as credit allows). */
  ratePerSecond: nonNegativeInt.default(100),
  /** Bytes per item (JSON padded to this size); at most the stream's max item size. */
  itemBytes: positiveInt.default(64),
  /** Items in total (0: endless). Clients may ask for fewer with params.count. */
  count: nonNegativeInt.default(0),
});

const jsonLinesSource = z.strictObject({
  type: z.literal("jsonl"),
  /** The file, relative to the config file. */
  path: z.string().min(1),
  /**
   * Server-side filter: rows whose `field` equals the client's param `param`
   * (a client without the param gets every row).
   */
  filter: z.strictObject({ field: z.string().min(1), param: z.string().min(1) }).optional(),
});

const topicSource = z.strictObject({
  type: z.literal("topic"),
  historyItems: nonNegativeInt.default(10_000),
  /** Payload bytes kept for resume, and how long an item stays (omitted: unbounded; the item count bounds the history). */
  historyBytes: positiveInt.optional(),
  historyMaxAgeMs: positiveInt.optional(),
  queueItems: positiveInt.default(1_000),
  overflow: z.enum(["drop_oldest", "drop_newest", "disconnect"]).default("drop_oldest"),
  /**
   * A resume older than the history: "fail" with resume_position_lost, or
   * "gap": continue from the oldest retained item, the lost seqs reported as a
   * history_expired gap (PROTOCOL.md §7.6).
   */
  resumeExpired: z.enum(["fail", "gap"]).default("fail"),
  /** A built-in publisher of demo events (0: none). */
  demoPublisherPerSecond: nonNegativeInt.default(0),
});

const postgresSource = z.strictObject({
  type: z.literal("postgres"),
  /** Default: $SLUICE_PG_URL, else postgres://postgres@127.0.0.1:5432/test. */
  url: z.string().optional(),
  /** A SELECT with :name placeholders for the declared params. */
  query: z.string().min(1).regex(/^\s*(select|with)\b/i, "must be a SELECT (or WITH ... SELECT) statement"),
  /** Parameters clients may pass, with their types. */
  params: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "parameter names are identifiers"), z.strictObject({ type: z.enum(["string", "integer", "number", "boolean"]), required: z.boolean().default(false) })).default({}),
  /** A unique, orderable column of the result: the keyset and the resume cursor. */
  key: z.string().regex(POSTGRES_IDENTIFIER, "must be a column name"),
  pageSize: positiveInt.max(100_000).default(1_000),
});

/** "*" (any authenticated caller) or claims that must all match (a list: any of its values). */
const allowRule = z.union([z.literal("*"), z.record(z.string(), z.union([z.string(), z.array(z.string()).min(1)]))]);

const authSchema = z
  .strictObject({
    jwt: z
      .strictObject({
        hs256Secret: z.string().min(32, "use at least 32 characters").optional(),
        hs256SecretEnv: z.string().optional(),
        /** PEM (SPKI) public key, relative to the config file. */
        publicKeyFile: z.string().optional(),
        algorithm: z.enum(["RS256", "ES256"]).default("RS256"),
        /** A JWKS document ({"keys": [...]}), relative to the config file. */
        jwksFile: z.string().optional(),
        issuer: z.string().optional(),
        audience: z.string().optional(),
        /** The claim naming the principal. */
        principalClaim: z.string().default("sub"),
      })
      .refine((j) => [j.hs256Secret ?? j.hs256SecretEnv, j.publicKeyFile, j.jwksFile].filter(Boolean).length === 1, "set exactly one of hs256Secret / hs256SecretEnv, publicKeyFile, jwksFile")
      .optional(),
    apiKeys: z
      .array(
        z
          .strictObject({ key: z.string().min(16, "use at least 16 characters").optional(), keyEnv: z.string().optional(), principal: z.string().min(1), claims: z.record(z.string(), z.union([z.string(), z.array(z.string())])).default({}) })
          .refine((k) => (k.key === undefined) !== (k.keyEnv === undefined), "set exactly one of key, keyEnv"),
      )
      .optional(),
  })
  .refine((a) => a.jwt !== undefined || (a.apiKeys?.length ?? 0) > 0, "configure jwt, apiKeys or both");

const windowSize = z.strictObject({ items: int, bytes: int }).superRefine((window, context) => {
  const problem = windowProblem(window);
  if (problem) context.addIssue({ code: "custom", path: [problem.field], message: problem.reason });
});

/** A stream's window: the default for clients that ask for none, and the most any client gets. */
const windowSchema = z
  .strictObject({ default: windowSize.optional(), max: z.strictObject({ items: int.optional(), bytes: int.optional() }).optional() })
  .superRefine((w, context) => {
    for (const dimension of ["items", "bytes"] as const) {
      const max = w.max?.[dimension];
      if (w.default && max !== undefined && w.default[dimension] > max) {
        context.addIssue({ code: "custom", path: ["default", dimension], message: `${w.default[dimension]} is above max.${dimension} ${max}` });
      }
    }
  });

const heartbeatSchema = z
  .strictObject({ intervalMs: positiveInt.min(MIN_HEARTBEAT_INTERVAL_MS, `at least ${MIN_HEARTBEAT_INTERVAL_MS} ms`), timeoutMs: int })
  .superRefine((h, context) => {
    const problem = heartbeatProblem(h.intervalMs, h.timeoutMs);
    if (problem) context.addIssue({ code: "custom", path: ["timeoutMs"], message: problem });
  });

const streamName = z.string().regex(/^[A-Za-z0-9_.-]{1,256}$/, "stream names are 1-256 of A-Z a-z 0-9 _ . -");

/** Publishing into a stream (PROTOCOL.md §3.4): who may, the window each publisher gets, the checks and the dead letters. */
const publishSchema = z.strictObject({
  /** Who may publish once `auth` is configured (deny by default; separate from who may subscribe). */
  allow: z.array(allowRule).optional(),
  /** What one publisher may have sent and not yet acked, in items and payload bytes. */
  window: z.strictObject({ items: positiveInt, bytes: positiveInt }).optional(),
  /** Lag-based throttling of the stream's publishers (core's LagThrottle; its defaults for what is left out). */
  throttle: z
    .strictObject({
      targetLag: nonNegativeInt.optional(),
      criticalLag: positiveInt.optional(),
      delayMs: nonNegativeInt.optional(),
      backoff: z.strictObject({ initialMs: positiveInt.optional(), factor: z.number().min(1).optional(), maxMs: positiveInt.optional() }).optional(),
      recoveryCycles: positiveInt.optional(),
      minRatePerSecond: nonNegativeInt.optional(),
      maxRatePerSecond: positiveInt.optional(),
      /** Only subscribers authorized as these principals count toward the consumer lag (needs auth); default: all. */
      consumers: z.array(z.string().min(1)).min(1).optional(),
    })
    .optional(),
  /** Items larger than this (bytes) are dead-lettered instead of published. */
  maxItemBytes: positiveInt.optional(),
  /** A check of every item before it is published; items that fail it are dead-lettered with the reason. */
  validate: z
    .union([
      /** A JSON Schema file (draft 2020-12 or 07), relative to the config file. */
      z.strictObject({ jsonSchema: z.string().min(1) }),
      /** A protobuf message type, from a FileDescriptorSet file (`buf build -o set.binpb`), relative to the config file. */
      z.strictObject({ protobuf: z.strictObject({ descriptorSet: z.string().min(1), message: z.string().min(1) }) }),
    ])
    .optional(),
  /**
   * The dead-letter stream: a topic (created unless configured) that gets
   * every refused item as a JSON record; subscribers need `allow` like any
   * stream once auth is on.
   */
  deadLetters: z
    .strictObject({
      /** Default: the stream's name + ".dlq". */
      stream: streamName.optional(),
      /** How many dead letters it keeps (a created topic's history). */
      historyItems: positiveInt.default(10_000),
      /** Who may subscribe to it once auth is configured (deny by default). */
      allow: z.array(allowRule).optional(),
    })
    .prefault({}),
  /**
   * Where published items go instead of the stream's topic: a PostgreSQL
   * table, one INSERT per batch, idempotent on (publisher id, seq) through
   * the table's unique key.
   */
  sink: z
    .strictObject({
      type: z.literal("postgres"),
      /** Default: SLUICE_PG_URL, else postgres://postgres@127.0.0.1:5432/test. */
      url: z.string().optional(),
      /** `name` or `schema.name`. */
      table: z.string().min(1),
      publisherIdColumn: z.string().optional(),
      seqColumn: z.string().optional(),
      /** The item as it came (json/jsonb: the JSON; text; bytea: the bytes). */
      dataColumn: z.string().optional(),
      /** For a table that several streams write into: the stream's name, part of the unique key. */
      streamColumn: z.string().optional(),
      /** Table column <- top-level field of the JSON item. */
      columns: z.record(z.string(), z.string().min(1)).optional(),
    })
    .optional(),
  /** Retries of a failing sink write (exponential backoff, full jitter) before the publish session fails. */
  retries: z.strictObject({ attempts: nonNegativeInt.optional(), initialMs: positiveInt.optional(), maxMs: positiveInt.optional() }).optional(),
  /**
   * The ingest queue in front of the sink, shared by the stream's publishers:
   * at most `concurrency` batches in the sink at once, the rest waiting by
   * priority (weighted 8:4:2:1); `capacity` batches, then `overflow`.
   */
  /**
   * Which subject of the topic each published item goes to (PROTOCOL.md
   * §7.10), in this order: `map` (a field's value → subject), `rules`
   * (content rules, first match wins), `template` (`sensors.{site}.{kind}`),
   * `fallback`. An item nothing routes is dead-lettered.
   */
  route: z
    .strictObject({
      map: z.strictObject({ field: z.string().min(1), subjects: z.record(z.string(), z.string()) }).optional(),
      rules: z
        .array(
          z.strictObject({
            field: z.string().min(1),
            op: z.enum(["==", "!=", "in", "<", "<=", ">", ">="]),
            value: z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.union([z.string(), z.number(), z.boolean(), z.null()]))]),
            subject: z.string().min(1),
          }),
        )
        .optional(),
      template: z.string().min(1).optional(),
      fallback: z.string().min(1).optional(),
    })
    .optional(),
  queue: z
    .strictObject({
      concurrency: positiveInt.optional(),
      capacity: positiveInt.optional(),
      overflow: z.enum(["block", "drop_newest", "drop_oldest", "error"]).optional(),
      weights: z.tuple([positiveInt, positiveInt, positiveInt, positiveInt]).optional(),
    })
    .optional(),
});

const streamSchema = z.strictObject({
  /** Who may subscribe once `auth` is configured (deny by default). */
  allow: z.array(allowRule).optional(),
  /** Set to let clients publish into the stream (topic streams). */
  publish: publishSchema.optional(),
  source: z.discriminatedUnion("type", [generatorSource, jsonLinesSource, topicSource, postgresSource]),
  contentType: z.string().optional(),
  chunk: chunkSchema.optional(),
  yieldTimeoutMs: nonNegativeInt.optional(),
  stallTimeoutMs: nonNegativeInt.optional(),
  /** Default and max window for this stream (PROTOCOL.md §4.1). */
  window: windowSchema.optional(),
  /** Heartbeats for this stream's sessions (idle ping interval, silence timeout). */
  heartbeat: heartbeatSchema.optional(),
  /** Largest item this stream may send (larger fails the session with limit_exceeded). */
  maxItemBytes: int.optional(),
});

const serverSchema = z
  .strictObject({
    host: z.string().default("127.0.0.1"),
    port: integer.min(0).max(65_535).default(8080),
    websocketPath: z.string().startsWith("/").default("/connect"),
    /** On SIGTERM: how long open sessions get to move elsewhere before the process exits. */
    shutdownGraceMs: nonNegativeInt.default(10_000),
    /** Browser origins allowed cross-origin ("https://app.example.com", or "*"). */
    corsOrigins: z.array(z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, "an origin like https://app.example.com, or *")).default([]),
    /**
     * Connections that do not get going are closed: TLS handshake, HTTP/2
     * preface or first HTTP/1.1 bytes within prefaceMs; HTTP/1.1 headers
     * within headersMs, the body within requestMs; no bytes either way
     * for idleMs (0: never).
     */
    timeouts: z
      .strictObject({
        prefaceMs: positiveInt.default(10_000),
        headersMs: positiveInt.default(10_000),
        requestMs: positiveInt.default(30_000),
        idleMs: nonNegativeInt.default(120_000),
      })
      .refine((t) => t.requestMs >= t.headersMs, { path: ["requestMs"], message: "must be at least headersMs" })
      .prefault({}),
    /** Serve https:/wss: (HTTP/2 by ALPN) with this certificate chain and key, PEM files relative to the config file. */
    tls: z
      .strictObject({
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
        /** The environment variable holding the key's passphrase, if it is encrypted. */
        keyPassphraseEnv: z.string().optional(),
      })
      .optional(),
  })
  .prefault({});

const limitsSchema = z
  .strictObject({
    maxFrameBytes: int.optional(),
    maxItemBytes: int.optional(),
    maxWindowItems: int.optional(),
    maxWindowBytes: int.optional(),
    heartbeatIntervalMs: int.optional(),
    heartbeatTimeoutMs: int.optional(),
    /** Connections open at once; more get "503 too many connections". */
    maxConnections: positiveInt.optional(),
    /** Concurrent calls per connection (HTTP/2 streams, WebSocket calls); more get resource_exhausted / REFUSED_STREAM. */
    maxStreamsPerConnection: positiveInt.optional(),
    /** Payload all sessions may hold unconsumed; above it new streams get resource_exhausted and sessions pause pulling. */
    maxBufferedBytes: positiveInt.optional(),
    /** The same, per connection. */
    maxConnectionBufferedBytes: positiveInt.optional(),
  })
  .prefault({});

/** Where topic streams keep their items: in this process (the default, nothing to install), or in NATS JetStream (shared by every instance, durable). */
const topicsSchema = z.strictObject({ engine: z.enum(["memory", "nats"]).default("memory") }).prefault({});

/** The NATS the `nats` topic engine uses. */
const natsSchema = z
  .strictObject({
    /** Default: $SLUICE_NATS_URL, else 127.0.0.1:4222. */
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** Where JetStream keeps the topics' items: file (survives a NATS restart) or memory. */
    storage: z.enum(["file", "memory"]).default("file"),
    /** The JetStream stream of topic T is this prefix and T with every character outside A-Z a-z 0-9 _ - as "_". */
    streamPrefix: z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and - only").default("SLUICE_"),
    /** How long a publish's Nats-Msg-Id is remembered (the duplicate window), in milliseconds. */
    dedupeWindowMs: positiveInt.default(120_000),
  })
  .prefault({});

const configSchema = z.strictObject({
  server: serverSchema,
  limits: limitsSchema,
  topics: topicsSchema,
  nats: natsSchema,
  chunk: chunkSchema.optional(),
  auth: authSchema.optional(),
  streams: z
    .record(streamName, streamSchema)
    .refine((streams) => Object.keys(streams).length > 0, "configure at least one stream: a server without streams serves nothing"),
});

type Issue = { path: (string | number)[]; message: string };

/**
 * The checks across fields, by core's rules: the limits every session runs
 * under, each stream's over them (a heartbeat timeout at or below the
 * interval would end every session, an empty window would stall it), what
 * a source would refuse at start-up, and heartbeats against the idle
 * timeout. They run on every part of the document that is valid by itself,
 * so they are reported in the same pass as the schema's problems elsewhere
 * (zod runs an object's refinements only once all of it parses).
 */
function crossFieldIssues(document: unknown): Issue[] {
  const part = (key: string): unknown => (typeof document === "object" && document !== null ? (document as Record<string, unknown>)[key] : undefined);
  const server = serverSchema.safeParse(part("server"));
  const limits = limitsSchema.safeParse(part("limits"));
  const rawStreams = part("streams");
  const streams: [string, z.infer<typeof streamSchema>][] =
    typeof rawStreams === "object" && rawStreams !== null && !Array.isArray(rawStreams)
      ? Object.entries(rawStreams).flatMap(([name, raw]) => {
          const stream = streamSchema.safeParse(raw);
          return stream.success ? [[name, stream.data] as [string, z.infer<typeof streamSchema>]] : [];
        })
      : [];
  const issues: Issue[] = [];
  const serverLimits: Limits | undefined = limits.success ? { ...DEFAULT_LIMITS, ...definedLimits(limits.data) } : undefined;
  const serverProblem = serverLimits && limitsProblem(serverLimits);
  if (serverProblem) issues.push({ path: ["limits", serverProblem.field], message: serverProblem.reason });
  for (const [name, stream] of streams) {
    if (stream.publish && !stream.publish.sink && stream.source.type !== "topic") issues.push({ path: ["streams", name, "publish"], message: `only topic streams take publishing into their topic (this one's source is ${stream.source.type}); give it a publish.sink to publish elsewhere` });
    if (stream.publish) {
      const deadLetters = deadLetterStreamOf(name, stream.publish);
      const existing = streams.find(([other]) => other === deadLetters);
      if (existing && existing[1].source.type !== "topic") issues.push({ path: ["streams", name, "publish", "deadLetters", "stream"], message: `${deadLetters} is a ${existing[1].source.type} stream; dead letters need a topic stream (or a name that is not configured, and it is created)` });
      if (existing?.[1].publish) issues.push({ path: ["streams", name, "publish", "deadLetters", "stream"], message: `${deadLetters} takes publishing itself; a dead-letter stream takes only dead letters` });
      if (deadLetters === name) issues.push({ path: ["streams", name, "publish", "deadLetters", "stream"], message: "a stream cannot be its own dead-letter stream" });
    }
    const route = stream.publish?.route;
    if (route) {
      if (stream.source.type !== "topic" || stream.publish?.sink) issues.push({ path: ["streams", name, "publish", "route"], message: "routes items to subjects of the stream's topic: only a topic stream without a publish.sink routes" });
      else {
        // The server's own check, where it lives: a route that cannot work is refused here, naming the rule.
        try {
          new SubjectRouter(name, route, "route");
        } catch (error) {
          const field = (error as SluiceError).field ?? "route";
          issues.push({ path: ["streams", name, "publish", ...field.split(".")], message: (error as Error).message.slice(field.length + 2) });
        }
      }
    }
    const throttle = stream.publish?.throttle;
    if (throttle) {
      // core's rule, checked where it lives: the throttle refuses settings that cannot work.
      try {
        new LagThrottle(throttleOptions(throttle));
      } catch (error) {
        issues.push({ path: ["streams", name, "publish", "throttle"], message: (error as Error).message });
      }
    }
    if (stream.source.type === "postgres") {
      // What the source would refuse at start-up, found by validate: a placeholder that is not declared.
      try {
        compileQuery(stream.source.query, Object.keys(stream.source.params));
      } catch (error) {
        issues.push({ path: ["streams", name, "source", "query"], message: (error as Error).message });
      }
    }
    if (!serverLimits) continue;
    const own = streamLimitPaths(stream);
    const problem = limitsProblem({ ...serverLimits, ...Object.fromEntries(Object.entries(own).map(([field, [value]]) => [field, value])) });
    // A problem with a limit the stream does not set is the server's, reported above.
    const at = problem && own[problem.field];
    if (at) issues.push({ path: ["streams", name, ...at[1]], message: problem.reason });
    if (problem?.field === "maxItemBytes" || serverProblem?.field === "maxItemBytes") continue;
    const tooBig = stream.source.type === "generator" ? itemSizeProblem(stream.source.itemBytes, stream.maxItemBytes ?? serverLimits.maxItemBytes) : undefined;
    if (tooBig) issues.push({ path: ["streams", name, "source", "itemBytes"], message: `items of ${tooBig}` });
  }
  // A session pings every heartbeat interval; a connection quiet for longer
  // than the idle timeout would be closed under a healthy session.
  const idleMs = server.success ? server.data.timeouts.idleMs : 0;
  if (idleMs === 0 || !limits.success) return issues;
  const intervals: [string, number][] = [["limits.heartbeatIntervalMs", limits.data.heartbeatIntervalMs ?? DEFAULT_LIMITS.heartbeatIntervalMs]];
  for (const [name, stream] of streams) {
    if (stream.heartbeat) intervals.push([`streams.${name}.heartbeat.intervalMs`, stream.heartbeat.intervalMs]);
  }
  for (const [path, intervalMs] of intervals) {
    if (idleMs <= 2 * intervalMs) issues.push({ path: ["server", "timeouts", "idleMs"], message: `${idleMs} must exceed twice ${path} (${intervalMs}), or be 0` });
  }
  return issues;
}

export type Config = z.infer<typeof configSchema>;
export type StreamConfig = Config["streams"][string];

/** A stream's `publish.throttle` as core's LagThrottle options (only what is set; core fills the rest). */
export function throttleOptions(throttle: NonNullable<NonNullable<z.infer<typeof streamSchema>["publish"]>["throttle"]>): Partial<LagThrottleOptions> {
  // consumers is the server's (whose lag counts), not the throttle rule's.
  const { backoff, consumers: _consumers, ...rest } = throttle;
  const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return { ...defined(rest), ...(backoff ? { backoff: { ...DEFAULT_LAG_THROTTLE.backoff, ...defined(backoff) } } : {}) } as Partial<LagThrottleOptions>;
}

/** The session limits set in `limits` (the section also holds listen and budget keys). */
function definedLimits(limits: z.infer<typeof limitsSchema>): Partial<Limits> {
  const keys = ["maxFrameBytes", "maxItemBytes", "maxWindowItems", "maxWindowBytes", "heartbeatIntervalMs", "heartbeatTimeoutMs"] as const;
  return Object.fromEntries(keys.filter((key) => limits[key] !== undefined).map((key) => [key, limits[key]]));
}

/**
 * The size and window limits a stream sets itself, each with its value and
 * where it is set in the stream's section. (Its heartbeat sets both values
 * at once and is checked where it is declared, heartbeatSchema.)
 */
function streamLimitPaths(stream: z.infer<typeof streamSchema>): Partial<Record<keyof Limits, [number, string[]]>> {
  const own: Partial<Record<keyof Limits, [number, string[]]>> = {};
  if (stream.window?.max?.items !== undefined) own.maxWindowItems = [stream.window.max.items, ["window", "max", "items"]];
  if (stream.window?.max?.bytes !== undefined) own.maxWindowBytes = [stream.window.max.bytes, ["window", "max", "bytes"]];
  if (stream.maxItemBytes !== undefined) own.maxItemBytes = [stream.maxItemBytes, ["maxItemBytes"]];
  return own;
}

/** A configuration error: every problem, each as "path: reason". */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** The embedded defaults: everything `npm start` serves with nothing installed. */
export const DEFAULT_CONFIG = {
  server: { port: 8080 },
  streams: {
    ticks: { source: { type: "generator", ratePerSecond: 20, itemBytes: 96 } },
    numbers: { source: { type: "generator", ratePerSecond: 0, itemBytes: 64, count: 1_000_000 } },
    books: { source: { type: "jsonl", path: "../data/books.jsonl", filter: { field: "genre", param: "genre" } } },
    news: { source: { type: "topic", historyItems: 1_000, demoPublisherPerSecond: 2 }, publish: {} },
  },
} as const;

/** The dead-letter stream of a stream that takes publishing. */
export function deadLetterStreamOf(name: string, publish: { readonly deadLetters?: { readonly stream?: string | undefined } | undefined }): string {
  return publish.deadLetters?.stream ?? `${name}.dlq`;
}

/** The config with a topic stream for every dead-letter stream that is not configured itself. */
function withDeadLetterStreams(config: Config): Config {
  const streams = { ...config.streams };
  for (const [name, stream] of Object.entries(config.streams)) {
    if (!stream.publish) continue;
    const deadLetters = deadLetterStreamOf(name, stream.publish);
    if (Object.hasOwn(streams, deadLetters)) continue;
    const { historyItems, allow } = stream.publish.deadLetters;
    // resumeExpired gap: a reader that starts from the beginning (`sluice tail URL NAME.dlq --from 1`) gets every retained record, not resume_position_lost.
    streams[deadLetters] = streamSchema.parse({ source: { type: "topic", historyItems, resumeExpired: "gap" }, ...(allow ? { allow } : {}) });
  }
  return { ...config, streams };
}

/** Validates a parsed document (plus environment overrides); throws ConfigError. */
export function parseConfig(document: unknown, source: string, env: NodeJS.ProcessEnv = {}): Config {
  const { config, problems } = checkDocument(document, env);
  if (!config) throw new ConfigError(source, problems);
  return config;
}

/** The config, or every problem the schema finds, each as "path: reason". */
function checkDocument(document: unknown, env: NodeJS.ProcessEnv): { config?: Config; problems: string[] } {
  // reportInput: an issue carries the value it is about, so a wrong type is told from a missing key.
  const withEnv = applyEnv(document, env);
  const result = configSchema.safeParse(withEnv, { reportInput: true });
  const problems = result.success ? [] : result.error.issues.map((issue) => `${issue.path.length ? issue.path.join(".") : "(root)"}: ${describeIssue(issue)}`);
  problems.push(...crossFieldIssues(withEnv).map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  problems.push(...unenforceableRules(document));
  return problems.length === 0 && result.success ? { config: withDeadLetterStreams(result.data), problems } : { problems };
}

/**
 * A rule that restricts access is enforced or refused, never ignored:
 * without an auth section nobody is authenticated, so `allow` could not be
 * checked and the stream would be served to everyone. Checked on the
 * document as written, so it is reported with every other problem.
 */
function unenforceableRules(document: unknown): string[] {
  if (typeof document !== "object" || document === null || (document as { auth?: unknown }).auth !== undefined) return [];
  const streams = (document as { streams?: unknown }).streams;
  if (typeof streams !== "object" || streams === null) return [];
  const problems: string[] = [];
  for (const [name, stream] of Object.entries(streams as Record<string, unknown>)) {
    if (typeof stream !== "object" || stream === null) continue;
    if ((stream as { allow?: unknown }).allow !== undefined) problems.push(`streams.${name}.allow: restricts who may subscribe, but there is no auth section to tell who is asking: add auth (apiKeys or jwt), or remove allow`);
    const publish = (stream as { publish?: unknown }).publish;
    if (typeof publish === "object" && publish !== null && (publish as { allow?: unknown }).allow !== undefined) {
      problems.push(`streams.${name}.publish.allow: restricts who may publish, but there is no auth section to tell who is asking: add auth (apiKeys or jwt), or remove publish.allow`);
    }
    const throttle = typeof publish === "object" && publish !== null ? (publish as { throttle?: unknown }).throttle : undefined;
    if (typeof throttle === "object" && throttle !== null && (throttle as { consumers?: unknown }).consumers !== undefined) {
      problems.push(`streams.${name}.publish.throttle.consumers: names subscribers by their principal, but there is no auth section to tell who is subscribing: add auth (apiKeys or jwt), or remove consumers`);
    }
    const deadLetters = typeof publish === "object" && publish !== null ? (publish as { deadLetters?: unknown }).deadLetters : undefined;
    if (typeof deadLetters === "object" && deadLetters !== null && (deadLetters as { allow?: unknown }).allow !== undefined) {
      problems.push(`streams.${name}.publish.deadLetters.allow: restricts who may read the dead letters, but there is no auth section to tell who is asking: add auth (apiKeys or jwt), or remove deadLetters.allow`);
    }
  }
  return problems;
}

/** Reads and validates a YAML or JSON file; relative paths in it are resolved against its directory. */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): { config: Config; baseDir: string } {
  if (!path) return { config: parseConfig(DEFAULT_CONFIG, "embedded defaults", env), baseDir: join(packageRoot, "dist") };
  let text: string;
  try {
    text = readFile(path).toString("utf8");
  } catch (error) {
    throw new ConfigError(path, [`(file): cannot read: ${(error as Error).message}`]);
  }
  let document: unknown;
  try {
    document = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(path, [`(file): not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${syntaxError(error)}`]);
  }
  // Every problem in one pass: the schema's, and files that cannot be read
  // (looked up in the document as written, so they are found even when
  // something else in it is wrong).
  const baseDir = dirname(resolve(path));
  const { config, problems } = checkDocument(document, env);
  problems.push(...missingFiles(applyEnv(document, env), baseDir, env));
  if (config && problems.length === 0) problems.push(...validatorProblems(config, baseDir));
  if (!config || problems.length > 0) throw new ConfigError(path, problems);
  return { config, baseDir };
}

/** Item checks that do not compile (a bad JSON Schema, a message the descriptor set lacks), as "path: reason". */
function validatorProblems(config: Config, baseDir: string): string[] {
  const problems: string[] = [];
  for (const [name, stream] of Object.entries(config.streams)) {
    if (!stream.publish?.validate) continue;
    try {
      itemValidator(stream.publish.validate, baseDir);
    } catch (error) {
      problems.push(`streams.${name}.publish.validate: ${(error as Error).message}`);
    }
  }
  return problems;
}

/** Files the config names that cannot be read, as "path: reason" (so `validate` catches them too). */
/** A parser's error as one line ending with where: yaml's first line ends in a dangling "at line L, column C:". */
function syntaxError(error: unknown): string {
  const { message, linePos } = error as Error & { linePos?: readonly { line: number; col: number }[] };
  const first = message.split("\n")[0]!.replace(/\s+at line \d+, column \d+:?$/, "").replace(/:$/, "");
  return linePos?.[0] ? `${first} (line ${linePos[0].line}, column ${linePos[0].col})` : first;
}

/** A string at `path` in a document that may not have passed the schema yet. */
function stringAt(document: unknown, ...path: string[]): string | undefined {
  let at: unknown = document;
  for (const key of path) at = typeof at === "object" && at !== null ? (at as Record<string, unknown>)[key] : undefined;
  return typeof at === "string" ? at : undefined;
}

function missingFiles(document: unknown, baseDir: string, env: NodeJS.ProcessEnv): string[] {
  const streams = typeof document === "object" && document !== null ? (document as { streams?: unknown }).streams : undefined;
  const files: [string, string | undefined][] = [
    ["server.tls.certFile", stringAt(document, "server", "tls", "certFile")],
    ["server.tls.keyFile", stringAt(document, "server", "tls", "keyFile")],
    ["auth.jwt.publicKeyFile", stringAt(document, "auth", "jwt", "publicKeyFile")],
    ["auth.jwt.jwksFile", stringAt(document, "auth", "jwt", "jwksFile")],
    ...(typeof streams === "object" && streams !== null && !Array.isArray(streams)
      ? Object.keys(streams).flatMap((name): [string, string | undefined][] => [
          [`streams.${name}.source.path`, stringAt(streams, name, "source", "type") === "jsonl" ? stringAt(streams, name, "source", "path") : undefined],
          [`streams.${name}.publish.validate.jsonSchema`, stringAt(streams, name, "publish", "validate", "jsonSchema")],
          [`streams.${name}.publish.validate.protobuf.descriptorSet`, stringAt(streams, name, "publish", "validate", "protobuf", "descriptorSet")],
        ])
      : []),
  ];
  const problems: string[] = [];
  for (const [at, file] of files) {
    if (file === undefined) continue;
    try {
      checkReadableSync(resolve(baseDir, file));
    } catch (error) {
      problems.push(`${at}: cannot read ${resolve(baseDir, file)} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  }
  const passphraseEnv = stringAt(document, "server", "tls", "keyPassphraseEnv");
  if (passphraseEnv && env[passphraseEnv] === undefined) problems.push(`server.tls.keyPassphraseEnv: environment variable ${passphraseEnv} is not set`);
  return problems;
}

/** SLUICE_HOST, SLUICE_PORT, SLUICE_SHUTDOWN_GRACE_MS, SLUICE_TLS_CERT_FILE and SLUICE_TLS_KEY_FILE override the file. */
function applyEnv(document: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof document !== "object" || document === null) return document;
  const server = { ...((document as { server?: object }).server ?? {}) } as Record<string, unknown>;
  if (env.SLUICE_HOST) server.host = env.SLUICE_HOST;
  if (env.SLUICE_PORT) server.port = numberOrText(env.SLUICE_PORT);
  if (env.SLUICE_SHUTDOWN_GRACE_MS) server.shutdownGraceMs = numberOrText(env.SLUICE_SHUTDOWN_GRACE_MS);
  if (env.SLUICE_TLS_CERT_FILE || env.SLUICE_TLS_KEY_FILE) {
    server.tls = { ...(server.tls as object | undefined), ...(env.SLUICE_TLS_CERT_FILE ? { certFile: env.SLUICE_TLS_CERT_FILE } : {}), ...(env.SLUICE_TLS_KEY_FILE ? { keyFile: env.SLUICE_TLS_KEY_FILE } : {}) };
  }
  return { ...document, server };
}

/** A number from the environment or the command line; what is not one stays text, so the error can quote it. */
function numberOrText(text: string): number | string {
  return /^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text;
}

/** zod's names of types, as a config's author would say them. */
const EXPECTED: Record<string, string> = { int: "an integer", number: "a number", string: "a string", boolean: "true or false", object: "a mapping", record: "a mapping", array: "a list" };

/** What a wrong value was, for "expected …, got …". */
function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "number" || typeof value === "boolean") return `the ${typeof value} ${String(value)}`;
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  if (issue.code === "invalid_type" && input === undefined) return "required";
  if (issue.code === "invalid_type" && issue.message.startsWith("expected ")) return issue.message;
  if (issue.code === "invalid_type") return `expected ${EXPECTED[issue.expected] ?? `a ${issue.expected}`}, got ${describeValue(input)}`;
  if (issue.code === "too_big" && typeof input === "number") return `must be ${issue.inclusive === false ? "below" : "at most"} ${issue.maximum}, got ${input}`;
  if (issue.code === "too_small" && typeof input === "number") return `must be ${issue.inclusive === false ? "above" : "at least"} ${issue.minimum}, got ${input}`;
  if (issue.code === "unrecognized_keys") return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
  if (issue.code === "invalid_union" && "discriminator" in issue) return `must be one of the source types: generator, jsonl, topic, postgres`;
  return issue.message;
}
