/**
 * Publishing: publish-to-ack items/s of Sluice (client-node `publish` into a
 * topic, over HTTP/2 and over WebSocket) against Socket.IO 4.8 `emitWithAck`
 * and nats.js JetStream `js.publish` (PubAck from a memory-storage stream on
 * the local nats-server), in the same run, at 64 B, 1 KiB and 16 KiB; then
 * publish-to-delivery latency at half of each one's maximum rate.
 *
 *   npm run bench:publish          (BENCH_RUNS=5 by default)
 *
 * The Sluice and Socket.IO servers run in a child process
 * (publish-bench-server.ts), so client and server each get a core; the
 * nats-server is the machine's (SLUICE_NATS_URL, default 127.0.0.1:4222).
 *
 * Throughput: each run publishes `count` items of `size` bytes (raw bytes,
 * no JSON) on a fresh connection, after one warm-up item that waits for the
 * connection, and times the first send to the last ack. Sluice's publisher
 * is used as documented: the application calls send() and the publisher
 * keeps what the server's window allows in flight (default 1 024 items /
 * 1 MiB); the bench only keeps its own pending sends under 8 192. The peers
 * have no window of their own, so the bench keeps as many acks in flight as
 * Sluice's window allows at that size: min(1 024, 1 MiB / size) (a fair,
 * pipelined use of their idioms). Contenders are interleaved within each
 * run; the table shows medians of BENCH_RUNS runs with the min–max spread.
 *
 * Latency: a subscriber on the same topic (Sluice: client-node subscribe on
 * the same transport; JetStream: an ordered consumer), each item carrying its
 * send time (performance.timeOrigin + performance.now(), one process), while
 * the publisher sends at half the median maximum rate measured above at
 * BENCH_LATENCY_SIZE (default 1 KiB) for BENCH_LATENCY_SECONDS (default 5).
 *
 * Environment:
 *   BENCH_RUNS=5               throughput runs per size
 *   BENCH_QUICK=1              counts / 10, latency 1 s × 1 run, 1 run unless BENCH_RUNS
 *   BENCH_SCALE=0.01           multiply every item count (smoke runs)
 *   BENCH_SIZES=64,1024        only these sizes
 *   BENCH_PEERS=h2,ws,socketio,jetstream   contenders to run
 *   BENCH_INFLIGHT=1024        the peers' acks in flight (default: Sluice's window at that size)
 *   BENCH_PUBLISH_WINDOW=1024,16777216   the topic's publish window (items,bytes; default the server's)
 *   BENCH_FLUSH_MS=5           the topic's chunk flush deadline for subscribers (default the server's)
 *   BENCH_WARMUP=0             skip the uncounted warm-up round (a tenth of the count) before each size
 *   BENCH_LATENCY=0            skip the latency part
 *   BENCH_LATENCY_SIZE=1024, BENCH_LATENCY_SECONDS=5, BENCH_LATENCY_RUNS=3
 *   BENCH_LATENCY_RATE=20000   publish at this rate instead of half the measured maximum
 *   BENCH_TIMEOUT_S=1800       the whole bench gives up (and cleans up) after this
 *   SLUICE_NATS_URL=127.0.0.1:4222
 */
import type { ChildProcess } from "node:child_process";
import { bytes, createSluiceClient } from "@sluice/client-node";
import { DEFAULT_PUBLISH_WINDOW } from "@sluice/server";
import { DeliverPolicy, DiscardPolicy, StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { io as socketIo } from "socket.io-client";
import { benchLog, median, runBench, payload, selectContenders, sleep, startBenchServer, wallClock, withTimeout } from "./bench-common.js";

const env = process.env;
const QUICK = env.BENCH_QUICK === "1";
const RUNS = Number(env.BENCH_RUNS ?? (QUICK ? 1 : 5));
const SCALE = Number(env.BENCH_SCALE ?? (QUICK ? 0.1 : 1));
const NATS_URL = env.SLUICE_NATS_URL ?? "127.0.0.1:4222";
const LATENCY = env.BENCH_LATENCY !== "0";
const LATENCY_SIZE = Number(env.BENCH_LATENCY_SIZE ?? 1024);
const LATENCY_SECONDS = Number(env.BENCH_LATENCY_SECONDS ?? (QUICK ? 1 : 5));
const LATENCY_RUNS = Number(env.BENCH_LATENCY_RUNS ?? (QUICK ? 1 : 3));
const TIMEOUT_S = Number(env.BENCH_TIMEOUT_S ?? 1800);
const WARMUP = env.BENCH_WARMUP !== "0";
/** The publish window: the server's default unless BENCH_PUBLISH_WINDOW=items,bytes. */
const WINDOW = (() => {
  const [items, windowBytes] = (env.BENCH_PUBLISH_WINDOW ?? "").split(",").map(Number);
  return items && windowBytes ? { items, bytes: windowBytes } : { items: DEFAULT_PUBLISH_WINDOW.items, bytes: DEFAULT_PUBLISH_WINDOW.bytes };
})();
/** Sends the bench lets the Sluice publisher hold at once (under its 10 000-item queue). */
const SLUICE_PENDING = 8192;

const ALL_CASES = [
  { size: 64, count: 200_000 },
  { size: 1024, count: 100_000 },
  { size: 16 * 1024, count: 20_000 },
];
const CASES = (() => {
  const sizes = env.BENCH_SIZES?.split(",").map(Number);
  return (sizes ? ALL_CASES.filter((c) => sizes.includes(c.size)) : ALL_CASES).map((c) => ({ size: c.size, count: Math.max(10, Math.round(c.count * SCALE)) }));
})();

const CONTENDERS = [
  { key: "h2", label: "Sluice HTTP/2" },
  { key: "ws", label: "Sluice WebSocket" },
  { key: "socketio", label: "Socket.IO 4.8 emitWithAck" },
  { key: "jetstream", label: "JetStream publish" },
] as const;
type Key = (typeof CONTENDERS)[number]["key"];
const { active, peers: PEERS } = selectContenders<Key, (typeof CONTENDERS)[number]>(CONTENDERS);

const log = benchLog("publish-bench");
const inflightFor = (size: number) => Number(env.BENCH_INFLIGHT ?? Math.max(1, Math.min(WINDOW.items, Math.floor(WINDOW.bytes / size))));


// ---------------------------------------------------------------- setup

let child: ChildProcess | undefined;
let nats: { nc: NatsConnection; stream: string; subject: string } | undefined;
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  child?.kill("SIGTERM");
  if (nats) {
    try {
      await withTimeout((await jetstreamManager(nats.nc)).streams.delete(nats.stream), 5_000, "deleting the JetStream stream");
      log(`deleted JetStream stream ${nats.stream}`);
    } catch (error) {
      log(`could not delete JetStream stream ${nats.stream}: ${String(error)}`);
    }
    await nats.nc.close().catch(() => undefined);
  }
}
const watchdog = setTimeout(() => {
  log(`gave up after ${TIMEOUT_S} s (BENCH_TIMEOUT_S)`);
  void cleanup().finally(() => process.exit(1));
}, TIMEOUT_S * 1000);
watchdog.unref();
process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));

let urls!: { http2: string; websocket: string; socketio: string };
let natsVersion = "";
async function setup(): Promise<void> {
  const started = await startBenchServer<typeof urls>("./publish-bench-server.ts");
  child = started.child;
  urls = started.urls;
  if (PEERS.has("jetstream")) {
    const nc = await natsConnect({ servers: NATS_URL, name: "publish-bench-admin" });
    natsVersion = nc.info?.version ?? "?";
    const stream = `sluice_publish_bench_${process.pid}_${Date.now().toString(36)}`;
    const subject = `${stream}.items`;
    nats = { nc, stream, subject };
    // Bounded as the Sluice topic's history: 10 000 items / 64 MiB, oldest dropped.
    await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [subject], storage: StorageType.Memory, max_msgs: 10_000, max_bytes: 64 << 20, discard: DiscardPolicy.Old, num_replicas: 1 });
    log(`nats-server ${natsVersion} at ${NATS_URL}: memory stream ${stream}`);
  }
}

// ---------------------------------------------------------------- throughput

/**
 * Sends `count` items with at most `maxPending` unsettled, refilling once a
 * sixteenth of them settled; returns the ms from the first send to the last ack.
 */
async function drive(count: number, maxPending: number, send: () => Promise<unknown>): Promise<number> {
  let sent = 0;
  let settled = 0;
  let failed = 0;
  let firstError: unknown;
  let lastAt = 0;
  let wakeAt = Infinity;
  let wake: () => void = () => undefined;
  const refill = Math.max(1, Math.ceil(maxPending / 16));
  const onSettled = () => {
    settled++;
    lastAt = performance.now();
    if (settled >= wakeAt) {
      wakeAt = Infinity;
      wake();
    }
  };
  const onFailed = (error: unknown) => {
    failed++;
    firstError ??= error;
    onSettled();
  };
  const settledUpTo = (n: number) => new Promise<void>((resolve) => ((wakeAt = n), (wake = resolve)));
  const start = performance.now();
  while (sent < count) {
    if (sent - settled >= maxPending) await settledUpTo(sent - maxPending + refill);
    sent++;
    send().then(onSettled, onFailed);
  }
  if (settled < count) await settledUpTo(count);
  if (failed) throw new Error(`${failed} of ${count} sends failed, the first: ${firstError instanceof Error ? firstError.message : String(firstError)}`);
  return lastAt - start;
}

async function sluiceThroughput(transport: "http" | "websocket", size: number, count: number): Promise<number> {
  const client = createSluiceClient({ baseUrl: transport === "http" ? urls.http2 : urls.websocket, transport });
  try {
    const publisher = client.publish<Uint8Array>("topic", { codec: bytes() });
    const data = payload(size);
    await publisher.send(data);
    const ms = await drive(count, SLUICE_PENDING, () => publisher.send(data));
    const stats = publisher.stats;
    await publisher.close();
    if (stats.acked !== count + 1) throw new Error(`sluice ${transport}: ${stats.acked} of ${count + 1} acked`);
    if (stats.sessions !== 1 || stats.retries !== 0) log(`  warning: sluice ${transport} used ${stats.sessions} sessions, ${stats.retries} retries`);
    return ms;
  } finally {
    client.close();
  }
}

async function socketIoThroughput(size: number, count: number): Promise<number> {
  const socket = socketIo(urls.socketio, { transports: ["websocket"], forceNew: true, reconnection: false });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    const data = payload(size);
    const warm = (await socket.emitWithAck("publish", data)) as number;
    let last = 0;
    const ms = await drive(count, inflightFor(size), () => socket.emitWithAck("publish", data).then((seq: number) => (last = seq)));
    // One publisher at a time, acked in order: the last ack is `count` past the warm-up's.
    if (last - warm !== count) throw new Error(`socket.io: seqs ${warm}..${last} for ${count} items`);
    return ms;
  } finally {
    socket.disconnect();
  }
}

async function jetStreamThroughput(size: number, count: number): Promise<number> {
  const nc = await natsConnect({ servers: NATS_URL, name: "publish-bench" });
  try {
    const js = jetstream(nc);
    const data = payload(size);
    await js.publish(nats!.subject, data);
    let acked = 0;
    const ms = await drive(count, inflightFor(size), () => js.publish(nats!.subject, data).then(() => acked++));
    if (acked !== count) throw new Error(`jetstream: ${acked} of ${count} acked`);
    return ms;
  } finally {
    await nc.close();
  }
}

const throughput: Record<Key, (size: number, count: number) => Promise<number>> = {
  h2: (size, count) => sluiceThroughput("http", size, count),
  ws: (size, count) => sluiceThroughput("websocket", size, count),
  socketio: socketIoThroughput,
  jetstream: jetStreamThroughput,
};

/** items/s of every run, by size and contender. */
const rates = new Map<number, Partial<Record<Key, number[]>>>();
async function measureThroughput(): Promise<void> {
  for (const { size, count } of CASES) {
    const bySize: Partial<Record<Key, number[]>> = {};
    rates.set(size, bySize);
    // One uncounted round at a tenth of the count: JIT and connection pools warm for every contender alike.
    if (WARMUP) {
      for (const { key, label } of active) await withTimeout(throughput[key](size, Math.max(10, Math.round(count / 10))), 180_000, `${label}, ${size} B warm-up`);
      log(`${size} B warm-up round done`);
    }
    for (let run = 0; run < RUNS; run++) {
      // Interleave contenders so machine noise hits all of them alike; rotate who goes first.
      for (let i = 0; i < active.length; i++) {
        const { key, label } = active[(i + run) % active.length]!;
        const ms = await withTimeout(throughput[key](size, count), 180_000, `${label}, ${size} B`);
        const rate = (count / ms) * 1000;
        (bySize[key] ??= []).push(rate);
        log(`${size} B run ${run + 1}/${RUNS}: ${label.padEnd(26)} ${Math.round(rate).toString().padStart(8)} items/s (${count} items, ${ms.toFixed(0)} ms)`);
      }
    }
  }
}

// ---------------------------------------------------------------- latency

/** What a subscriber saw: delivery lags of items sent at or after `from` (wall ms). */
class Deliveries {
  readonly lags: number[] = [];
  gaps = 0;
  warmed = false;
  from = Infinity;
  #expected = Infinity;
  #done: () => void = () => undefined;
  readonly done = new Promise<void>((resolve) => (this.#done = resolve));

  item(data: Uint8Array): void {
    const at = new DataView(data.buffer, data.byteOffset, 8).getFloat64(0, true);
    this.warmed = true;
    if (at < this.from) return;
    this.lags.push(wallClock() - at);
    if (this.lags.length >= this.#expected) this.#done();
  }

  /** Resolves once `expected` measured items arrived (or after 10 s: then some are missing). */
  async finish(expected: number): Promise<void> {
    this.#expected = expected;
    if (this.lags.length >= expected) return;
    await Promise.race([this.done, sleep(10_000)]);
  }
}

/** A fresh `size`-byte item stamped with the wall clock (little-endian float64 in its first 8 bytes). */
function stamped(template: Uint8Array): Uint8Array {
  const item = template.slice();
  new DataView(item.buffer).setFloat64(0, wallClock(), true);
  return item;
}

/** Sends until the subscriber got one item: the whole path is live. */
async function warmUp(send: () => Promise<unknown>, deliveries: Deliveries): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!deliveries.warmed) {
    if (performance.now() > deadline) throw new Error("warm-up: the subscriber got nothing within 10 s");
    send().catch(() => undefined);
    await sleep(100);
  }
}

interface Paced {
  readonly sent: number;
  readonly failed: number;
  /** The offered rate could not be kept: more than a second of items unacked. */
  readonly behind: boolean;
  readonly offered: number;
}

/** Sends at `rate` items/s for `seconds` (1 ms ticks, each sending what is due), then waits for every ack. */
async function paced(rate: number, seconds: number, send: () => Promise<unknown>, deliveries: Deliveries): Promise<Paced> {
  let sent = 0;
  let settled = 0;
  let failed = 0;
  let behind = false;
  const onSettled = () => void settled++;
  const onFailed = () => {
    failed++;
    settled++;
  };
  deliveries.from = wallClock();
  const start = performance.now();
  for (;;) {
    const elapsed = performance.now() - start;
    if (elapsed >= seconds * 1000) break;
    const due = Math.floor((elapsed * rate) / 1000);
    if (due - settled > Math.max(rate, 2048)) {
      behind = true;
      break;
    }
    while (sent < due) {
      sent++;
      send().then(onSettled, onFailed);
    }
    await sleep(1);
  }
  const offered = sent / ((performance.now() - start) / 1000);
  const deadline = performance.now() + 10_000;
  while (settled < sent && performance.now() < deadline) await sleep(5);
  return { sent, failed, behind, offered };
}

interface LatencyRun {
  readonly rate: number;
  readonly paced: Paced;
  readonly lags: number[];
  readonly gaps: number;
}

async function sluiceLatency(transport: "http" | "websocket", size: number, rate: number): Promise<LatencyRun> {
  const baseUrl = transport === "http" ? urls.http2 : urls.websocket;
  // Publisher and subscriber on connections of their own, as two processes would be.
  const subscriberClient = createSluiceClient({ baseUrl, transport });
  const publisherClient = createSluiceClient({ baseUrl, transport });
  const deliveries = new Deliveries();
  try {
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const stream = subscriberClient.subscribe<Uint8Array>("topic", { codec: bytes(), onState: (s) => s.state === "open" && opened() });
    const reading = (async () => {
      for await (const event of stream) {
        if (event.kind === "gap") deliveries.gaps += event.count;
        else deliveries.item(event.value);
      }
    })().catch((error: unknown) => log(`  subscriber (${transport}) ended: ${String(error)}`));
    await withTimeout(open, 10_000, `sluice ${transport} subscriber`);
    const publisher = publisherClient.publish<Uint8Array>("topic", { codec: bytes() });
    const template = payload(size);
    const send = () => publisher.send(stamped(template));
    await warmUp(send, deliveries);
    const result = await paced(rate, LATENCY_SECONDS, send, deliveries);
    await deliveries.finish(result.sent);
    await publisher.close();
    stream.cancel();
    await reading;
    return { rate, paced: result, lags: deliveries.lags, gaps: deliveries.gaps };
  } finally {
    publisherClient.close();
    subscriberClient.close();
  }
}

async function jetStreamLatency(size: number, rate: number): Promise<LatencyRun> {
  const publisherConnection = await natsConnect({ servers: NATS_URL, name: "publish-bench-publisher" });
  const subscriberConnection = await natsConnect({ servers: NATS_URL, name: "publish-bench-subscriber" });
  const deliveries = new Deliveries();
  try {
    const consumer = await jetstream(subscriberConnection).consumers.get(nats!.stream, { deliver_policy: DeliverPolicy.New });
    const messages = await consumer.consume({ callback: (m) => deliveries.item(m.data) });
    const js = jetstream(publisherConnection);
    const template = payload(size);
    const send = () => js.publish(nats!.subject, stamped(template));
    await warmUp(send, deliveries);
    const result = await paced(rate, LATENCY_SECONDS, send, deliveries);
    await deliveries.finish(result.sent);
    await messages.close();
    return { rate, paced: result, lags: deliveries.lags, gaps: 0 };
  } finally {
    await publisherConnection.close();
    await subscriberConnection.close();
  }
}

const percentile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]! : NaN);
const latencyRows: { label: string; size: number; runs: LatencyRun[] }[] = [];
async function measureLatency(): Promise<void> {
  const latencySize = rates.has(LATENCY_SIZE) ? LATENCY_SIZE : CASES[0]?.size;
  if (LATENCY && latencySize !== undefined) {
    const latencyContenders = active.filter((c) => c.key !== "socketio");
    const halfMax = (key: Key) => Number(env.BENCH_LATENCY_RATE ?? Math.round(median(rates.get(latencySize)![key]!) / 2));
    const runners: Partial<Record<Key, (rate: number) => Promise<LatencyRun>>> = {
      h2: (rate) => sluiceLatency("http", latencySize, rate),
      ws: (rate) => sluiceLatency("websocket", latencySize, rate),
      jetstream: (rate) => jetStreamLatency(latencySize, rate),
    };
    const byKey = new Map<Key, LatencyRun[]>();
    for (let run = 0; run < LATENCY_RUNS; run++) {
      for (const { key, label } of latencyContenders) {
        const rate = halfMax(key);
        const result = await withTimeout(runners[key]!(rate), LATENCY_SECONDS * 1000 + 60_000, `${label} latency`);
        const sorted = [...result.lags].sort((a, b) => a - b);
        byKey.set(key, [...(byKey.get(key) ?? []), { ...result, lags: sorted }]);
        log(
          `latency ${latencySize} B run ${run + 1}/${LATENCY_RUNS}: ${label.padEnd(26)} at ${rate} items/s (offered ${Math.round(result.paced.offered)}${result.paced.behind ? ", FELL BEHIND" : ""}): ` +
            `${sorted.length}/${result.paced.sent} delivered, p50 ${percentile(sorted, 0.5).toFixed(2)} ms, p99 ${percentile(sorted, 0.99).toFixed(2)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(2)} ms`,
        );
      }
    }
    for (const { key, label } of latencyContenders) latencyRows.push({ label, size: latencySize, runs: byKey.get(key)! });
  }
}

// ---------------------------------------------------------------- report

function report(): void {
  const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");
  const cell = (values: number[] | undefined) => (values?.length ? `${fmt(median(values))} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})` : "–");
  const ratio = (a: number[] | undefined, b: number[] | undefined) => (a?.length && b?.length ? `${(median(a) / median(b)).toFixed(2)}×` : "–");
  const lines: string[] = [];
  lines.push(`### Publishing: publish-to-ack items/s (median of ${RUNS} runs, min–max)`, "");
  const ratioColumns = (["h2", "ws"] as const).flatMap((s) => (["socketio", "jetstream"] as const).map((p) => [s, p] as const)).filter(([s, p]) => PEERS.has(s) && PEERS.has(p));
  const short: Record<Key, string> = { h2: "HTTP/2", ws: "WS", socketio: "Socket.IO", jetstream: "JetStream" };
  lines.push(`| item | items | ${active.map((c) => c.label).join(" | ")} | ${ratioColumns.map(([s, p]) => `${short[s]} / ${short[p]}`).join(" | ")} |`);
  lines.push(`|---|---:|${active.map(() => "---:").join("|")}|${ratioColumns.map(() => "---:").join("|")}|`);
  for (const { size, count } of CASES) {
    const r = rates.get(size)!;
    lines.push(`| ${size >= 1024 ? `${size / 1024} KiB` : `${size} B`} | ${fmt(count)} | ${active.map((c) => cell(r[c.key])).join(" | ")} | ${ratioColumns.map(([s, p]) => ratio(r[s], r[p])).join(" | ")} |`);
  }
  if (latencyRows.length) {
    lines.push("", `### Publish-to-delivery latency at half the maximum rate (${latencyRows[0]!.size >= 1024 ? `${latencyRows[0]!.size / 1024} KiB` : `${latencyRows[0]!.size} B`} items, ${LATENCY_SECONDS} s × ${LATENCY_RUNS} runs; medians, p99 min–max)`, "");
    lines.push("| publisher → subscriber | rate items/s | delivered | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|---:|");
    for (const { label, runs } of latencyRows) {
      const p99s = runs.map((r) => percentile(r.lags, 0.99));
      const delivered = runs.reduce((n, r) => n + r.lags.length, 0);
      const sent = runs.reduce((n, r) => n + r.paced.sent, 0);
      const notes = [runs.some((r) => r.paced.behind) ? "fell behind" : "", runs.some((r) => r.gaps) ? `${runs.reduce((n, r) => n + r.gaps, 0)} in gaps` : "", runs.some((r) => r.paced.failed) ? "sends failed" : ""].filter(Boolean).join(", ");
      lines.push(
        `| ${label}${notes ? ` (${notes})` : ""} | ${fmt(median(runs.map((r) => r.rate)))} | ${delivered}/${sent} | ${median(runs.map((r) => percentile(r.lags, 0.5))).toFixed(2)} | ${median(p99s).toFixed(2)} (${Math.min(...p99s).toFixed(2)}–${Math.max(...p99s).toFixed(2)}) | ${Math.max(...runs.map((r) => r.lags.at(-1) ?? NaN)).toFixed(2)} |`,
      );
    }
  }

  // The issue's goals, where this run measured them.
  const goals: string[] = [];
  const goal = (what: string, value: number, target: number, atMost = false) => goals.push(`- ${what}: ${value.toFixed(2)} (goal ${atMost ? "≤" : "≥"} ${target}) ${(atMost ? value <= target : value >= target) ? "met" : "NOT met"}`);
  for (const s of ["h2", "ws"] as const) {
    const r64 = rates.get(64);
    if (r64?.[s]?.length && r64.socketio?.length) goal(`${short[s]} / Socket.IO at 64 B`, median(r64[s]) / median(r64.socketio), 5);
    const r1k = rates.get(1024);
    if (r1k?.[s]?.length && r1k.jetstream?.length) goal(`${short[s]} / JetStream at 1 KiB`, median(r1k[s]) / median(r1k.jetstream), 1);
  }
  for (const { label, runs } of latencyRows) if (label.startsWith("Sluice")) goal(`${label} publish-to-delivery p99 ms at half the maximum rate`, median(runs.map((r) => percentile(r.lags, 0.99))), 10, true);
  if (goals.length) lines.push("", "Goals:", ...goals);

  lines.push(
    "",
    `node ${process.version}${natsVersion ? `, nats-server ${natsVersion} (memory stream, PubAck per item)` : ""}; Sluice and Socket.IO servers in one child process, everything on 127.0.0.1. ` +
      `Raw-byte payloads; ${WARMUP ? "an uncounted warm-up round per size, then " : ""}each run on a fresh connection after one warm-up item, timed from the first send to the last ack. ` +
      `Sluice: client.publish + send() per item, its publish window ${env.BENCH_PUBLISH_WINDOW ? "" : "the server default, "}${WINDOW.items} items / ${+(WINDOW.bytes / 2 ** 20).toFixed(2)} MiB${env.BENCH_FLUSH_MS ? `, subscriber flush deadline ${env.BENCH_FLUSH_MS} ms` : ""}; ` +
      `Socket.IO (websocket transport, no perMessageDeflate) and JetStream: up to ${CASES.map((c) => `${inflightFor(c.size)} at ${c.size} B`).join(", ")} acks in flight (the same window). ` +
      `Histories bounded alike: 10 000 items / 64 MiB.`,
  );
  console.log(lines.join("\n"));
}

await runBench(log, setup, [measureThroughput, measureLatency, report], cleanup);
