/**
 * The server side of latency-load-bench.ts, in its own process: listen() on
 * its default one port (h2c + HTTP/1.1 + WebSocket) with the server's
 * defaults (128 KiB chunks, 5 ms flush deadline, the end-of-turn flush of a
 * caught-up topic, default window 8 192 items / 4 MiB). One stream, "load":
 * an in-memory Topic (default history of 10 000 items, a subscriber queue of
 * 65 536 items so that a hiccup shows as latency, not as drops).
 *
 * Every item is BENCH_SIZE (1 024) bytes: a float64 of its publish time
 * (performance.timeOrigin + performance.now(), taken as it is made), a
 * uint32 index within the run, a uint32 run id, then JSON-like filler.
 *
 * Plain HTTP endpoints (the fallback) drive it, from Node or from the page:
 * - GET /clock: {"at": the server's clock}, for the clock offset;
 * - GET /start?mode=max&run=R: once the topic has exactly one subscriber,
 *   publish as fast as that subscriber takes it: up to 256 items a turn of
 *   the event loop while the topic's consumerLag() (items the session has not
 *   taken, which it takes only within its credit window) is below LEAD, a
 *   1 ms timer when it is not;
 * - GET /start?mode=paced&run=R&rate=N&items=M: M items at N items/s on a
 *   drift-free schedule: a timer every 1 ms publishes every item whose due
 *   time (start + index / rate) has come;
 * - GET /stop: stops, answers what the publisher did (items, its timer's
 *   gaps, the topic's drops) and the server's own "sent" item latency
 *   samples (onItemLatency: source yield → chunk handed to the transport),
 *   this process's GC pauses and its event-loop delay (1 ms resolution).
 * Serves the bench page at / (PAGE_JS). Prints one JSON line: { url }.
 *
 * For investigation: BENCH_FLUSH_MS sets the stream's chunk flush deadline,
 * BENCH_HISTORY_ITEMS the topic's history (default 10 000 items).
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { SluiceServer, Topic, listen } from "@sluice/server-node";
import { payload, wallClock } from "./bench-common.js";
import { watchProcess } from "./latency-load-gc.js";

const SIZE = Number(process.env.BENCH_SIZE ?? 1024);
/** Items the max-rate publisher stays ahead of what the subscriber's session has taken. */
const LEAD = 4096;
const BATCH = 256;

const template = payload(SIZE);
function item(index: number, run: number): Uint8Array {
  const data = new Uint8Array(SIZE);
  data.set(template);
  const view = new DataView(data.buffer);
  view.setUint32(8, index);
  view.setUint32(12, run);
  view.setFloat64(0, wallClock());
  return data;
}

const topic = new Topic("load", { subscriberQueueItems: 65_536, ...(process.env.BENCH_HISTORY_ITEMS ? { historyItems: Number(process.env.BENCH_HISTORY_ITEMS) } : {}) });
const sentLatency: number[] = [];
const sluice = new SluiceServer({
  streams: { load: { topic, contentType: "application/octet-stream", ...(process.env.BENCH_FLUSH_MS ? { chunk: { flushDelayMs: Number(process.env.BENCH_FLUSH_MS) } } : {}) } },
  onItemLatency: (_stream, stage, ms) => {
    if (stage === "sent" && sentLatency.length < 100_000) sentLatency.push(ms);
  },
});

/** This process's GC pauses and event-loop delay during the run (where the time goes). */
let watch = watchProcess();

/** The publisher of the run in progress. */
let current: { stop(): PublisherStats } | undefined;
type PublisherStats = { published: number; ms: number; ticks: number; maxTickGapMs: number; tickGapsOver2ms: number };

function startMax(run: number): { stop(): PublisherStats } {
  let published = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const started = performance.now();
  const turn = () => {
    timer = undefined;
    if (stopped) return;
    let n = 0;
    while (n < BATCH && topic.consumerLag() < LEAD) {
      topic.publish(item(published++, run));
      n++;
    }
    if (n > 0) setImmediate(turn);
    else timer = setTimeout(turn, 1);
  };
  turn();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      return { published, ms: performance.now() - started, ticks: 0, maxTickGapMs: 0, tickGapsOver2ms: 0 };
    },
  };
}

function startPaced(run: number, rate: number, items: number): { stop(): PublisherStats } {
  let published = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const started = performance.now();
  let lastTick = started;
  let ticks = 0;
  let maxTickGapMs = 0;
  let tickGapsOver2ms = 0;
  const tick = () => {
    timer = undefined;
    if (stopped) return;
    const now = performance.now();
    const gap = now - lastTick;
    lastTick = now;
    ticks++;
    if (gap > maxTickGapMs) maxTickGapMs = gap;
    if (gap > 2) tickGapsOver2ms++;
    const due = Math.min(items, Math.floor(((now - started) * rate) / 1000) + 1);
    while (published < due) topic.publish(item(published++, run));
    if (published < items) timer = setTimeout(tick, 1);
  };
  tick();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      return { published, ms: performance.now() - started, ticks, maxTickGapMs, tickGapsOver2ms };
    },
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

async function control(url: URL, response: ServerResponse | Http2ServerResponse): Promise<void> {
  const answer = (status: number, body: unknown) => void response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(body));
  switch (url.pathname) {
    case "/clock":
      return answer(200, { at: wallClock() });
    case "/start": {
      if (current) return answer(409, { error: "a run is in progress" });
      // The subscriber (this run's, and only it: the previous one's session is gone) must be there first.
      const deadline = performance.now() + 5_000;
      while (topic.stats.subscribers !== 1) {
        if (performance.now() > deadline) return answer(503, { error: `${topic.stats.subscribers} subscribers, not 1` });
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const run = Number(url.searchParams.get("run") ?? 0);
      sentLatency.length = 0;
      watch.stop();
      watch = watchProcess();
      const dropped = topic.stats.dropped;
      const mode = url.searchParams.get("mode");
      if (mode === "max") current = startMax(run);
      else if (mode === "paced") current = startPaced(run, Number(url.searchParams.get("rate")), Number(url.searchParams.get("items")));
      else return answer(400, { error: `mode ${mode}` });
      const publisher = current;
      current = {
        stop: () => ({ ...publisher.stop(), dropped: topic.stats.dropped - dropped }),
      };
      return answer(200, { ok: true });
    }
    case "/stop": {
      const stats = current?.stop();
      current = undefined;
      const sorted = [...sentLatency].sort((a, b) => a - b);
      return answer(200, { ...stats, maxQueued: topic.stats.maxQueued, sent: { samples: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? NaN }, process: watch.stop() });
    }
  }
  answer(404, { error: "not found" });
}

const pageJs = process.env.PAGE_JS ? readFileSync(process.env.PAGE_JS) : undefined;
const server = await listen(sluice, {
  fallback: (request: IncomingMessage | Http2ServerRequest, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/page.js" && pageJs) return void response.writeHead(200, { "content-type": "text/javascript" }).end(pageJs);
    if (url.pathname === "/") return void response.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>`);
    void control(url, response);
  },
});
console.log(JSON.stringify({ url: server.url }));
process.on("SIGTERM", () => process.exit(0));
// The bench died without killing us (we were reparented): do not linger.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1_000).unref();
