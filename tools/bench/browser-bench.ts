/**
 * Throughput in the browser (issue 20, goal 6): items/s and MB/s received by
 * a page in headless Chromium, server to page, for both browser modes of
 * @sluice/client-web and for Socket.IO in the same page against the same
 * machine. Server in a child process (browser-bench-server.ts), everything on
 * 127.0.0.1, no compression; the same `size`-byte payload for every peer.
 * - sluice-ws:    client-web with transport "websocket" (transport-ws, full
 *   duplex), credit window 65 536 items / 8 MiB (as sluiceRun).
 * - sluice-fetch: client-web with transport "connect": connect-web over fetch,
 *   HTTP/1.1 half duplex (a SubscribeHalfDuplex call plus unary Control calls),
 *   the same window.
 * - socketio:     socket.io-client 4.8 bundled into the page, websocket
 *   transport only, one binary `emit` per item from a bounded producer on the
 *   server (pauses while engine.io's write buffer holds ~1 MiB, resumes on
 *   drain): the peer of ws-bench.ts.
 * The page checks it got exactly `count` items of `size` bytes and measures
 * the elapsed time itself (performance.now()). The sluice runs include the
 * session's connect; socket.io connects before the clock starts. Peers are
 * interleaved within each run; every run is bounded by a timeout.
 *
 *   npm run bench:browser
 *   BENCH_RUNS=3                               runs per case (default 3)
 *   BENCH_PEERS=sluice-ws,sluice-fetch,socketio peers to run (all by default)
 *   BENCH_SIZES=1024                           item sizes to run (64, 1024, 16384)
 *   BENCH_SCALE=0.1                            multiplies every case's item count (quick checks)
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { findChromium, launchChromium } from "@sluice/testing";
import { benchLog, median, runBench, selectContenders, startBenchServer, withTimeout } from "./bench-common.js";
import type { BrowserPeer } from "./browser-bench-page.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** A page-side limit per run (the page gives up and fails the run); the Node side waits a little longer. */
const RUN_TIMEOUT_MS = 60_000;

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ALL_CASES = [
  { size: 64, count: 100_000 },
  { size: 1024, count: 50_000 },
  { size: 16 * 1024, count: 5_000 },
];
const CASES = (() => {
  const sizes = process.env.BENCH_SIZES?.split(",").map(Number);
  const cases = sizes ? ALL_CASES.filter((c) => sizes.includes(c.size)) : ALL_CASES;
  return cases.map((c) => ({ ...c, count: Math.max(1, Math.round(c.count * SCALE)) }));
})();

const CONTENDERS = [
  { key: "sluice-ws", label: "sluice-ws" },
  { key: "sluice-fetch", label: "sluice-fetch" },
  { key: "socketio", label: "socket.io" },
] as const satisfies readonly { key: BrowserPeer; label: string }[];
const { active, peers } = selectContenders<BrowserPeer, (typeof CONTENDERS)[number]>(CONTENDERS);

type Browser = Awaited<ReturnType<typeof launchChromium>>;
type Page = Awaited<ReturnType<Awaited<ReturnType<Browser["newContext"]>>["newPage"]>>;

const log = benchLog("browser-bench");
const dir = mkdtempSync(join(tmpdir(), "sluice-browser-bench-"));
let child: ChildProcess | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
let urls: { url: string; socketio: string } | undefined;
const rows: Record<string, string | number>[] = [];

async function setup(): Promise<void> {
  const chromiumPath = findChromium("browser bench");
  if (!chromiumPath) throw new Error("no Chromium: the browser bench needs one (set CHROMIUM_PATH)");
  const bundle = await build({ entryPoints: [fileURLToPath(new URL("./browser-bench-page.ts", import.meta.url))], bundle: true, format: "esm", platform: "browser", write: false, minify: true, logLevel: "error" });
  process.env.PAGE_JS = join(dir, "page.js");
  writeFileSync(process.env.PAGE_JS, bundle.outputFiles[0]!.contents);
  ({ child, urls } = await startBenchServer<{ url: string; socketio: string }>("./browser-bench-server.ts"));
  browser = await launchChromium(chromiumPath);
  page = await (await browser.newContext()).newPage();
  page.on("pageerror", (error) => log(`page error: ${error.message}`));
  page.on("console", (message) => message.type() === "error" && !message.text().startsWith("Failed to load resource") && log(`page console: ${message.text()}`));
  // A failed call the client recovers from does not fail the run; say so anyway.
  page.on("response", (response) => {
    if (response.status() < 400) return;
    void response.text().then(
      (body) => log(`HTTP ${response.status()} ${response.request().method()} ${response.url()}: ${body.slice(0, 200)}`),
      () => log(`HTTP ${response.status()} ${response.request().method()} ${response.url()}`),
    );
  });
  await page.goto(urls.url);
  await page.waitForFunction(() => typeof window.sluiceThroughput === "function");
}

const runPeer = (peer: BrowserPeer, size: number, count: number): Promise<number> =>
  withTimeout(
    page!.evaluate((command) => window.sluiceThroughput(command), { peer, size, count, socketioUrl: urls!.socketio, timeoutMs: RUN_TIMEOUT_MS }),
    RUN_TIMEOUT_MS + 10_000,
    `${peer} ${size} B run`,
  );

async function measure(): Promise<void> {
  const mbps = (size: number, count: number, ms: number) => (count * size) / ms / 1000;
  for (const { size, count } of CASES) {
    const times = new Map<BrowserPeer, number[]>(active.map((c) => [c.key, []]));
    for (let run = 0; run < RUNS; run++) {
      // Interleaved, so machine noise hits every peer alike.
      for (const c of active) {
        const ms = await runPeer(c.key, size, count);
        times.get(c.key)!.push(ms);
        log(`${size} B run ${run + 1}/${RUNS} ${c.label}: ${ms.toFixed(0)} ms, ${mbps(size, count, ms).toFixed(1)} MB/s`);
      }
    }
    const rate = (key: BrowserPeer) => (count / median(times.get(key)!)) * 1000; // items/s
    const row: Record<string, string | number> = { item: size >= 1024 ? `${size / 1024} KiB` : `${size} B`, items: count };
    for (const c of active) row[`${c.label} items/s`] = Math.round(rate(c.key));
    for (const c of active) row[`${c.label} MB/s`] = +((rate(c.key) * size) / 1e6).toFixed(1);
    if (peers.has("socketio")) for (const c of active.filter((c) => c.key !== "socketio")) row[`${c.key} / socketio`] = +(rate(c.key) / rate("socketio")).toFixed(2);
    for (const c of active) {
      const all = times.get(c.key)!.map((ms) => mbps(size, count, ms));
      row[`${c.key} spread MB/s`] = `${Math.min(...all).toFixed(1)}–${Math.max(...all).toFixed(1)}`;
    }
    rows.push(row);
  }
}

function report(): void {
  console.table(rows);
  console.log(
    `Chromium ${browser!.version()} (headless), node ${process.version}, ${RUNS} runs per case, medians; "x / socketio" is the ratio of the medians; ` +
      `spread is the min–max MB/s of the runs; server in a child process; peers: ${active.map((c) => c.label).join(", ")}`,
  );
}

await runBench(log, setup, [measure, report], async () => {
  await (browser ? withTimeout(browser.close(), 10_000, "closing Chromium").catch(() => undefined) : undefined);
  child?.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});
