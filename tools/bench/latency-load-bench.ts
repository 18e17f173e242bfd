/**
 * Latency under load (issue 20, goal 7): p99 item latency at half the
 * maximum rate ≤ 5 ms on loopback, per transport: HTTP/2, HTTP/1.1 half
 * duplex and WebSocket from Node, and both browser modes in Chromium.
 *
 *   npm run bench:latency-load     (BENCH_RUNS=3 by default)
 *
 * The server (latency-load-bench-server.ts) runs in its own process with its
 * defaults (128 KiB chunks, 5 ms flush deadline, a caught-up topic's open
 * chunk sent at the end of the event-loop turn) and publishes into an
 * in-memory Topic; items are BENCH_SIZE (1 024) bytes, codec bytes(),
 * carrying their publish time (performance.timeOrigin + performance.now()).
 * Each client subscribes with the default window (8 192 items / 4 MiB).
 *
 * 1. Maximum sustained rate, per transport: the server publishes as fast as
 *    the one subscriber takes items (staying at most 4 096 items ahead of
 *    what its session has taken, the topic's consumerLag(): the session takes
 *    only within its credit window, so the client's flow control paces it);
 *    items/s at the app over 2 s after 0.5 s. Median over BENCH_RUNS runs.
 * 2. Latency at half that rate (BENCH_RATE overrides it for every transport):
 *    the server publishes evenly (a 1 ms timer publishing every item whose
 *    due time, start + index / rate, has come) for 1 s of warm-up plus
 *    BENCH_LOAD_S (5) s; each item of the measured part is timed from its
 *    publish time to the moment the app's for-await loop has it, with the
 *    clock offset between the processes (the best of 30 /clock round trips)
 *    taken off. p50/p99/max per run; the table shows medians over runs and the
 *    spread of p99. Goal met when the median p99 ≤ 5 ms.
 *
 * Runs interleave transports (the order rotates each run). Environment:
 *   BENCH_RUNS=3  BENCH_SIZE=1024  BENCH_LOAD_S=5  BENCH_RATE=<items/s>
 *   BENCH_PEERS=h2,http1,ws,web-connect,web-ws   transports to run
 *   BENCH_FLUSH_MS=<ms>   the server's chunk flush deadline (investigation)
 *   BENCH_HISTORY_ITEMS=<n>   the topic's history (default: Topic's, 10 000 items; investigation)
 *
 * A second table tells where the time goes: the server's own share (its
 * onItemLatency "sent" samples), and each Node process's event-loop delay
 * and GC pauses during the load runs (latency-load-gc.ts; the browser's are
 * not measured). Node flags given to this process (e.g.
 * --no-allocation-site-pretenuring) reach the server too (startBenchServer).
 *   BENCH_TIMEOUT_S=900   the whole bench gives up (and cleans up) after this
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { bytes, createSluiceClient } from "@sluice/client-node";
import { findChromium, launchChromium } from "@sluice/testing";
import { benchLog, median, runBench, selectContenders, sleep, startBenchServer } from "./bench-common.js";
import { describe, watchProcess, type ProcessStats } from "./latency-load-gc.js";
import { loadRun, maxRateRun, type LoadResult, type MaxRateResult } from "./latency-load-run.js";

type Browser = Awaited<ReturnType<typeof launchChromium>>;
type Page = Awaited<ReturnType<Awaited<ReturnType<Browser["newContext"]>>["newPage"]>>;

const env = process.env;
const RUNS = Number(env.BENCH_RUNS ?? 3);
const SIZE = Number(env.BENCH_SIZE ?? 1024);
const GOAL_MS = 5;
const MAX = { warmupMs: 500, measureMs: 2_000, timeoutMs: 20_000 };
const LOAD = { warmupMs: 1_000, measureMs: Number(env.BENCH_LOAD_S ?? 5) * 1000 };
const TIMEOUT_S = Number(env.BENCH_TIMEOUT_S ?? 900);
const log = benchLog("latency-load-bench");

type Key = "h2" | "http1" | "ws" | "web-connect" | "web-ws";
type Transport = {
  readonly key: Key;
  readonly name: string;
  max(run: number): Promise<MaxRateResult>;
  load(run: number, rate: number): Promise<LoadResult>;
};

let child: ChildProcess | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
let url = "";

/** `work`'s result with this process's GC pauses and event-loop delay meanwhile (the Node clients' side of where the time goes). */
async function observed<T extends object>(work: () => Promise<T>): Promise<T & { client: ProcessStats }> {
  const watch = watchProcess();
  let client: ProcessStats | undefined;
  try {
    const result = await work();
    client = watch.stop();
    return { ...result, client };
  } finally {
    if (!client) watch.stop();
  }
}

const node = (key: Key, name: string, options: { transport: "http" | "websocket"; httpVersion?: "1.1" | "2" }): Transport => {
  const withClient = async <T>(run: (client: ReturnType<typeof createSluiceClient>) => Promise<T>): Promise<T> => {
    const client = createSluiceClient({ baseUrl: url, ...options });
    try {
      return await run(client);
    } finally {
      client.close();
    }
  };
  return {
    key,
    name,
    max: (run) => withClient((client) => maxRateRun(client, bytes(), url, { run, ...MAX })),
    load: (run, rate) => withClient((client) => observed(() => loadRun(client, bytes(), url, { run, rate, ...LOAD, timeoutMs: LOAD.warmupMs + LOAD.measureMs + 20_000 }))),
  };
};
const chromium = (key: Key, name: string, transport: "connect" | "websocket"): Transport => ({
  key,
  name,
  max: async (run) => (await page!.evaluate((options) => window.sluiceLoad(options), { mode: "max" as const, transport, run, ...MAX })) as MaxRateResult,
  load: async (run, rate) => (await page!.evaluate((options) => window.sluiceLoad(options), { mode: "load" as const, transport, run, rate, ...LOAD, timeoutMs: LOAD.warmupMs + LOAD.measureMs + 20_000 })) as LoadResult,
});

const ALL: Transport[] = [
  node("h2", "Node, HTTP/2", { transport: "http", httpVersion: "2" }),
  node("http1", "Node, HTTP/1.1 half duplex", { transport: "http", httpVersion: "1.1" }),
  node("ws", "Node, WebSocket", { transport: "websocket" }),
  chromium("web-connect", "Chromium, connect-web half duplex", "connect"),
  chromium("web-ws", "Chromium, WebSocket", "websocket"),
];
const { active: selected } = selectContenders<Key, Transport>(ALL);
let transports = selected;

async function setup(): Promise<void> {
  const wantBrowser = transports.some((t) => t.key.startsWith("web-"));
  if (wantBrowser) {
    const dir = mkdtempSync(join(tmpdir(), "sluice-latency-load-bench-"));
    const bundle = await build({ entryPoints: [fileURLToPath(new URL("./latency-load-bench-page.ts", import.meta.url))], bundle: true, format: "esm", platform: "browser", write: false, minify: true, logLevel: "error" });
    env.PAGE_JS = join(dir, "page.js");
    writeFileSync(env.PAGE_JS, bundle.outputFiles[0]!.contents);
  }
  const started = await startBenchServer<{ url: string }>("./latency-load-bench-server.ts");
  child = started.child;
  url = started.urls.url;
  const chromiumPath = wantBrowser ? findChromium("latency-load bench, browser rows") : undefined;
  if (chromiumPath) {
    browser = await launchChromium(chromiumPath);
    page = await (await browser.newContext()).newPage();
    await page.goto(url);
    await page.waitForFunction(() => typeof window.sluiceLoad === "function");
  } else {
    transports = transports.filter((t) => !t.key.startsWith("web-"));
  }
  log(`server at ${url}; ${SIZE} B items; transports: ${transports.map((t) => t.key).join(", ")}; ${RUNS} runs`);
}

async function cleanup(): Promise<void> {
  await browser?.close().catch(() => undefined);
  child?.kill("SIGTERM");
}
const watchdog = setTimeout(() => {
  log(`gave up after ${TIMEOUT_S} s (BENCH_TIMEOUT_S)`);
  void cleanup().finally(() => process.exit(1));
}, TIMEOUT_S * 1000);
watchdog.unref();

/** The transports in run `run`'s order: rotated, so none is always first after another. */
const order = (run: number) => transports.map((_, i) => transports[(i + run) % transports.length]!);

const maxRates = new Map<Key, MaxRateResult[]>();
const loads = new Map<Key, LoadResult[]>();
const loadRate = new Map<Key, number>();

async function measureMax(): Promise<void> {
  if (env.BENCH_RATE) {
    for (const t of transports) loadRate.set(t.key, Number(env.BENCH_RATE));
    return;
  }
  for (let run = 0; run < RUNS; run++) {
    for (const t of order(run)) {
      const result = await t.max(1000 + run);
      maxRates.set(t.key, [...(maxRates.get(t.key) ?? []), result]);
      log(`max ${run + 1}/${RUNS} ${t.name}: ${Math.round(result.rate)} items/s (${result.items} items, ${result.gaps} lost, server published ${result.server.published}, sent p99 ${result.server.sent.p99.toFixed(1)} ms)`);
      await sleep(200);
    }
  }
  for (const t of transports) loadRate.set(t.key, Math.floor(median(maxRates.get(t.key)!.map((r) => r.rate)) / 2));
}

async function measureLoad(): Promise<void> {
  for (let run = 0; run < RUNS; run++) {
    for (const t of order(run)) {
      const rate = loadRate.get(t.key)!;
      const r = await t.load(2000 + run, rate);
      loads.set(t.key, [...(loads.get(t.key) ?? []), r]);
      log(
        `load ${run + 1}/${RUNS} ${t.name} at ${rate}/s: p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} p99.9 ${r.p999.toFixed(2)} max ${r.max.toFixed(1)} ms; ${r.received}/${r.expected} items, ${r.gaps} lost; ` +
          `clock offset ${r.offsetMs.toFixed(3)} ±${r.offsetErrorMs.toFixed(3)} ms; server: sent p50 ${r.server.sent.p50.toFixed(2)} p99 ${r.server.sent.p99.toFixed(2)} ms (${r.server.sent.samples} samples), timer max gap ${r.server.maxTickGapMs.toFixed(1)} ms, ${r.server.tickGapsOver2ms} gaps > 2 ms of ${r.server.ticks}, ` +
          `${describe(r.server.process)}` + (r.client ? `; client: ${describe(r.client)}` : ""),
      );
      await sleep(200);
    }
  }
}

function report(): void {
  const fmt = (ms: number) => ms.toFixed(2);
  const rows = transports.map((t) => {
    const rs = loads.get(t.key) ?? [];
    const p99s = rs.map((r) => r.p99);
    const p99 = median(p99s);
    const maxRate = maxRates.get(t.key);
    return {
      transport: t.name,
      "max rate items/s": maxRate ? Math.round(median(maxRate.map((r) => r.rate))) : "(BENCH_RATE)",
      "load rate items/s": loadRate.get(t.key)!,
      "p50 ms": fmt(median(rs.map((r) => r.p50))),
      "p99 ms": fmt(p99),
      "max ms": fmt(median(rs.map((r) => r.max))),
      "p99 spread": `${fmt(Math.min(...p99s))}–${fmt(Math.max(...p99s))}`,
      "goal met": p99 <= GOAL_MS ? `yes (${p99s.filter((v) => v <= GOAL_MS).length}/${rs.length} runs)` : `no (${p99s.filter((v) => v <= GOAL_MS).length}/${rs.length} runs)`,
      "lost": rs.reduce((n, r) => n + r.gaps + (r.expected - r.received), 0),
    };
  });
  console.log(`\n${SIZE} B items, ${RUNS} runs; max rate over ${MAX.measureMs / 1000} s after ${MAX.warmupMs / 1000} s; load for ${LOAD.measureMs / 1000} s after ${LOAD.warmupMs / 1000} s; medians over runs; goal p99 ≤ ${GOAL_MS} ms\n`);
  console.table(rows);
  const keys = Object.keys(rows[0] ?? {});
  console.log(`\n| ${keys.join(" | ")} |\n|${keys.map(() => "---").join("|")}|`);
  for (const row of rows) console.log(`| ${Object.values(row).join(" | ")} |`);
  // Where the time goes: medians over runs of the server's own share and of both processes' stalls.
  const longestPause = (stats: ProcessStats) => Math.max(...Object.values(stats.gc).map((p) => p.maxMs));
  const majors = (stats: ProcessStats) => stats.gc.major.count;
  console.log("\nWhere the time goes (medians over the load runs; server sent = source yield → chunk handed to the transport, sampled ≤ once / 10 ms; client columns: Node only):\n");
  console.table(
    transports.map((t) => {
      const rs = loads.get(t.key) ?? [];
      const clients = rs.flatMap((r) => (r.client ? [r.client] : []));
      const ms = (values: number[]) => (values.length ? fmt(median(values)) : "–");
      const count = (values: number[]) => (values.length ? String(median(values)) : "–");
      return {
        transport: t.name,
        "p99.9 ms": ms(rs.map((r) => r.p999)),
        "server sent p99 ms": ms(rs.map((r) => r.server.sent.p99)),
        "server loop delay max ms": ms(rs.map((r) => r.server.process.loopDelay.max)),
        "server longest GC ms": ms(rs.map((r) => longestPause(r.server.process))),
        "server mark-compacts": count(rs.map((r) => majors(r.server.process))),
        "client loop delay max ms": ms(clients.map((c) => c.loopDelay.max)),
        "client longest GC ms": ms(clients.map(longestPause)),
        "client mark-compacts": count(clients.map(majors)),
      };
    }),
  );
}

await runBench(log, setup, [measureMax, measureLoad, report], cleanup);
