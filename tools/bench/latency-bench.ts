/**
 * Live latency (PROTOCOL.md §5.1): how long an item of a slow source (a
 * 20 items/s generator) and of a topic (published 20 times a second) takes
 * from being made to reaching the application, on every transport: HTTP/2,
 * HTTP/1.1 half duplex and WebSocket from Node, and both browser modes in
 * Chromium. The server runs in its own process with its defaults (5 ms flush
 * deadline, heartbeat every 5 s); the goal is p99 ≤ flush deadline + 10 ms.
 *
 *   npm run bench:latency          (BENCH_RUNS=3, BENCH_ITEMS=100 by default)
 *
 * Runs are interleaved across transports; each run reports p50/p99/max of its
 * items (after the first 5, which pay for connection setup), and the table
 * shows the median over runs with the spread of p99.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { createSluiceClient } from "@sluice/client-node";
import { findChromium, launchChromium } from "@sluice/testing";
import { RUNS, median, startBenchServer } from "./bench-common.js";

const ITEMS = Number(process.env.BENCH_ITEMS ?? 100);
/** Items of each run not counted: the first ones pay for connection setup and a cold JIT. */
const WARMUP = 5;
const FLUSH_MS = 5;
const STREAMS = ["ticks", "live"] as const;

const dir = mkdtempSync(join(tmpdir(), "sluice-latency-bench-"));
const bundle = await build({ entryPoints: [fileURLToPath(new URL("./latency-bench-page.ts", import.meta.url))], bundle: true, format: "esm", platform: "browser", write: false, minify: true, logLevel: "error" });
process.env.PAGE_JS = join(dir, "page.js");
writeFileSync(process.env.PAGE_JS, bundle.outputFiles[0]!.contents);
const { child, urls } = await startBenchServer<{ url: string }>("./latency-bench-server.ts");

const chromiumPath = findChromium("latency bench, browser rows");
const browser = chromiumPath ? await launchChromium(chromiumPath) : undefined;
const page = browser ? await (await browser.newContext()).newPage() : undefined;
if (page) {
  await page.goto(urls.url);
  await page.waitForFunction(() => typeof window.sluiceLatency === "function");
}

type Transport = { name: string; run(stream: string): Promise<number[]> };

const node = (name: string, options: { transport: "http" | "websocket"; httpVersion?: "1.1" | "2" }): Transport => ({
  name,
  async run(stream) {
    const client = createSluiceClient({ baseUrl: urls.url, ...options });
    const lags: number[] = [];
    for await (const event of client.subscribe<{ at: number }>(stream)) {
      if (event.kind !== "item") continue;
      lags.push(performance.timeOrigin + performance.now() - event.value.at);
      if (lags.length >= WARMUP + ITEMS) break;
    }
    client.close();
    return lags.slice(WARMUP);
  },
});
const chromium = (name: string, transport: "connect" | "websocket"): Transport => ({
  name,
  run: async (stream) => (await page!.evaluate(({ s, t, n }) => window.sluiceLatency({ stream: s, transport: t, count: n }), { s: stream, t: transport, n: WARMUP + ITEMS })).slice(WARMUP),
});

const transports: Transport[] = [
  node("Node, HTTP/2", { transport: "http", httpVersion: "2" }),
  node("Node, HTTP/1.1 half duplex", { transport: "http", httpVersion: "1.1" }),
  node("Node, WebSocket", { transport: "websocket" }),
  ...(page ? [chromium("Chromium, connect-web half duplex", "connect"), chromium("Chromium, WebSocket", "websocket")] : []),
];

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;
const results = new Map<string, { p50: number[]; p99: number[]; max: number[] }>();
for (let run = 0; run < RUNS; run++) {
  for (const stream of STREAMS) {
    for (const transport of transports) {
      const lags = await transport.run(stream);
      const key = `${stream}|${transport.name}`;
      const entry = results.get(key) ?? { p50: [], p99: [], max: [] };
      entry.p50.push(percentile(lags, 0.5));
      entry.p99.push(percentile(lags, 0.99));
      entry.max.push(Math.max(...lags));
      results.set(key, entry);
      process.stderr.write(`  run ${run + 1}/${RUNS} ${stream} ${transport.name}: p99 ${percentile(lags, 0.99).toFixed(1)} ms\n`);
    }
  }
}
await browser?.close();
child.kill("SIGTERM");

const fmt = (ms: number) => ms.toFixed(1);
console.log(`\n${ITEMS} items per run (after ${WARMUP} not counted), ${RUNS} runs, flush deadline ${FLUSH_MS} ms; goal p99 ≤ ${FLUSH_MS + 10} ms\n`);
console.log("| stream | transport | p50 ms | p99 ms (median of runs) | p99 spread | max ms | goal |");
console.log("|---|---|---:|---:|---|---:|---|");
for (const [key, { p50, p99, max }] of results) {
  const [stream, transport] = key.split("|");
  const p99Median = median(p99);
  console.log(`| ${stream} | ${transport} | ${fmt(median(p50))} | ${fmt(p99Median)} | ${fmt(Math.min(...p99))}–${fmt(Math.max(...p99))} | ${fmt(median(max))} | ${p99Median <= FLUSH_MS + 10 ? "met" : "not met"} |`);
}
