/**
 * One run of latency-load-bench.ts on one client, the same code in Node
 * (client-node) and in the page (client-web): it subscribes to the server's
 * "load" topic, has the server publish (GET /start, /stop of
 * latency-load-bench-server.ts) and measures at the app's for-await loop.
 * Only web-platform APIs (fetch, performance), so esbuild bundles it for the page.
 */
import type { ItemCodec, SluiceClient } from "@sluice/client-node";
import type { ProcessStats } from "./latency-load-gc.js";

/** What the server's /stop answers. */
export interface ServerRunStats {
  readonly published: number;
  readonly ms: number;
  readonly ticks: number;
  readonly maxTickGapMs: number;
  readonly tickGapsOver2ms: number;
  readonly dropped: number;
  readonly maxQueued: number;
  /** The server's own item latency, source yield → chunk handed to the transport (sampled ≤ once / 10 ms). */
  readonly sent: { readonly samples: number; readonly p50: number; readonly p99: number; readonly max: number };
  /** The server process's GC pauses and event-loop delay during the run. */
  readonly process: ProcessStats;
}

export interface MaxRateResult {
  /** Items per second at the app over the measured window. */
  readonly rate: number;
  readonly items: number;
  readonly gaps: number;
  readonly server: ServerRunStats;
}

export interface LoadResult {
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  /** Items of the measured part that reached the app, and how many were published for it. */
  readonly received: number;
  readonly expected: number;
  readonly gaps: number;
  /** The server's clock minus this one's (taken off every latency), and its uncertainty (half the best round trip). */
  readonly offsetMs: number;
  readonly offsetErrorMs: number;
  readonly server: ServerRunStats;
  /** The client process's GC and event-loop delay (Node clients only, filled in by the bench). */
  readonly client?: ProcessStats;
}

const wallClock = () => performance.timeOrigin + performance.now();

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { cache: "no-store" });
  const body = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(`${url}: ${response.status} ${body.error ?? ""}`);
  return body;
}

/** The server's clock minus this one's, from the /clock round trip with the smallest delay. */
export async function clockOffset(base: string, samples = 30): Promise<{ offsetMs: number; errorMs: number }> {
  let best = Infinity;
  let offsetMs = 0;
  for (let i = 0; i < samples; i++) {
    const sent = wallClock();
    const { at } = await getJson<{ at: number }>(`${base}/clock`);
    const received = wallClock();
    if (received - sent < best) {
      best = received - sent;
      offsetMs = at - (sent + received) / 2;
    }
  }
  return { offsetMs, errorMs: best / 2 };
}

/** Reads an item's header: publish time, index, run id. */
function header(data: Uint8Array): { at: number; index: number; run: number } {
  const view = new DataView(data.buffer, data.byteOffset, 16);
  return { at: view.getFloat64(0), index: view.getUint32(8), run: view.getUint32(12) };
}

/** A subscription to "load" that reports when the server sees it, ended by `signal`. */
/**
 * Reads the "load" stream until `onItem` returns true (or `signal` aborts
 * it): gaps are counted, items handed on. Resolves with the gapped count.
 */
async function readItems(client: SluiceClient, codec: ItemCodec<Uint8Array>, signal: AbortSignal, onItem: (value: Uint8Array) => boolean | void): Promise<number> {
  let gaps = 0;
  try {
    for await (const event of client.subscribe("load", { codec, signal })) {
      if (event.kind === "gap") gaps += event.count;
      else if (event.kind === "item" && onItem(event.value)) break;
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
  return gaps;
}

/**
 * Maximum sustained rate: the server publishes as fast as this subscriber
 * takes items; items/s at the app between `warmupMs` and `warmupMs +
 * measureMs` after the first item.
 */
export async function maxRateRun(client: SluiceClient, codec: ItemCodec<Uint8Array>, base: string, options: { run: number; warmupMs: number; measureMs: number; timeoutMs: number }): Promise<MaxRateResult> {
  const abort = new AbortController();
  const timeout = setTimeout(() => abort.abort(), options.timeoutMs);
  let items = 0;
  let gaps = 0;
  let firstAt = 0;
  let countedFrom = 0;
  let countedTo = 0;
  const reading = readItems(client, codec, abort.signal, (value) => {
    if (header(value).run !== options.run) return;
    const now = performance.now();
    if (!firstAt) firstAt = now;
    const t = now - firstAt;
    if (t < options.warmupMs) return;
    if (!countedFrom) countedFrom = now;
    countedTo = now;
    items++;
    return t >= options.warmupMs + options.measureMs;
  });
  try {
    await getJson(`${base}/start?mode=max&run=${options.run}`);
    gaps = await reading;
  } finally {
    clearTimeout(timeout);
  }
  const server = await getJson<ServerRunStats>(`${base}/stop`);
  if (items < 2) throw new Error(`max-rate run: ${items} items measured`);
  return { rate: ((items - 1) * 1000) / (countedTo - countedFrom), items, gaps, server };
}

/**
 * Latency at a given rate: the server publishes `rate` items/s evenly for
 * `warmupMs + measureMs`; each item of the measured part is timed from its
 * publish time to the moment this for-await loop has it.
 */
export async function loadRun(client: SluiceClient, codec: ItemCodec<Uint8Array>, base: string, options: { run: number; rate: number; warmupMs: number; measureMs: number; timeoutMs: number }): Promise<LoadResult> {
  const { offsetMs, errorMs } = await clockOffset(base);
  const warmItems = Math.round((options.rate * options.warmupMs) / 1000);
  const expected = Math.round((options.rate * options.measureMs) / 1000);
  const total = warmItems + expected;
  const lags = new Float64Array(expected);
  let received = 0;
  let gaps = 0;
  const abort = new AbortController();
  const timeout = setTimeout(() => abort.abort(), options.timeoutMs);
  const reading = readItems(client, codec, abort.signal, (value) => {
    const arrived = wallClock();
    const { at, index, run } = header(value);
    if (run !== options.run) return;
    if (index >= warmItems) lags[received++] = arrived + offsetMs - at;
    return index >= total - 1;
  });
  try {
    await getJson(`${base}/start?mode=paced&run=${options.run}&rate=${options.rate}&items=${total}`);
    gaps = await reading;
  } finally {
    clearTimeout(timeout);
  }
  const server = await getJson<ServerRunStats>(`${base}/stop`);
  const sorted = lags.subarray(0, received).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: sorted[sorted.length - 1] ?? NaN, received, expected, gaps, offsetMs, offsetErrorMs: errorMs, server };
}
