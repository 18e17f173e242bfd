/**
 * Scenario files (YAML): what a run does, validated like the reference
 * server's config, every problem reported as `path: reason` before
 * anything starts. Durations read "500ms", "30s", "5m", "2h" (or seconds
 * as a number), sizes "64", "1KiB", "4MiB", rates "fast" or "1000/s".
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

const UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const UNITS_BYTES: Record<string, number> = { "": 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** Milliseconds from "30s", "5m", "2h", "500ms" or a number of seconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value * 1_000 : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  return match ? Number(match[1]) * UNITS_MS[match[2]!]! : undefined;
}

/** Bytes from 64, "64", "1KiB", "4MiB". */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?\s*$/.exec(value);
  if (!match) return undefined;
  const bytes = Number(match[1]) * UNITS_BYTES[match[2] ?? ""]!;
  return Number.isInteger(bytes) ? bytes : Math.round(bytes);
}

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `must be a duration such as 500ms, 30s, 5m or 2h, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ms;
});
const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: "custom", message: `must be a size such as 64, 1KiB or 4MiB, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return bytes;
});
/** "fast" (as fast as credit allows), "1000/s" or a number per second. */
const rate = z.union([z.literal("fast"), z.string(), z.number()]).transform((value, ctx): number | "fast" => {
  if (value === "fast") return "fast";
  const perSecond = typeof value === "number" ? value : Number(/^\s*(\d+(?:\.\d+)?)\s*\/\s*s\s*$/.exec(value)?.[1]);
  if (!(perSecond > 0)) {
    ctx.addIssue({ code: "custom", message: `must be "fast" or a rate such as 1000/s, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return perSecond;
});
const positiveInt = z.number().int().min(1);
const TRANSPORTS = ["http2", "http1.1", "websocket"] as const;
/** Which transports a group uses: weights (`{ http2: 2, websocket: 1 }`) or a list (equal weights). */
const transportMix = z
  .union([z.array(z.enum(TRANSPORTS)).min(1), z.partialRecord(z.enum(TRANSPORTS), z.number().min(0))])
  .transform((value, ctx) => {
    const weights = Array.isArray(value) ? Object.fromEntries(value.map((t) => [t, 1])) : value;
    if (!Object.values(weights).some((w) => (w ?? 0) > 0)) {
      ctx.addIssue({ code: "custom", message: "needs at least one transport with a weight above 0" });
      return z.NEVER;
    }
    return weights as Partial<Record<Transport, number>>;
  });

/** A subscriber's consumption: as fast as it can, N items/s, or stalls (a slow consumer). */
const consumption = z.union([
  rate,
  z.strictObject({
    /** Between stalls: as fast as it can, or a rate. */
    rate: rate.default("fast"),
    /** How often it stops reading, and for how long. */
    stall: z.strictObject({ every: duration, for: duration }),
  }),
]);

const subscriberGroup = z.strictObject({
  name: z.string().min(1).optional(),
  count: positiveInt,
  stream: z.string().min(1),
  params: z.record(z.string(), z.unknown()).optional(),
  transports: transportMix.default({ http2: 1 }),
  window: z.strictObject({ items: positiveInt, bytes: size }).optional(),
  consume: consumption.default("fast"),
  ack: z.enum(["auto", "manual"]).default("auto"),
  rampUp: duration.default(0),
  /** What the items hold, for the verifier: the loadgen's own publishes, a generator's items, or anything (seq rules only). Default: published when a publisher group writes the stream, else opaque. */
  content: z.enum(["published", "generator", "opaque"]).optional(),
  /** Subscribers per client (one connection each; HTTP/2 multiplexes). Default 1. */
  perConnection: positiveInt.default(1),
});

const sizeDistribution = z.union([
  size,
  z.strictObject({ min: size, max: size }),
  z.array(z.strictObject({ size, weight: z.number().min(0) })).min(1),
]);

const publisherGroup = z.strictObject({
  name: z.string().min(1).optional(),
  count: positiveInt,
  stream: z.string().min(1),
  transports: transportMix.default({ http2: 1 }),
  /** Per publisher. */
  rate: rate.default("fast"),
  size: sizeDistribution.default(256),
  priority: z.partialRecord(z.enum(["critical", "high", "normal", "low"]), z.number().min(0)).default({ normal: 1 }),
  rampUp: duration.default(0),
  /** Items in flight per publisher when rate is fast (sends waiting for their ack). Default 1 024. */
  inFlight: positiveInt.default(1_024),
});

const serverSpec = z.strictObject({
  name: z.string().min(1),
  /** The command and its arguments; "{port}" in them (and in env values) becomes the port the loadgen picked. */
  command: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()).default({}),
  /** "auto": a free port on 127.0.0.1, chosen per run and kept across restarts. */
  port: z.union([z.literal("auto"), z.number().int().min(1).max(65_535)]).default("auto"),
  /** Working directory (relative to the scenario file). */
  cwd: z.string().optional(),
  /** How long it may take to listen. */
  startTimeout: duration.default(20_000),
});

const chaosAction = z
  .strictObject({
    action: z.enum(["cut", "freeze", "kill", "drain"]),
    /** Once at this time, or… */
    at: duration.optional(),
    /** …every so often (from `every` on, until the end of the load). */
    every: duration.optional(),
    /** cut, freeze: the share of open connections (chosen by the seed); default all. */
    fraction: z.number().gt(0).max(1).default(1),
    /** freeze: how long. */
    for: duration.default(3_000),
    /** kill, drain: which server (a `servers` name); default: each in turn. */
    server: z.string().optional(),
    /** kill, drain: restart it after this long (omitted: it stays down). */
    restartAfter: duration.optional(),
  })
  .refine((c) => (c.at === undefined) !== (c.every === undefined), { message: "give at (once) or every (repeatedly), not both or neither" });

const stage = z.strictObject({
  /** How long the stage lasts. */
  duration,
  /** The share of each group's subscribers and publishers active at its end (ramps linearly from the previous stage). */
  target: z.number().min(0).max(1),
});

const scenarioSchema = z.strictObject({
  name: z.string().min(1).optional(),
  seed: z.number().int().default(1),
  /** The load's length when there are no stages. */
  duration: duration.optional(),
  stages: z.array(stage).min(1).optional(),
  targets: z.union([z.string().url(), z.array(z.string().url()).min(1)]).optional(),
  auth: z.strictObject({ token: z.string().optional(), apiKey: z.string().optional(), apiKeyEnv: z.string().optional(), tokenEnv: z.string().optional() }).optional(),
  servers: z.array(serverSpec).min(1).optional(),
  /** Route the clients through the loadgen's TCP proxy (needed by cut and freeze). Default: on when the scenario has chaos. */
  proxy: z.boolean().optional(),
  subscribers: z.array(subscriberGroup).default([]),
  publishers: z.array(publisherGroup).default([]),
  chaos: z.array(chaosAction).default([]),
  /** How often figures are sampled. */
  sampleEvery: duration.default(1_000),
  /** After the load: how long subscribers may take to receive what was acked. */
  drainTimeout: duration.default(15_000),
  /** Soak: fit a line through memory after warm-up and fail above maxSlope; cool-down keeps sampling after the load stops. */
  soak: z
    .strictObject({
      warmup: duration.default(60_000),
      maxSlope: z.string().default("1MiB/h"),
      cooldown: duration.default(0),
    })
    .optional(),
  /** Pass/fail rules like k6's: `p99 < 20ms`, `lost == 0`, `memorySlope < 1MiB/h`. */
  thresholds: z.array(z.string()).default([]),
});

/** A transport a client uses. */
export type Transport = (typeof TRANSPORTS)[number];
/** A scenario as validated, durations in ms and sizes in bytes. */
export type Scenario = z.infer<typeof scenarioSchema> & {
  /** Where it came from (paths in it are relative to its directory). */
  readonly file: string | null;
  readonly baseDir: string;
  /** The load's length: the stages' sum, or `duration`. */
  readonly loadMs: number;
};
/** One subscriber group of a scenario. */
export type SubscriberGroup = Scenario["subscribers"][number];
/** One publisher group of a scenario. */
export type PublisherGroup = Scenario["publishers"][number];
/** One chaos action of a scenario. */
export type ChaosSpec = Scenario["chaos"][number];
/** One server the loadgen starts. */
export type ServerSpec = NonNullable<Scenario["servers"]>[number];

/** The outcome of reading a scenario: it, or every problem as `path: reason`. */
export type ScenarioResult = { readonly scenario: Scenario; readonly problems: readonly [] } | { readonly scenario?: undefined; readonly problems: readonly string[] };

function describeIssue(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  if (issue.code === "invalid_type" && input === undefined) return "required";
  if (issue.code === "unrecognized_keys") return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
  if (issue.code === "too_small" && issue.origin === "number") return `must be at least ${issue.minimum}${typeof input === "number" ? `, got ${input}` : ""}`;
  if (issue.code === "too_big" && issue.origin === "number") return `must be at most ${issue.maximum}${typeof input === "number" ? `, got ${input}` : ""}`;
  if (issue.code === "invalid_union") {
    // The most telling branch's reason: a custom one (a unit's), else the first.
    const branches = issue.errors.flat();
    const pick = branches.find((b) => b.code === "custom") ?? branches.find((b) => b.code === "invalid_value") ?? branches[0];
    if (pick) return describeIssue(pick);
  }
  return issue.message;
}

/** Checks a parsed document (YAML or an object), answering the scenario or every problem. */
export function checkScenario(document: unknown, file: string | null = null, overrides: ScenarioOverrides = {}): ScenarioResult {
  const result = scenarioSchema.safeParse(applyOverrides(document, overrides), { reportInput: true });
  if (!result.success) return { problems: result.error.issues.map((issue) => `${issue.path.length ? issue.path.join(".") : "(root)"}: ${describeIssue(issue)}`) };
  const data = result.data;
  const problems: string[] = [];
  if (!data.targets && !data.servers) problems.push("targets: required (or a servers section the loadgen starts)");
  if (data.targets && data.servers) problems.push("targets: give targets or servers, not both (the servers' URLs are the targets)");
  if (!data.duration && !data.stages) problems.push("duration: required (or stages)");
  if (data.subscribers.length === 0 && data.publishers.length === 0) problems.push("subscribers: the scenario has no subscribers and no publishers");
  const serverNames = new Set((data.servers ?? []).map((s) => s.name));
  data.chaos.forEach((c, i) => {
    if ((c.action === "kill" || c.action === "drain") && !data.servers) problems.push(`chaos.${i}.action: ${c.action} needs a servers section (the loadgen stops and restarts only servers it started)`);
    if (c.server !== undefined && !serverNames.has(c.server)) problems.push(`chaos.${i}.server: no server named ${JSON.stringify(c.server)} (servers: ${[...serverNames].join(", ") || "none"})`);
  });
  if (data.proxy === false && data.chaos.some((c) => c.action === "cut" || c.action === "freeze")) problems.push("proxy: cut and freeze run through the loadgen's TCP proxy; remove proxy: false");
  data.publishers.forEach((p, i) => {
    if (Object.values(p.priority).every((w) => !(w! > 0))) problems.push(`publishers.${i}.priority: needs at least one priority with a weight above 0`);
    if (!Array.isArray(p.size) && typeof p.size === "object" && p.size.min > p.size.max) problems.push(`publishers.${i}.size: min ${p.size.min} is above max ${p.size.max}`);
  });
  data.subscribers.forEach((s, i) => {
    if (s.content === "published" && !data.publishers.some((p) => p.stream === s.stream)) problems.push(`subscribers.${i}.content: published, but no publisher group writes stream ${s.stream}`);
  });
  data.thresholds.forEach((t, i) => {
    const problem = thresholdProblem(t);
    if (problem) problems.push(`thresholds.${i}: ${problem}`);
  });
  if (data.soak && parseSlope(data.soak.maxSlope) === undefined) problems.push(`soak.maxSlope: must be a slope such as 1MiB/h, got ${JSON.stringify(data.soak.maxSlope)}`);
  if (problems.length > 0) return { problems };
  const loadMs = data.stages ? data.stages.reduce((sum, s) => sum + s.duration, 0) : data.duration!;
  const baseDir = file ? dirname(resolve(file)) : process.cwd();
  return { scenario: { ...data, file, baseDir, loadMs }, problems: [] };
}

/** Reads and checks a scenario file. */
export function loadScenario(file: string, overrides: ScenarioOverrides = {}): ScenarioResult {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(file, "utf8"));
  } catch (error) {
    return { problems: [`${file}: ${(error as Error).message.split("\n")[0]}`] };
  }
  return checkScenario(document, file, overrides);
}

/** The CLI's flags for the common cases, over (or instead of) a file. */
export interface ScenarioOverrides {
  /** Targets (one URL or several). */
  readonly url?: readonly string[];
  /** Subscribers in every group (a default group when there is none: stream `--stream`, default news). */
  readonly subscribers?: number;
  readonly publishers?: number;
  readonly stream?: string;
  /** Milliseconds. */
  readonly duration?: number;
  /** Soak for this long (ms): duration, and a soak section with its defaults. */
  readonly soak?: number;
  readonly seed?: number;
}

function applyOverrides(document: unknown, o: ScenarioOverrides): unknown {
  const doc = { ...((typeof document === "object" && document !== null ? document : {}) as Record<string, unknown>) };
  if (o.url) {
    doc.targets = o.url.length === 1 ? o.url[0] : [...o.url];
    delete doc.servers;
  }
  const stream = o.stream ?? "news";
  if (o.subscribers !== undefined) {
    const groups = Array.isArray(doc.subscribers) && doc.subscribers.length > 0 ? (doc.subscribers as Record<string, unknown>[]) : [{ stream }];
    doc.subscribers = groups.map((g) => ({ ...g, count: o.subscribers }));
  }
  if (o.publishers !== undefined) {
    const groups = Array.isArray(doc.publishers) && doc.publishers.length > 0 ? (doc.publishers as Record<string, unknown>[]) : [{ stream, rate: "100/s" }];
    doc.publishers = o.publishers === 0 ? [] : groups.map((g) => ({ ...g, count: o.publishers }));
  }
  if (o.duration !== undefined) {
    doc.duration = o.duration / 1_000;
    delete doc.stages;
  }
  if (o.soak !== undefined) {
    doc.duration = o.soak / 1_000;
    delete doc.stages;
    doc.soak = { ...((doc.soak as object | undefined) ?? {}) };
    const thresholds = Array.isArray(doc.thresholds) ? (doc.thresholds as string[]) : [];
    if (!thresholds.some((t) => t.startsWith("memorySlope"))) doc.thresholds = [...thresholds, "memorySlope < 1MiB/h"];
  }
  if (o.seed !== undefined) doc.seed = o.seed;
  return doc;
}

/** MiB per hour from "1MiB/h", "512KiB/h". */
export function parseSlope(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB)\s*\/\s*h\s*$/.exec(text);
  if (!match) return undefined;
  return (Number(match[1]) * UNITS_BYTES[match[2]!]!) / 1024 ** 2;
}

/** The figures thresholds can name, and their units. */
export const THRESHOLD_METRICS = {
  p50: "ms",
  p90: "ms",
  p99: "ms",
  "p99.9": "ms",
  max: "ms",
  lost: "items",
  duplicated: "items",
  reordered: "items",
  seqErrors: "items",
  errors: "items",
  reconnects: "count",
  deliveredPerSecond: "items/s",
  memorySlope: "MiB/h",
  /** The server's highest RSS sampled (from its /metrics). */
  serverRssMax: "MiB",
} as const;

/** A threshold as parsed: metric, comparison and bound (in the metric's unit). */
export interface Threshold {
  readonly expression: string;
  readonly metric: keyof typeof THRESHOLD_METRICS;
  readonly op: "<" | "<=" | ">" | ">=" | "==" | "!=";
  readonly bound: number;
}

/** Parses `p99 < 20ms`, `lost == 0`, `memorySlope < 1MiB/h`, `deliveredPerSecond > 10000`. */
export function parseThreshold(expression: string): Threshold | string {
  const match = /^\s*([A-Za-z0-9.]+)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$/.exec(expression);
  if (!match) return `must read "metric op value" (e.g. "p99 < 20ms"), got ${JSON.stringify(expression)}`;
  const [, metric, op, raw] = match as unknown as [string, string, Threshold["op"], string];
  if (!Object.hasOwn(THRESHOLD_METRICS, metric)) return `unknown metric ${JSON.stringify(metric)} (one of ${Object.keys(THRESHOLD_METRICS).join(", ")})`;
  const unit = THRESHOLD_METRICS[metric as keyof typeof THRESHOLD_METRICS];
  let bound: number | undefined;
  if (unit === "ms") bound = parseDuration(/^\d+(\.\d+)?$/.test(raw) ? `${raw}ms` : raw);
  else if (unit === "MiB/h") bound = parseSlope(raw);
  else if (unit === "MiB") bound = /^\d+(\.\d+)?(B|KiB|MiB|GiB)$/.test(raw) ? parseSize(raw)! / 1024 ** 2 : undefined;
  else bound = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : undefined;
  if (bound === undefined) return `${metric}: ${JSON.stringify(raw)} is not a value in ${unit}`;
  return { expression: expression.trim(), metric: metric as Threshold["metric"], op, bound };
}

function thresholdProblem(expression: string): string | undefined {
  const parsed = parseThreshold(expression);
  return typeof parsed === "string" ? parsed : undefined;
}

/** Whether `value op bound` holds. */
export function compare(value: number, op: Threshold["op"], bound: number): boolean {
  switch (op) {
    case "<":
      return value < bound;
    case "<=":
      return value <= bound;
    case ">":
      return value > bound;
    case ">=":
      return value >= bound;
    case "==":
      return value === bound;
    case "!=":
      return value !== bound;
  }
}
