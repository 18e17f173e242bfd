/**
 * Fan-out (issue 18): one topic delivered to 1, 100 and 1 000 subscribers,
 * Sluice's in-memory topic engine against its NATS JetStream engine
 * (@sluice/topic-nats) against plain nats.js ordered consumers reading the
 * same JetStream stream directly, in the same run: items/s delivered (summed
 * over the subscribers) and publish-to-delivery p50/p99.
 *
 *   npm run bench:fanout           (BENCH_RUNS=3 by default)
 *
 * The Sluice server and the publisher run in a child process
 * (fanout-bench-server.ts); the subscribers of every contender run in this
 * one; the nats-server is the machine's (SLUICE_NATS_URL, 127.0.0.1:4222),
 * with one memory-storage stream created for the run and deleted after.
 *
 * - Sluice memory / Sluice NATS: N client-node subscribers (`subscribe`
 *   over HTTP/2, codec bytes(), window 1 024 items / 256 KiB each: Sluice's
 *   per-subscriber credit flow control), BENCH_PER_CONNECTION (10) per
 *   client, i.e. per HTTP/2 connection. The server's NATS engine reads
 *   through one ordered consumer per subscriber, all on its one NATS
 *   connection, each pulling `pullAhead` messages ahead (below).
 * - nats.js: N ordered consumers (`consumers.get(stream, { deliver_policy:
 *   StartSequence, opt_start_seq })` + `consume({ max_messages, callback })`
 *   with the engine's pull-ahead), BENCH_PER_CONNECTION per NATS connection.
 * - Pull-ahead: the engine's default, 256, but at most 64 Ki messages over
 *   all subscribers: 256, 256 and 65 (BENCH_PULL sets one for all).
 *
 * Budgets: 1 000 windows of 256 KiB are 250 MiB, under the server's
 * default maxBufferedBytes (512 MiB), and 10 a connection 2.5 MiB, under its
 * maxConnectionBufferedBytes (64 MiB): the server keeps its defaults
 * (BENCH_CONNECTION_BUDGET_MIB raises both, for more per connection).
 *
 * Each run: the N subscribers attach and each gets a warm-up item; then the
 * child publishes `count` items (1 M deliveries a run, at most 100 000
 * items: 100 000, 10 000, 1 000) of BENCH_SIZE (256) bytes as fast as it can
 * (memory topic: 256 publishes a turn of the event loop; JetStream: up to
 * 1 024 publishes awaiting their PubAck), but never more than a lead of
 * 2 048 items (at most 256 Ki deliveries: 262 items at 1 000 subscribers)
 * ahead of the slowest subscriber, by credit this process grants over IPC
 * every quarter of the lead: a saturated fan-out that drops nothing, so the
 * latency is mostly that lead over one subscriber's rate. Items/s =
 * N × count / (first publish → the last subscriber's last item). Every item
 * carries its publish time (float64, performance.timeOrigin +
 * performance.now() in the child; the clock offset between the processes is
 * measured at start and taken off); p50/p99 over every delivered item.
 * Contenders interleave and rotate within each of BENCH_RUNS runs, after one
 * uncounted warm-up round at a tenth of the count per subscriber count.
 *
 * Environment:
 *   BENCH_RUNS=3                 runs per subscriber count
 *   BENCH_SUBSCRIBERS=1,100,1000 the subscriber counts
 *   BENCH_SCALE=0.01             multiply every item count (smoke runs)
 *   BENCH_SIZE=256               item bytes
 *   BENCH_PULL=256               JetStream pull-ahead per consumer, both NATS contenders (default above)
 *   BENCH_LEAD=2048              items the publisher may be ahead of the slowest subscriber (default above)
 *   BENCH_PER_CONNECTION=10      subscribers per HTTP/2 / NATS connection
 *   BENCH_PEERS=memory,nats,natsjs   contenders to run
 *   BENCH_WARMUP=0               skip the uncounted warm-up round
 *   BENCH_RUN_TIMEOUT_S=120      one run gives up after this
 *   BENCH_TIMEOUT_S=1800         the whole bench gives up (and cleans up) after this
 *   BENCH_CONNECTION_BUDGET_MIB=256   the server's per-connection (and at least its total) buffered-bytes budget
 *   BENCH_SERVER_ARGS=--cpu-prof node flags for the server child
 *   SLUICE_NATS_URL=127.0.0.1:4222
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { bytes, createSluiceClient } from "@sluice/client-node";
import { benchLog, median, runBench, selectContenders, sleep, wallClock, withTimeout } from "./bench-common.js";

const env = process.env;
const RUNS = Number(env.BENCH_RUNS ?? 3);
const SCALE = Number(env.BENCH_SCALE ?? 1);
const SIZE = Number(env.BENCH_SIZE ?? 256);
/**
 * Items the publisher may be ahead of the slowest subscriber: 2 048, but at
 * most 256 Ki deliveries in flight over all of them (262 items at 1 000).
 */
const leadFor = (n: number) => (env.BENCH_LEAD ? Number(env.BENCH_LEAD) : Math.max(64, Math.min(2048, Math.floor(262_144 / n))));
const PER_CONNECTION = Number(env.BENCH_PER_CONNECTION ?? 10);
const NATS_URL = env.SLUICE_NATS_URL ?? "127.0.0.1:4222";
const WARMUP = env.BENCH_WARMUP !== "0";
const RUN_TIMEOUT_S = Number(env.BENCH_RUN_TIMEOUT_S ?? 120);
const TIMEOUT_S = Number(env.BENCH_TIMEOUT_S ?? 1800);
const SUBSCRIBERS = (env.BENCH_SUBSCRIBERS ?? "1,100,1000").split(",").map(Number);
/** Each subscriber's window: 1 000 of them hold at most 250 MiB, 10 a connection 2.5 MiB (the server's budgets: 512 MiB, 64 MiB a connection). */
const WINDOW = { items: 1024, bytes: 256 * 1024 };
/**
 * Messages each JetStream consumer pulls ahead, the NATS engine's
 * (NatsTopic's pullAhead) and the nats.js consumers' (max_messages) alike:
 * the engine's default, 256, but at most 64 Ki over all subscribers (65 at
 * 1 000). The engine reads every subscriber's consumer over the server's one
 * NATS connection, and 1 000 × 256 pulled messages overran nats-server's
 * 64 MiB max_pending for it: "Slow Consumer Detected", the connection
 * dropped, pulls lost until they expire (see BENCHMARKS.md).
 */
const pullFor = (n: number) => (env.BENCH_PULL ? Number(env.BENCH_PULL) : Math.max(1, Math.min(256, Math.floor(65_536 / n))));
/** Subscriber queues (memory topic) and the NATS engine's subscriberQueueItems: above anything the lead lets build up. */
const QUEUE_ITEMS = Math.max(16_384, 4 * leadFor(1));
const PUBLISH_INFLIGHT = 1024;
const WARM_INDEX = 0xffffffff;

/** Items per subscriber: ~1 M deliveries a run, at most 100 000 items (JetStream's PubAck rate bounds one subscriber). */
const countFor = (n: number) => Math.max(10, Math.round(Math.min(100_000, 1_000_000 / n) * SCALE));

const CONTENDERS = [
  { key: "memory", label: "Sluice memory engine" },
  { key: "nats", label: "Sluice NATS engine" },
  { key: "natsjs", label: "nats.js consumers" },
] as const;
type Key = (typeof CONTENDERS)[number]["key"];
const { active, peers: PEERS } = selectContenders<Key, (typeof CONTENDERS)[number]>(CONTENDERS);

const log = benchLog("fanout-bench");


// ---------------------------------------------------------------- the server child and cleanup

const STREAM = `sluice_fanout_bench_${process.pid}_${Date.now().toString(36)}`;
const SUBJECT = `${STREAM}.items`;
let child: ChildProcess | undefined;
let admin: { nc: NatsConnection; jsm: JetStreamManager } | undefined;
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  child?.kill("SIGTERM");
  if (child && child.exitCode === null) await withTimeout(once(child, "exit"), 5_000, "the server child").catch(() => undefined);
  if (admin) {
    try {
      await withTimeout(admin.jsm.streams.delete(STREAM), 5_000, "deleting the JetStream stream");
      log(`deleted JetStream stream ${STREAM}`);
    } catch (error) {
      log(`could not delete JetStream stream ${STREAM}: ${String(error)}`);
    }
    await admin.nc.close().catch(() => undefined);
  }
}
const watchdog = setTimeout(() => {
  log(`gave up after ${TIMEOUT_S} s (BENCH_TIMEOUT_S)`);
  void cleanup().finally(() => process.exit(1));
}, TIMEOUT_S * 1000);
watchdog.unref();
process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));

type ChildMessage = { type: "clock"; id: number; at: number } | { type: "published"; startedAt: number; ms: number; failed: number; stats: unknown };
const waiters = new Map<string, (message: ChildMessage) => void>();
/** The child's next message of `type`. */
const nextMessage = <T extends ChildMessage["type"]>(type: T, ms = 30_000) =>
  withTimeout(new Promise<Extract<ChildMessage, { type: T }>>((resolve) => waiters.set(type, resolve as (message: ChildMessage) => void)), ms, `the server's ${type}`);
const tell = (message: object) => {
  if (!child?.connected) throw new Error("the server child is gone");
  child.send(message);
};

let url = "";
/** The child's clock minus ours, from the round trip with the smallest delay. */
let clockOffset = 0;
let natsVersion = "";
async function setup(): Promise<void> {
  const nc = await natsConnect({ servers: NATS_URL, name: "fanout-bench-admin" });
  admin = { nc, jsm: await jetstreamManager(nc) };
  natsVersion = nc.info?.version ?? "?";
  const path = fileURLToPath(new URL("./fanout-bench-server.ts", import.meta.url));
  child = spawn(process.execPath, [...(env.BENCH_SERVER_ARGS?.split(" ").filter(Boolean) ?? []), ...process.execArgv, path], {
    stdio: ["ignore", "pipe", "inherit", "ipc"],
    env: { ...env, BENCH_STREAM: STREAM, BENCH_SUBJECT: SUBJECT, BENCH_SIZE: String(SIZE), BENCH_QUEUE_ITEMS: String(QUEUE_ITEMS), BENCH_PUBLISH_INFLIGHT: String(PUBLISH_INFLIGHT), BENCH_PULLS: SUBSCRIBERS.map(pullFor).join(",") },
  });
  child.on("message", (message: ChildMessage) => {
    const waiter = waiters.get(message.type);
    waiters.delete(message.type);
    waiter?.(message);
  });
  child.once("exit", (code, signal) => !cleaned && log(`the server child exited (${code ?? signal})`));
  // A send racing the child's exit: tell() then reports it, the bench cleans up.
  child.on("error", (error) => log(`the server child: ${error.message}`));
  const [line] = (await withTimeout(once(child.stdout!, "data"), 30_000, "the server child's start")) as [Buffer];
  url = (JSON.parse(line.toString()) as { url: string }).url;
  let best = Infinity;
  for (let id = 0; id < 50; id++) {
    const sent = wallClock();
    const reply = nextMessage("clock");
    tell({ type: "clock", id });
    const { at } = await reply;
    const received = wallClock();
    if (received - sent < best) {
      best = received - sent;
      clockOffset = at - (sent + received) / 2;
    }
  }
  log(`server at ${url}; nats-server ${natsVersion} at ${NATS_URL}, memory stream ${STREAM}; clock offset ${clockOffset.toFixed(3)} ms (±${(best / 2).toFixed(3)})`);
}

// ---------------------------------------------------------------- one run

/** What the subscribers of one run received: counts, latencies, and the credit back to the publisher. */
class Deliveries {
  readonly received: Int32Array;
  readonly warmed: Uint8Array;
  warmedCount = 0;
  readonly lags: Float64Array;
  lagCount = 0;
  delivered = 0;
  gaps = 0;
  lastAt = 0;
  /** reached[k]: subscribers that have k × step items (or gaps) or more. */
  readonly #reached: Int32Array;
  /** Credit goes back to the publisher every `step` items the slowest subscriber got. */
  readonly #step: number;
  readonly #target: number;
  #taken = 0;
  #done: () => void = () => undefined;
  readonly done = new Promise<void>((resolve) => (this.#done = resolve));

  constructor(
    readonly subscribers: number,
    readonly count: number,
    readonly lead: number,
  ) {
    this.#step = Math.max(1, Math.floor(lead / 4));
    this.received = new Int32Array(subscribers);
    this.warmed = new Uint8Array(subscribers);
    this.lags = new Float64Array(subscribers * count);
    this.#reached = new Int32Array(Math.floor(count / this.#step) + 2);
    this.#target = subscribers * count;
  }

  item(i: number, data: Uint8Array): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (view.getUint32(8) === WARM_INDEX) {
      if (!this.warmed[i]) {
        this.warmed[i] = 1;
        this.warmedCount++;
      }
      return;
    }
    const now = wallClock();
    if (this.lagCount < this.lags.length) this.lags[this.lagCount++] = now - (view.getFloat64(0) - clockOffset);
    this.delivered++;
    this.#advance(i, 1, now);
  }

  /** Where the subscribers are (a run that timed out). */
  describe(): string {
    let finished = 0;
    let least = Infinity;
    for (const n of this.received) {
      if (n >= this.count) finished++;
      least = Math.min(least, n);
    }
    return `${this.delivered} of ${this.subscribers * this.count} delivered, ${this.gaps} in gaps; ${finished} of ${this.subscribers} subscribers finished, the slowest at ${least}; the last item ${((wallClock() - this.lastAt) / 1000).toFixed(1)} s ago`;
  }

  gap(i: number, count: number): void {
    this.gaps += count;
    this.#advance(i, count, wallClock());
  }

  #advance(i: number, by: number, now: number): void {
    const before = this.received[i]!;
    const after = before + by;
    this.received[i] = after;
    this.lastAt = now;
    const step = this.#step;
    for (let k = Math.floor(before / step) + 1; k <= Math.floor(after / step) && k < this.#reached.length; k++) {
      if (++this.#reached[k]! === this.subscribers) tell({ type: "credit", upTo: k * step + this.lead });
    }
    this.#taken += by;
    if (this.#taken === this.#target) this.#done();
  }
}

interface Attached {
  close(): Promise<void>;
}

/** N client-node subscribers of `stream`, PER_CONNECTION to a client (an HTTP/2 connection). */
function attachSluice(stream: string, deliveries: Deliveries): Attached {
  const clients = Array.from({ length: Math.ceil(deliveries.subscribers / PER_CONNECTION) }, () => createSluiceClient({ baseUrl: url, transport: "http" }));
  const streams = Array.from({ length: deliveries.subscribers }, (_, i) => clients[Math.floor(i / PER_CONNECTION)]!.subscribe<Uint8Array>(stream, { codec: bytes(), window: WINDOW }));
  let failures = 0;
  const reading = streams.map(async (s, i) => {
    try {
      for await (const event of s) {
        if (event.kind === "gap") deliveries.gap(i, event.count);
        else deliveries.item(i, event.value);
      }
    } catch (error) {
      if (failures++ === 0) log(`  a subscriber of ${stream} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  return {
    close: async () => {
      for (const s of streams) s.cancel();
      await withTimeout(Promise.all(reading), 20_000, `closing the ${stream} subscribers`).catch((error: unknown) => log(`  ${String(error)}`));
      for (const client of clients) client.close();
    },
  };
}

/** N nats.js ordered consumers on the stream, from its next seq, PER_CONNECTION to a NATS connection. */
async function attachNatsJs(deliveries: Deliveries): Promise<Attached> {
  const connections = await Promise.all(Array.from({ length: Math.ceil(deliveries.subscribers / PER_CONNECTION) }, () => natsConnect({ servers: NATS_URL, name: "fanout-bench-subscriber" })));
  const start = (await admin!.jsm.streams.info(STREAM)).state.last_seq + 1;
  const messages: ConsumerMessages[] = [];
  // A few at a time: each is a consumer created on the nats-server.
  for (let i = 0; i < deliveries.subscribers; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, deliveries.subscribers - i) }, async (_, j) => {
        const index = i + j;
        const consumer = await jetstream(connections[Math.floor(index / PER_CONNECTION)]!).consumers.get(STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start });
        return consumer.consume({ max_messages: pullFor(deliveries.subscribers), callback: (m) => deliveries.item(index, m.data) });
      }),
    );
    messages.push(...batch);
  }
  return {
    close: async () => {
      await Promise.allSettled(messages.map((m) => m.close()));
      await Promise.allSettled(connections.map((c) => c.close()));
    },
  };
}

interface RunResult {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly delivered: number;
  readonly gaps: number;
  readonly publishRate: number;
  readonly publishFailed: number;
}

const percentile = (sorted: Float64Array, q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]! : NaN);

/**
 * Deletes the consumers a run left on the stream. Ordered consumers (the
 * NATS engine's and nats.js's alike) are not deleted when closed: JetStream
 * drops them after their inactive threshold (5 minutes), and thousands of
 * idle ones would slow the next runs.
 */
/** The stream's consumers, summed up (a run that timed out). */
async function describeConsumers(): Promise<void> {
  const rows: string[] = [];
  let total = 0;
  const pendingByWaiting = new Map<string, number>();
  for await (const info of admin!.jsm.consumers.list(STREAM)) {
    total++;
    const k = `num_pending ${info.num_pending > 0 ? ">0" : "0"}, num_waiting ${info.num_waiting}, ack_pending ${info.num_ack_pending}`;
    pendingByWaiting.set(k, (pendingByWaiting.get(k) ?? 0) + 1);
    if (info.num_pending > 0 && rows.length < 5) rows.push(`${info.name}: delivered stream_seq ${info.delivered.stream_seq}, num_pending ${info.num_pending}, num_waiting ${info.num_waiting}, created ${info.created}`);
  }
  log(`  ${total} consumers: ${[...pendingByWaiting].map(([k, n]) => `${n} × (${k})`).join("; ")}`);
  for (const row of rows) log(`    ${row}`);
}

async function purgeConsumers(what: string): Promise<void> {
  const names: string[] = [];
  for await (const info of admin!.jsm.consumers.list(STREAM)) names.push(info.name);
  for (let i = 0; i < names.length; i += 50) await Promise.allSettled(names.slice(i, i + 50).map((name) => admin!.jsm.consumers.delete(STREAM, name)));
  const left = (await admin!.jsm.streams.info(STREAM)).state.consumer_count;
  if (names.length) log(`  deleted ${names.length} consumers left on the stream after ${what}${left ? `; ${left} remain` : ""}`);
}

async function oneRun(key: Key, subscribers: number, count: number): Promise<RunResult> {
  const deliveries = new Deliveries(subscribers, count, leadFor(subscribers));
  const attachStarted = performance.now();
  // The server's name for the contender's stream (and publisher): the NATS engine's carries its pull-ahead.
  const engine = key === "nats" ? `nats_${pullFor(subscribers)}` : key;
  const attached = key === "natsjs" ? await attachNatsJs(deliveries) : attachSluice(engine, deliveries);
  try {
    // Every subscriber has an item before the timed part: all are attached and reading.
    const warmDeadline = performance.now() + 60_000;
    while (deliveries.warmedCount < subscribers) {
      if (performance.now() > warmDeadline) throw new Error(`warm-up: ${deliveries.warmedCount} of ${subscribers} subscribers got an item within 60 s`);
      tell({ type: "warm", engine });
      await sleep(100);
    }
    const attachMs = performance.now() - attachStarted;
    const published = nextMessage("published", RUN_TIMEOUT_S * 1000 + 10_000);
    tell({ type: "run", engine, count, credit: deliveries.lead });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no end within ${RUN_TIMEOUT_S} s: ${deliveries.describe()}`)), RUN_TIMEOUT_S * 1000)));
    const [{ startedAt, ms: publishMs, failed }] = await Promise.race([Promise.all([published, deliveries.done]), timedOut]).finally(() => clearTimeout(timer));
    const seconds = (deliveries.lastAt - (startedAt - clockOffset)) / 1000;
    const lags = deliveries.lags.subarray(0, deliveries.lagCount).sort();
    const result = { rate: deliveries.delivered / seconds, p50: percentile(lags, 0.5), p99: percentile(lags, 0.99), delivered: deliveries.delivered, gaps: deliveries.gaps, publishRate: count / (publishMs / 1000), publishFailed: failed };
    log(
      `  ${key.padEnd(6)} × ${String(subscribers).padStart(4)}: ${Math.round(result.rate).toLocaleString("en-US")} items/s delivered (${result.delivered}/${subscribers * count}${result.gaps ? `, ${result.gaps} in gaps` : ""}${failed ? `, ${failed} publishes failed` : ""}), ` +
        `p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms; published at ${Math.round(result.publishRate).toLocaleString("en-US")} items/s; attached in ${(attachMs / 1000).toFixed(1)} s`,
    );
    return result;
  } catch (error) {
    tell({ type: "abort" });
    waiters.delete("published");
    if (key !== "memory") await describeConsumers().catch(() => undefined);
    throw error;
  } finally {
    await attached.close();
    await sleep(500);
    if (key !== "memory") await purgeConsumers(`${key} × ${subscribers}`);
  }
}

// ---------------------------------------------------------------- the runs and the report

const results = new Map<number, Partial<Record<Key, RunResult[]>>>();
async function measure(): Promise<void> {
  for (const subscribers of SUBSCRIBERS) {
    const count = countFor(subscribers);
    const byKey: Partial<Record<Key, RunResult[]>> = {};
    results.set(subscribers, byKey);
    log(`${subscribers} subscriber(s), ${count.toLocaleString("en-US")} items each (${(subscribers * count).toLocaleString("en-US")} deliveries a run), lead ${leadFor(subscribers)} items, pull-ahead ${pullFor(subscribers)}`);
    if (WARMUP) {
      log(" warm-up round (uncounted)");
      for (const { key } of active) await oneRun(key, subscribers, Math.max(10, Math.round(count / 10))).catch((error: unknown) => log(`  ${key} warm-up failed: ${String(error)}`));
    }
    for (let run = 0; run < RUNS; run++) {
      log(` run ${run + 1}/${RUNS}`);
      // Rotate the order, so no contender always runs first or last.
      const order = active.map((_, i) => active[(i + run) % active.length]!);
      for (const { key } of order) {
        try {
          (byKey[key] ??= []).push(await oneRun(key, subscribers, count));
        } catch (error) {
          log(`  ${key} × ${subscribers} failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
  }
}

function report(): void {
  const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");
  const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : "–");
  const spread = (values: number[], f: (n: number) => string) => (values.length ? `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})` : "–");
  const rates = (runs: RunResult[] | undefined) => (runs ?? []).map((r) => r.rate);
  const ratio = (a: RunResult[] | undefined, b: RunResult[] | undefined) => (a?.length && b?.length ? median(rates(a)) / median(rates(b)) : NaN);
  const lines: string[] = [];
  lines.push(`### Fan-out: items/s delivered, summed over the subscribers (median of ${RUNS} runs, min–max)`, "");
  const ratios = PEERS.has("natsjs") ? active.filter((c) => c.key !== "natsjs") : [];
  lines.push(`| subscribers | items each | ${active.map((c) => c.label).join(" | ")} | ${ratios.map((c) => `${c.key === "nats" ? "NATS engine" : "memory engine"} / nats.js`).join(" | ")} |`);
  lines.push(`|---:|---:|${active.map(() => "---:").join("|")}|${ratios.map(() => "---:").join("|")}|`);
  for (const [subscribers, byKey] of results) {
    lines.push(`| ${fmt(subscribers)} | ${fmt(countFor(subscribers))} | ${active.map((c) => spread(rates(byKey[c.key]), fmt)).join(" | ")} | ${ratios.map((c) => `${ratio(byKey[c.key], byKey.natsjs).toFixed(2)}×`).join(" | ")} |`);
  }
  lines.push("", `### Publish-to-delivery latency in the same runs, ms: p50 / p99 (medians; p99 min–max)`, "");
  lines.push(`| subscribers | ${active.map((c) => c.label).join(" | ")} |`, `|---:|${active.map(() => "---:").join("|")}|`);
  for (const [subscribers, byKey] of results) {
    lines.push(
      `| ${fmt(subscribers)} | ${active
        .map((c) => {
          const runs = byKey[c.key] ?? [];
          return runs.length ? `${ms(median(runs.map((r) => r.p50)))} / ${spread(runs.map((r) => r.p99), ms)}` : "–";
        })
        .join(" | ")} |`,
    );
  }
  const notes: string[] = [];
  for (const [subscribers, byKey] of results) {
    for (const c of active) {
      const runs = byKey[c.key] ?? [];
      const gaps = runs.reduce((n, r) => n + r.gaps, 0);
      if (gaps) notes.push(`${c.label} × ${subscribers}: ${gaps} items in gaps`);
      if (runs.length < RUNS) notes.push(`${c.label} × ${subscribers}: ${RUNS - runs.length} of ${RUNS} runs failed`);
    }
    const publish = active.map((c) => `${c.key} ${fmt(median((byKey[c.key] ?? []).map((r) => r.publishRate)))}`).join(", ");
    notes.push(`publish rate × ${subscribers} (items/s, median): ${publish}`);
  }
  lines.push("", ...notes.map((n) => `- ${n}`));
  if (PEERS.has("nats") && PEERS.has("natsjs")) {
    lines.push("", "Goal (NATS engine ≥ 0.8× nats.js consumers, per subscriber count):");
    for (const [subscribers, byKey] of results) {
      const r = ratio(byKey.nats, byKey.natsjs);
      lines.push(`- ${subscribers}: ${r.toFixed(2)}× ${r >= 0.8 ? "met" : "NOT met"}`);
    }
  }
  lines.push(
    "",
    `node ${process.version}, nats-server ${natsVersion} (memory stream); ${SIZE} B items; Sluice server and publisher in one child process, the subscribers in another, everything on 127.0.0.1. ` +
      `Sluice subscribers: client-node over HTTP/2, window ${WINDOW.items} items / ${WINDOW.bytes / 1024} KiB each, ${PER_CONNECTION} per connection; nats.js: ordered consumers, ${PER_CONNECTION} per connection. JetStream pull-ahead per consumer (NATS engine pullAhead, nats.js max_messages): ${SUBSCRIBERS.map((n) => `${pullFor(n)} (× ${n})`).join(", ")}. ` +
      `Publisher at most ${SUBSCRIBERS.map((n) => `${leadFor(n)} items (× ${n})`).join(", ")} ahead of the slowest subscriber; ${WARMUP ? "an uncounted warm-up round per subscriber count, " : ""}contenders interleaved and rotated.`,
  );
  console.log(lines.join("\n"));
  const json = [...results].map(([subscribers, byKey]) => ({ subscribers, items: countFor(subscribers), ...Object.fromEntries(active.map((c) => [c.key, byKey[c.key] ?? []])) }));
  console.log(JSON.stringify({ bench: "fanout", node: process.version, nats: natsVersion, size: SIZE, lead: Object.fromEntries(SUBSCRIBERS.map((n) => [n, leadFor(n)])), pull: Object.fromEntries(SUBSCRIBERS.map((n) => [n, pullFor(n)])), window: WINDOW, perConnection: PER_CONNECTION, runs: RUNS, clockOffsetMs: clockOffset, results: json }));
}

await runBench(log, setup, [measure, report], cleanup);
