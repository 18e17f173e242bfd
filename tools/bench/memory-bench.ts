/**
 * Issue 20, goal 3, "memory bounded by the window": many slow subscribers
 * with 1 000-item / 1 MiB windows on 1 KiB items, and how much the server
 * process grows, against the sum of their windows.
 *
 *   npm run bench:memory       (BENCH_RUNS=2 by default)
 *
 * Per run, for one transport (HTTP/2, WebSocket, HTTP/1.1 half duplex;
 * interleaved over runs, a fresh server process each):
 * 1. the server (memory-bench-server.ts, `listen()` defaults, node
 *    --expose-gc) starts; one subscriber from this process streams as fast
 *    as it can for 1 s and leaves (so the hot paths are compiled); the
 *    baseline is the server's memory after global.gc() twice.
 * 2. BENCH_SUBS (300) subscribers open from a client process of their own
 *    (memory-bench-clients.ts), BENCH_PER_CLIENT (50) per createSluiceClient,
 *    to the endless 1 KiB "items" stream, each with window { items: 1 000,
 *    bytes: 1 MiB }, and each takes one item every BENCH_READ_MS (100) ms.
 *    BENCH_MODE=stopped: the client process is SIGSTOPped as soon as the
 *    server has every session (it then reads nothing off its sockets; the
 *    subscribers ask for 60 s heartbeats so the sessions outlive the stop).
 * 3. for BENCH_HOLD_MS (20 s) after every subscriber had its first item,
 *    the server's memory is sampled every 500 ms (rss, heapUsed, external,
 *    arrayBuffers, raw: no GC), and the server samples its own peaks every
 *    100 ms; the kernel's peak RSS (VmHWM, reset at the baseline through
 *    /proc/PID/clear_refs) is read at the end.
 * 4. at the end, with the subscribers still there: memory after GC (growth
 *    over the baseline), Sluice's bufferedBytes, the transports' user-space
 *    queues, and the kernel's socket queues (ss: server Send-Q, client
 *    Recv-Q; kernel memory is not in RSS). BENCH_SNAPSHOT=1 also writes a
 *    heap snapshot there and summarizes it (memory-bench-heapsnapshot.ts).
 * 5. the subscribers leave; memory after GC again (BENCH_SNAPSHOT=after or
 *    both: a heap snapshot then; BENCH_AFTER_MS: once more that much later).
 * BENCH_TRIM=1 calls glibc's malloc_trim(0) in the server (gdb) after the
 * measurements of 4 and 5, and reads RSS again; BENCH_SERVER_LD_PRELOAD
 * runs the server on another allocator.
 *
 * The sum of the windows: subs × min(items × item size, bytes), here
 * 300 × min(1 000 × 1 024 B, 1 048 576 B) = 300 × 1 024 000 B = 307 200 000 B
 * = 292.97 MiB. Goals: growth after GC ≤ 1.10 × the sum (RSS, and heap +
 * external), and the peak over a run ≤ 2 × the sum.
 *
 * Time series (CSV) and a chart (SVG) go to BENCH_OUT (/tmp/sluice-memory-bench).
 */
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bytes, createSluiceClient, type NodeClientOptions } from "@sluice/client-node";
import { benchLog, median, runBench, sleep, startBenchServer, withTimeout } from "./bench-common.js";
import { heapSummaryMarkdown, summarizeHeapSnapshot } from "./memory-bench-heapsnapshot.js";

type Transport = "http2" | "websocket" | "http1.1";
const log = benchLog("memory");
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const TRANSPORTS = (process.env.BENCH_TRANSPORTS ?? "http2,websocket,http1.1").split(",") as Transport[];
const SUBS = Number(process.env.BENCH_SUBS ?? 300);
const PER_CLIENT = Number(process.env.BENCH_PER_CLIENT ?? 50);
const READ_MS = Number(process.env.BENCH_READ_MS ?? 100);
const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 20_000);
const MODE = (process.env.BENCH_MODE ?? "slow") as "slow" | "stopped";
/** BENCH_SNAPSHOT: "1" (or "held"): a heap snapshot at the end of the hold; "after": once the subscribers left; "both". */
const SNAPSHOT_AT = new Set((process.env.BENCH_SNAPSHOT ?? "").replace(/^1$/, "held").replace("both", "held,after").split(",").filter(Boolean));
/** BENCH_AFTER_MS: measure once more (after GC) this long after the subscribers left (0: not). */
const AFTER_MS = Number(process.env.BENCH_AFTER_MS ?? 0);
const TRIM = process.env.BENCH_TRIM === "1";
const OUT = process.env.BENCH_OUT ?? "/tmp/sluice-memory-bench";
const SAMPLE_MS = 500;
const ITEM = 1024;
const WINDOW = { items: 1000, bytes: 1 << 20 };
const MiB = 2 ** 20;
/** What every subscriber may have outstanding: its window's items or bytes, whichever binds first. */
const WINDOW_BYTES = Math.min(WINDOW.items * ITEM, WINDOW.bytes);
const SUM = SUBS * WINDOW_BYTES;

interface Memory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}
interface TransportBuffers {
  sockets: number;
  socketWritable: number;
  h2Sessions: number;
  h2Streams: number;
  h2StreamWritable: number;
  h2OutboundFrames: number;
  h2RemoteWindow: number;
  h1Responses: number;
  h1ResponseWritable: number;
}
interface State {
  memory: Memory;
  sessions: number;
  bufferedBytes: number;
  connections: number;
  transport: TransportBuffers;
}
interface Sample {
  t: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  bufferedBytes: number;
  sessions: number;
}
interface Kernel {
  serverSendQ: number;
  serverRecvQ: number;
  clientRecvQ: number;
  serverWmemQueued: number;
  serverSockets: number;
}
interface RunResult {
  transport: Transport;
  run: number;
  /** Before the warm-up: the server up, nothing served yet (after GC). */
  fresh: State;
  baseline: State;
  held: State;
  heldRaw: State;
  after: State;
  peakRss: number;
  peakHeapExternal: number;
  hwmRss: number | undefined;
  samples: Sample[];
  kernel: Kernel;
  /** RSS by mapping kind at the end of the hold (after GC) and after the subscribers left (after GC). */
  maps: { held: ReturnType<typeof rssByMapping>; after: ReturnType<typeof rssByMapping> };
  /** BENCH_TRIM=1: RSS after malloc_trim(0), at the end of the hold and after the subscribers left. */
  trimmed?: { held: number; after: number };
  openMs: number;
  clients: { items: number; reconnects: number; errors: string[]; clients: number } | undefined;
  snapshots: string[];
  /** BENCH_AFTER_MS later, after GC. */
  afterLater?: State;
}

const heapExternal = (m: Memory) => m.heapUsed + m.external;
const mib = (bytes: number) => +(bytes / MiB).toFixed(1);
const ratio = (bytes: number) => +(bytes / SUM).toFixed(3);

async function getJson<T>(url: string): Promise<T> {
  const response = await withTimeout(fetch(url), 30_000, url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return (await response.json()) as T;
}

/** The kernel's peak RSS of `pid` (VmHWM), in bytes. */
function vmHwm(pid: number): number | undefined {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : undefined;
}

/** Resets VmHWM to the current RSS (Linux: "5" > clear_refs); false where that is not allowed. */
function resetHwm(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** Kernel socket queues of the server's port (ss): what the server's sockets have not sent, and what the client's have not read. */
function kernelQueues(port: number): Kernel {
  const kernel: Kernel = { serverSendQ: 0, serverRecvQ: 0, clientRecvQ: 0, serverWmemQueued: 0, serverSockets: 0 };
  let text = "";
  try {
    text = execFileSync("ss", ["-tnmH", "state", "established", `( sport = :${port} or dport = :${port} )`], { encoding: "utf8", maxBuffer: 64 << 20 });
  } catch {
    return kernel;
  }
  // With `state` given, ss prints no State column: Recv-Q Send-Q Local Peer, then skmem:(...) on the next line.
  const records = text.split(/\n(?=\d)/);
  for (const record of records) {
    const fields = record.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const [recvQ, sendQ, local] = [Number(fields[0]), Number(fields[1]), fields[2]!];
    const w = /skmem:\([^)]*\bw(\d+)/.exec(record);
    if (local.endsWith(`:${port}`)) {
      kernel.serverSockets++;
      kernel.serverSendQ += sendQ;
      kernel.serverRecvQ += recvQ;
      kernel.serverWmemQueued += w ? Number(w[1]) : 0;
    } else kernel.clientRecvQ += recvQ;
  }
  return kernel;
}

/** RSS of `pid` by kind of mapping (/proc/PID/smaps): glibc's main arena ([heap]), anonymous mappings (V8's heap pages, other malloc arenas, mmapped allocations), files, the rest. */
function rssByMapping(pid: number): Record<"heap" | "anonymous" | "file" | "other", number> {
  const rss = { heap: 0, anonymous: 0, file: 0, other: 0 };
  let kind: keyof typeof rss = "other";
  let text = "";
  try {
    text = readFileSync(`/proc/${pid}/smaps`, "utf8");
  } catch {
    return rss;
  }
  for (const line of text.split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const path = header[1]!.trim();
      kind = path === "[heap]" ? "heap" : path === "" ? "anonymous" : path.startsWith("[") ? "other" : "file";
      continue;
    }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m) rss[kind] += Number(m[1]) * 1024;
  }
  return rss;
}

/**
 * BENCH_TRIM=1: asks glibc to give back the free pages it keeps (malloc_trim(0),
 * called through gdb), to tell memory the server uses from memory its
 * allocator holds on to; returns whether gdb ran.
 */
function mallocTrim(pid: number): boolean {
  try {
    // This machine's gdb cannot restore the AVX state after the call ("Couldn't write extended state
    // status") and prints no result, but the call runs; the main thread is in epoll_wait, where
    // vector registers are the caller's to save, so the server goes on (it is measured right after).
    execFileSync("gdb", ["-p", String(pid), "-batch", "-ex", "call (int) malloc_trim(0)"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
    return true;
  } catch (error) {
    // gdb exits non-zero after that complaint; it ran when it detached.
    return String((error as { stdout?: string }).stdout ?? "").includes("detached");
  }
}

const clientOptions = (url: string, transport: Transport): NodeClientOptions =>
  transport === "http2" ? { baseUrl: url, transport: "http" } : transport === "websocket" ? { baseUrl: url, transport: "websocket" } : { baseUrl: url, transport: "http", httpVersion: "1.1" };

/** One subscriber at full speed for `ms`, then gone: the server's hot paths compiled before the baseline. */
async function warmUp(url: string, transport: Transport, ms: number): Promise<number> {
  const client = createSluiceClient(clientOptions(url, transport));
  const stream = client.subscribe("items", { params: { size: ITEM }, codec: bytes(), window: WINDOW });
  const until = performance.now() + ms;
  let n = 0;
  try {
    for await (const e of stream) {
      if (e.kind === "item") n++;
      if (performance.now() > until) break;
    }
  } finally {
    client.close();
  }
  return n;
}

let server: { child: ChildProcess; urls: { url: string; port: number; control: string; pid: number } } | undefined;
let clients: ChildProcess | undefined;

async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill(signal);
  await Promise.race([exited, sleep(5_000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

async function oneRun(transport: Transport, run: number): Promise<RunResult> {
  // BENCH_SERVER_LD_PRELOAD: another allocator for the server alone (e.g. /lib/x86_64-linux-gnu/libjemalloc.so.2).
  const preload = process.env.BENCH_SERVER_LD_PRELOAD;
  if (preload) process.env.LD_PRELOAD = preload;
  try {
    server = await startBenchServer<{ url: string; port: number; control: string; pid: number }>("./memory-bench-server.ts", ["--expose-gc"]);
  } finally {
    if (preload) delete process.env.LD_PRELOAD;
  }
  const { url, port, control, pid } = server.urls;
  const mem = () => getJson<{ at: number; raw: State }>(`${control}/mem`);
  const memGc = () => getJson<{ at: number; raw: State; gc: State }>(`${control}/mem?gc=1`);

  await memGc();
  const fresh = (await memGc()).gc;
  const warmItems = await warmUp(url, transport, 1_000);
  // Until the warm-up's session is gone and its connection closed.
  for (let i = 0; i < 50 && ((await mem()).raw.sessions > 0 || (await mem()).raw.connections > 0); i++) await sleep(100);
  await sleep(500);
  await memGc();
  await sleep(500);
  const baseline = (await memGc()).gc;
  await getJson(`${control}/peak?reset=1`);
  const hwmReset = resetHwm(pid);
  log(`${transport} run ${run + 1}: warm-up ${warmItems} items; baseline rss ${mib(baseline.memory.rss)} MiB, heap+external ${mib(heapExternal(baseline.memory))} MiB`);

  // The subscribers, and the sampler from the moment they start.
  const started = performance.now();
  const samples: Sample[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const at = performance.now();
      const { raw } = await mem();
      samples.push({ t: (at - started) / 1000, rss: raw.memory.rss, heapUsed: raw.memory.heapUsed, external: raw.memory.external, arrayBuffers: raw.memory.arrayBuffers, bufferedBytes: raw.bufferedBytes, sessions: raw.sessions });
      await sleep(Math.max(0, SAMPLE_MS - (performance.now() - at)));
    }
  })();
  const config = { url, transport, subs: SUBS, perClient: PER_CLIENT, readMs: MODE === "stopped" ? 0 : READ_MS, windowItems: WINDOW.items, windowBytes: WINDOW.bytes, size: ITEM, ...(MODE === "stopped" ? { heartbeatMs: 60_000 } : {}) };
  const child = fork(fileURLToPath(new URL("./memory-bench-clients.ts", import.meta.url)), [], { env: { ...process.env, MEM_CLIENTS: JSON.stringify(config) }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  clients = child;
  const messages: { type: string; [key: string]: unknown }[] = [];
  const waiters: (() => void)[] = [];
  child.on("message", (m: { type: string }) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const message = async (type: string, ms: number) => {
    const deadline = performance.now() + ms;
    for (;;) {
      const found = messages.find((m) => m.type === type);
      if (found) return found;
      if (performance.now() > deadline || child.exitCode !== null) throw new Error(`clients: no "${type}" within ${ms / 1000} s (exit ${child.exitCode})`);
      await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), sleep(200)]);
    }
  };
  if (MODE === "stopped") {
    // Stopped as soon as the server has every session: from then on nothing is read.
    const deadline = performance.now() + 60_000;
    while ((await mem()).raw.sessions < SUBS) {
      if (performance.now() > deadline || child.exitCode !== null) throw new Error(`stopped mode: the server never had ${SUBS} sessions`);
      await sleep(20);
    }
    child.kill("SIGSTOP");
  } else await message("first", 60_000);
  const openMs = performance.now() - started;
  log(`${transport} run ${run + 1}: ${SUBS} subscribers ${MODE === "stopped" ? "open, client process stopped" : "had their first item"} after ${Math.round(openMs)} ms; holding ${HOLD_MS / 1000} s`);
  await sleep(HOLD_MS);

  const kernel = kernelQueues(port);
  const { raw: heldRaw, gc: held } = await memGc();
  const snapshots: string[] = [];
  const snapshot = async (at: string) => {
    const file = join(OUT, `${MODE}-${transport}-run${run + 1}-${SUBS}subs-${at}.heapsnapshot`);
    await getJson(`${control}/snapshot?file=${encodeURIComponent(file)}`);
    snapshots.push(file);
  };
  if (SNAPSHOT_AT.has("held")) await snapshot("held");
  sampling = false;
  await sampler;
  const { rss: peakRss, heapExternal: peakHeapExternal } = await getJson<{ rss: number; heapExternal: number }>(`${control}/peak`);
  const hwmRss = hwmReset ? vmHwm(pid) : undefined;
  const heldMaps = rssByMapping(pid);
  const heldTrimmed = TRIM && mallocTrim(pid) ? (await mem()).raw.memory.rss : undefined;

  let clientStats: RunResult["clients"];
  if (MODE === "stopped") {
    child.kill("SIGKILL");
  } else {
    child.send({ type: "close" });
    clientStats = (await message("closed", 15_000)) as unknown as RunResult["clients"];
  }
  await Promise.race([once(child, "exit"), sleep(5_000)]);
  clients = undefined;
  for (let i = 0; i < 50 && (await mem()).raw.sessions > 0; i++) await sleep(100);
  await sleep(500);
  const after = (await memGc()).gc;
  const afterMaps = rssByMapping(pid);
  if (SNAPSHOT_AT.has("after")) await snapshot("after");
  let afterLater: State | undefined;
  if (AFTER_MS > 0) {
    await sleep(AFTER_MS);
    afterLater = (await memGc()).gc;
  }
  const afterTrimmed = TRIM && mallocTrim(pid) ? (await mem()).raw.memory.rss : undefined;
  await stopChild(server.child, "SIGTERM");
  server = undefined;
  return { transport, run, fresh, baseline, held, heldRaw, after, peakRss, peakHeapExternal, hwmRss, samples, kernel, maps: { held: heldMaps, after: afterMaps }, ...(heldTrimmed !== undefined && afterTrimmed !== undefined ? { trimmed: { held: heldTrimmed, after: afterTrimmed } } : {}), openMs, clients: clientStats, snapshots, ...(afterLater ? { afterLater } : {}) };
}

// --- output ---------------------------------------------------------------

const SPARK = "▁▂▃▄▅▆▇█";
function sparkline(values: number[], max: number): string {
  return values.map((v) => SPARK[Math.max(0, Math.min(SPARK.length - 1, Math.round((v / max) * (SPARK.length - 1))))]).join("");
}

function writeCsv(result: RunResult): string {
  const file = join(OUT, `${MODE}-${result.transport}-run${result.run + 1}.csv`);
  const b = result.baseline.memory;
  const rows = ["t_s,rss_mib,heap_used_mib,external_mib,array_buffers_mib,rss_growth_mib,heap_external_growth_mib,buffered_mib,sessions"];
  for (const s of result.samples) {
    rows.push([s.t.toFixed(2), mib(s.rss), mib(s.heapUsed), mib(s.external), mib(s.arrayBuffers), mib(s.rss - b.rss), mib(s.heapUsed + s.external - heapExternal(b)), mib(s.bufferedBytes), s.sessions].join(","));
  }
  writeFileSync(file, rows.join("\n") + "\n");
  return file;
}

/** One panel per run: growth over the baseline (rss, heap+external, Sluice's bufferedBytes) against the sum of windows, 1.1× and 2×. */
function writeSvg(results: RunResult[]): string {
  const file = join(OUT, `${MODE}.svg`);
  const W = 420;
  const H = 240;
  const pad = { l: 48, r: 10, t: 26, b: 28 };
  const cols = TRANSPORTS.length;
  const rowsN = Math.ceil(results.length / cols);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${cols * W}" height="${rowsN * H + 30}" font-family="sans-serif" font-size="11">`, `<rect width="100%" height="100%" fill="white"/>`];
  parts.push(`<text x="8" y="18" font-size="13">memory-bench ${MODE}: server growth over baseline, ${SUBS} subscribers, window ${WINDOW.items} items / 1 MiB, 1 KiB items; sum of windows ${mib(SUM)} MiB. red: rss, blue: heap+external, grey: bufferedBytes</text>`);
  const order = [...results].sort((a, b) => a.run - b.run || TRANSPORTS.indexOf(a.transport) - TRANSPORTS.indexOf(b.transport));
  order.forEach((r, i) => {
    const x0 = (i % cols) * W;
    const y0 = 30 + Math.floor(i / cols) * H;
    const b = r.baseline.memory;
    const tMax = Math.max(1, ...r.samples.map((s) => s.t));
    const yMax = Math.max(2.1 * SUM, ...r.samples.map((s) => Math.max(s.rss - b.rss, s.heapUsed + s.external - heapExternal(b))));
    const px = (t: number) => x0 + pad.l + (t / tMax) * (W - pad.l - pad.r);
    const py = (v: number) => y0 + H - pad.b - (Math.max(0, v) / yMax) * (H - pad.t - pad.b);
    parts.push(`<text x="${x0 + pad.l}" y="${y0 + 16}">${r.transport}, run ${r.run + 1}</text>`);
    parts.push(`<line x1="${px(0)}" y1="${py(0)}" x2="${px(tMax)}" y2="${py(0)}" stroke="black"/><line x1="${px(0)}" y1="${py(0)}" x2="${px(0)}" y2="${py(yMax)}" stroke="black"/>`);
    for (const [k, label] of [
      [1, "sum"],
      [1.1, "1.1×"],
      [2, "2×"],
    ] as const) {
      parts.push(`<line x1="${px(0)}" y1="${py(k * SUM)}" x2="${px(tMax)}" y2="${py(k * SUM)}" stroke="#999" stroke-dasharray="4 3"/><text x="${px(tMax) - 2}" y="${py(k * SUM) - 3}" text-anchor="end" fill="#666">${label}</text>`);
    }
    for (let mb = 0; mb <= yMax / MiB; mb += 100) parts.push(`<text x="${x0 + pad.l - 4}" y="${py(mb * MiB) + 4}" text-anchor="end" fill="#333">${mb}</text>`);
    parts.push(`<text x="${px(tMax)}" y="${y0 + H - 8}" text-anchor="end">${tMax.toFixed(0)} s</text><text x="${x0 + 4}" y="${y0 + pad.t - 4}" fill="#333">MiB</text>`);
    const line = (color: string, value: (s: Sample) => number) => `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${r.samples.map((s) => `${px(s.t).toFixed(1)},${py(value(s)).toFixed(1)}`).join(" ")}"/>`;
    parts.push(line("#888", (s) => s.bufferedBytes));
    parts.push(line("#1f5fbf", (s) => s.heapUsed + s.external - heapExternal(b)));
    parts.push(line("#c0392b", (s) => s.rss - b.rss));
  });
  parts.push("</svg>");
  writeFileSync(file, parts.join("\n"));
  return file;
}

const results: RunResult[] = [];
const snapshots: string[] = [];

const steps = [
  async () => {
    mkdirSync(OUT, { recursive: true });
    log(`mode ${MODE}, ${SUBS} subscribers (${PER_CLIENT} per client), window ${WINDOW.items} items / ${WINDOW.bytes} B, ${ITEM} B items, ${MODE === "stopped" ? "client process stopped" : `one item per ${READ_MS} ms`}, hold ${HOLD_MS / 1000} s, ${RUNS} runs of ${TRANSPORTS.join(", ")}`);
    log(`sum of windows: ${SUBS} × min(${WINDOW.items} × ${ITEM} B, ${WINDOW.bytes} B) = ${SUM} B = ${mib(SUM)} MiB`);
    for (let run = 0; run < RUNS; run++) {
      for (const transport of TRANSPORTS) {
        const result = await withTimeout(oneRun(transport, run), 180_000, `${transport} run ${run + 1}`);
        results.push(result);
        writeCsv(result);
        snapshots.push(...result.snapshots);
        const b = result.baseline.memory;
        log(`${transport} run ${run + 1}: rss growth after GC ${mib(result.held.memory.rss - b.rss)} MiB, heap+external ${mib(heapExternal(result.held.memory) - heapExternal(b))} MiB; peak rss +${mib(result.peakRss - b.rss)} MiB`);
      }
    }
  },
  () => {
    const perRun = results.map((r) => {
      const b = r.baseline.memory;
      const h = r.held.memory;
      const rssGrowth = h.rss - b.rss;
      const heGrowth = heapExternal(h) - heapExternal(b);
      const peakRss = Math.max(r.peakRss, r.hwmRss ?? 0, ...r.samples.map((s) => s.rss)) - b.rss;
      const peakHe = Math.max(r.peakHeapExternal, ...r.samples.map((s) => s.heapUsed + s.external)) - heapExternal(b);
      return { r, rssGrowth, heGrowth, peakRss, peakHe };
    });
    console.log(`\n## memory-bench, mode ${MODE}: ${SUBS} subscribers, window ${WINDOW.items} items / 1 MiB, ${ITEM} B items; sum of windows ${SUM} B = ${mib(SUM)} MiB\n`);
    console.log("Per run: growth over the baseline (after GC, with the subscribers still there), and the peak over the run (raw samples every 100/500 ms, and VmHWM)");
    console.table(
      perRun.map(({ r, rssGrowth, heGrowth, peakRss, peakHe }) => ({
        transport: r.transport,
        run: r.run + 1,
        "open ms": Math.round(r.openMs),
        "fresh rss MiB": mib(r.fresh.memory.rss),
        "base rss MiB": mib(r.baseline.memory.rss),
        "base heap+ext MiB": mib(heapExternal(r.baseline.memory)),
        "rss growth MiB": mib(rssGrowth),
        "rss over fresh MiB": mib(r.held.memory.rss - r.fresh.memory.rss),
        "heap+ext growth MiB": mib(heGrowth),
        "  of which arrayBuffers": mib(r.held.memory.arrayBuffers - r.baseline.memory.arrayBuffers),
        "peak rss growth MiB": mib(peakRss),
        "peak heap+ext growth MiB": mib(peakHe),
        "VmHWM growth MiB": r.hwmRss === undefined ? "n/a" : mib(r.hwmRss - r.baseline.memory.rss),
        "bufferedBytes MiB": mib(r.held.bufferedBytes),
        "after leave: heap+ext MiB": mib(heapExternal(r.after.memory) - heapExternal(r.baseline.memory)),
        "after leave: rss MiB": mib(r.after.memory.rss - r.baseline.memory.rss),
        ...(r.afterLater ? { [`${AFTER_MS / 1000} s later: heap+ext MiB`]: mib(heapExternal(r.afterLater.memory) - heapExternal(r.baseline.memory)) } : {}),
      })),
    );
    console.log("Against the sum of windows (goal: growth ≤ 1.10, peak ≤ 2.0)");
    console.table(
      perRun.map(({ r, rssGrowth, heGrowth, peakRss, peakHe }) => ({
        transport: r.transport,
        run: r.run + 1,
        "rss growth / sum": ratio(rssGrowth),
        "heap+ext growth / sum": ratio(heGrowth),
        "peak rss / sum": ratio(peakRss),
        "peak heap+ext / sum": ratio(peakHe),
        "per subscriber KiB (heap+ext)": +(heGrowth / SUBS / 1024).toFixed(1),
        "per subscriber KiB (rss)": +(rssGrowth / SUBS / 1024).toFixed(1),
        "goal met": rssGrowth <= 1.1 * SUM && heGrowth <= 1.1 * SUM && peakRss <= 2 * SUM && peakHe <= 2 * SUM ? "yes" : "no",
      })),
    );
    console.log(`Medians over ${RUNS} runs`);
    console.table(
      TRANSPORTS.map((transport) => {
        const mine = perRun.filter((p) => p.r.transport === transport);
        const m = (f: (p: (typeof perRun)[number]) => number) => median(mine.map(f));
        return {
          transport,
          "rss growth MiB": mib(m((p) => p.rssGrowth)),
          "heap+ext growth MiB": mib(m((p) => p.heGrowth)),
          "peak rss MiB": mib(m((p) => p.peakRss)),
          "peak heap+ext MiB": mib(m((p) => p.peakHe)),
          "rss growth / sum": ratio(m((p) => p.rssGrowth)),
          "heap+ext growth / sum": ratio(m((p) => p.heGrowth)),
          "peak rss / sum": ratio(m((p) => p.peakRss)),
          "peak heap+ext / sum": ratio(m((p) => p.peakHe)),
          "goal met (all runs)": mine.every((p) => p.rssGrowth <= 1.1 * SUM && p.heGrowth <= 1.1 * SUM && p.peakRss <= 2 * SUM && p.peakHe <= 2 * SUM) ? "yes" : "no",
        };
      }),
    );
    console.log("Where the unconsumed bytes are at the end of the hold (MiB; kernel queues are not in RSS)");
    console.table(
      perRun.map(({ r }) => ({
        transport: r.transport,
        run: r.run + 1,
        sessions: r.heldRaw.sessions,
        "Sluice bufferedBytes": mib(r.heldRaw.bufferedBytes),
        "server sockets": r.kernel.serverSockets,
        "kernel: server Send-Q": mib(r.kernel.serverSendQ),
        "kernel: server wmem queued": mib(r.kernel.serverWmemQueued),
        "kernel: client Recv-Q": mib(r.kernel.clientRecvQ),
        "user: h2 stream writes pending": mib(r.heldRaw.transport.h2StreamWritable),
        "h2 outbound frames": r.heldRaw.transport.h2OutboundFrames,
        "h2 conn. window left": mib(r.heldRaw.transport.h2RemoteWindow),
        "user: net.Socket write queues": mib(r.heldRaw.transport.socketWritable),
        "user: h1 response queues": mib(r.heldRaw.transport.h1ResponseWritable),
        "client items read": r.clients?.items ?? "n/a",
        reconnects: r.clients?.reconnects ?? "n/a",
      })),
    );
    for (const r of results) {
      const b = r.baseline.memory;
      console.log(`${r.transport.padEnd(9)} run ${r.run + 1} rss growth ${sparkline(
        r.samples.map((s) => s.rss - b.rss),
        2 * SUM,
      )} (0 … 2× sum, every ${SAMPLE_MS} ms)`);
    }
    console.log("RSS by mapping after GC (MiB): at the end of the hold / after the subscribers left; heap = glibc's main arena, anonymous = V8 heap pages + other arenas + mmapped blocks" + (TRIM ? "; BENCH_TRIM: RSS after malloc_trim(0)" : ""));
    console.table(
      results.map((r) => ({
        transport: r.transport,
        run: r.run + 1,
        "rss": `${mib(r.held.memory.rss)} / ${mib(r.after.memory.rss)}`,
        "[heap]": `${mib(r.maps.held.heap)} / ${mib(r.maps.after.heap)}`,
        anonymous: `${mib(r.maps.held.anonymous)} / ${mib(r.maps.after.anonymous)}`,
        files: `${mib(r.maps.held.file)} / ${mib(r.maps.after.file)}`,
        "V8 heapTotal": `${mib(r.held.memory.heapTotal)} / ${mib(r.after.memory.heapTotal)}`,
        "heapUsed + external": `${mib(heapExternal(r.held.memory))} / ${mib(heapExternal(r.after.memory))}`,
        ...(r.trimmed ? { "rss after malloc_trim": `${mib(r.trimmed.held)} / ${mib(r.trimmed.after)}`, "trim: growth over baseline": `${mib(r.trimmed.held - r.baseline.memory.rss)} / ${mib(r.trimmed.after - r.baseline.memory.rss)}` } : {}),
      })),
    );
    writeFileSync(join(OUT, `${MODE}-results.json`), JSON.stringify(results, null, 1));
    const errors = [...new Set(results.flatMap((r) => r.clients?.errors ?? []))];
    if (errors.length) console.log(`client errors seen: ${errors.join("; ")}`);
    console.log(`\nchart: ${writeSvg(results)}; CSV: ${OUT}/${MODE}-<transport>-run<N>.csv`);
    console.log(`node ${process.version}, ${RUNS} runs per transport, interleaved, a fresh server process per run; ${SUBS} subscribers, ${PER_CLIENT} per client, in one client process`);
  },
  () => {
    for (const file of snapshots) {
      console.log(`\n### heap snapshot ${file}\n`);
      console.log(heapSummaryMarkdown(summarizeHeapSnapshot(file)));
    }
  },
];

await runBench(
  log,
  async () => undefined,
  steps,
  async () => {
    if (clients) clients.kill("SIGKILL");
    await stopChild(server?.child, "SIGTERM");
  },
);
