/**
 * Sluice over HTTP/2 against a naive connect-node server-streaming RPC (one
 * message per item, default options, no compression) and raw node:http2, and
 * Sluice on listen's default one-port mode against "h2c" (peer "default"),
 * Sluice's direct HTTP/2 client against its connect-es client (peer "connect"),
 * HTTP/1.1 half duplex against HTTP/2 on the default listener (peer "half"), in
 * the same run, server in a child process. Reports medians of several runs,
 * and the server heap and both processes' CPU for 10 000 idle subscriptions.
 *
 *   npm run bench:http2            (BENCH_RUNS=5 by default)
 */
import { once } from "node:events";
import http2 from "node:http2";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import { createSluiceClient } from "@sluice/client-node";
import { SubscribeRequestSchema, SubscribeService } from "@sluice/protocol";
import { CASES, RUNS, WARMUP_RUNS, median, sluiceRun, startBenchServer } from "./bench-common.js";

// BENCH_PEERS=sluice,raw skips the other peers (profiling).
const PEERS = new Set((process.env.BENCH_PEERS ?? "sluice,default,half,gzip,naive,raw,heap").split(","));

const { child, urls } = await startBenchServer<{ sluice: string; sluiceGzip: string; sluiceDefault: string; naive: string; raw: string }>("./http2-bench-server.ts", ["--expose-gc"]);

async function naiveRun(size: number, count: number): Promise<number> {
  const manager = new Http2SessionManager(urls.naive);
  const client = createClient(SubscribeService, createConnectTransport({ baseUrl: urls.naive, httpVersion: "2", sessionManager: manager }));
  const start = performance.now();
  let n = 0;
  for await (const _ of client.subscribeHalfDuplex({ open: { stream: "items", params: { count, size } } })) n++;
  const ms = performance.now() - start;
  manager.abort();
  if (n !== count) throw new Error(`naive: ${n} of ${count}`);
  return ms;
}

async function rawRun(size: number, count: number): Promise<number> {
  const session = http2.connect(urls.raw, { settings: { initialWindowSize: 1 << 20 } });
  await once(session, "connect");
  session.setLocalWindowSize(16 << 20);
  const start = performance.now();
  const stream = session.request({ ":path": `/?count=${count}&size=${size}` });
  let received = 0;
  stream.on("data", (chunk: Buffer) => (received += chunk.length));
  await once(stream, "end");
  const ms = performance.now() - start;
  session.close();
  if (received !== count * size) throw new Error(`raw: ${received} bytes`);
  return ms;
}

const rows: Record<string, string | number>[] = [];
for (const { size, count } of CASES) {
  const times: Record<string, number[]> = { sluice: [], default: [], half: [], connect: [], gzip: [], naive: [], raw: [] };
  for (let run = -WARMUP_RUNS; run < RUNS; run++) {
    // Interleave peers so machine noise hits all of them alike; warm-up runs (run < 0) are not counted.
    const record = (peer: string, ms: number) => run >= 0 && times[peer]!.push(ms);
    if (PEERS.has("sluice")) record("sluice", await sluiceRun({ baseUrl: urls.sluice }, size, count));
    if (PEERS.has("default")) record("default", await sluiceRun({ baseUrl: urls.sluiceDefault }, size, count));
    // HTTP/1.1 half duplex (SubscribeHalfDuplex + Control) against the default listener, which serves HTTP/1.1.
    if (PEERS.has("half")) record("half", await sluiceRun({ baseUrl: urls.sluiceDefault, httpVersion: "1.1" }, size, count));
    if (PEERS.has("connect")) record("connect", await sluiceRun({ baseUrl: urls.sluice, directSubscribe: false }, size, count));
    if (PEERS.has("gzip")) record("gzip", await sluiceRun({ baseUrl: urls.sluiceGzip }, size, count));
    if (PEERS.has("naive")) record("naive", await naiveRun(size, count));
    if (PEERS.has("raw")) record("raw", await rawRun(size, count));
    process.stderr.write(`  ${size} B ${run < 0 ? "warm-up" : `run ${run + 1}/${RUNS}`}\r`);
  }
  const rate = (ms: number) => (count / ms) * 1000;
  const s = rate(median(times.sluice!));
  const n = rate(median(times.naive!));
  const r = rate(median(times.raw!));
  const g = rate(median(times.gzip!));
  const d = rate(median(times.default!));
  const c = rate(median(times.connect!));
  const h = rate(median(times.half!));
  rows.push({
    item: `${size} B`,
    items: count,
    "sluice items/s": Math.round(s),
    "naive items/s": Math.round(n),
    "sluice / naive": +(s / n).toFixed(2),
    "sluice MB/s": +((s * size) / 1e6).toFixed(1),
    "raw http2 MB/s": +((r * size) / 1e6).toFixed(1),
    "sluice / raw (MB/s)": +(s / r).toFixed(2),
    "sluice+gzip items/s": Math.round(g),
    "default listener / h2c": +(d / s).toFixed(2),
    "half duplex / HTTP/2 (default listener)": +(h / d).toFixed(2),
    "direct client / connect-es client": +(s / c).toFixed(2),
  });
}
console.table(rows);

// Heap per idle subscription: 10 000 streams open on an idle topic.
if (PEERS.has("heap")) {
  const client = createSluiceClient({ baseUrl: urls.sluice });
  const heap = async () => {
    for await (const e of client.subscribe<{ heapUsed: number }>("heap")) if (e.kind === "item") return e.value.heapUsed;
    throw new Error("no heap");
  };
  await heap();
  const before = await heap();
  const streams = Array.from({ length: 10_000 }, () => client.subscribe("idle", { window: { items: 64, bytes: 65_536 } }));
  const iterators = streams.map((s) => s[Symbol.asyncIterator]());
  const pending = iterators.map((it) => it.next());
  await new Promise((r) => setTimeout(r, 5_000));
  const after = await heap();
  console.log(`idle subscriptions: 10000, server heap ${(before / 2 ** 20).toFixed(1)} MiB -> ${(after / 2 ** 20).toFixed(1)} MiB, ${((after - before) / 10_000 / 1024).toFixed(2)} KiB per subscription (goal < 10 KiB)`);
  // CPU of the same 10 000 idle subscriptions (heartbeats every 5 s, the default), both processes, over 20 s.
  const serverCpuMs = async () => {
    for await (const e of client.subscribe<{ cpuMs: number }>("cpu")) if (e.kind === "item") return e.value.cpuMs;
    throw new Error("no cpu");
  };
  const server0 = await serverCpuMs();
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 20_000));
  const server1 = await serverCpuMs();
  const client1 = process.cpuUsage(client0);
  const wallMs = performance.now() - t0;
  const share = (cpuMs: number) => `${((100 * cpuMs) / wallMs).toFixed(1)} %`;
  console.log(`idle subscriptions: 10000 for ${(wallMs / 1000).toFixed(1)} s: server ${share(server1 - server0)} of a core, client ${share((client1.user + client1.system) / 1000)} of a core (goal < 10 % each)`);
  for (const s of streams) s.cancel();
  await Promise.allSettled(pending);
  // The floor: the same number of idle bidi calls on a bare connect-node handler.
  const manager = new Http2SessionManager(urls.naive);
  const naive = createClient(SubscribeService, createConnectTransport({ baseUrl: urls.naive, httpVersion: "2", sessionManager: manager }));
  const abort = new AbortController();
  const floorBefore = await heap();
  const calls = Array.from({ length: 10_000 }, async () => {
    const requests = (async function* () {
      yield create(SubscribeRequestSchema, {});
      yield create(SubscribeRequestSchema, {});
      await new Promise((resolve) => abort.signal.addEventListener("abort", resolve));
    })();
    try {
      for await (const _ of naive.subscribe(requests, { signal: abort.signal })) void _;
    } catch {
      // aborted below
    }
  });
  await new Promise((r) => setTimeout(r, 5_000));
  const floorAfter = await heap();
  abort.abort();
  await Promise.allSettled(calls);
  manager.abort();
  const sluicePer = (after - before) / 10_000 / 1024;
  const floorPer = (floorAfter - floorBefore) / 10_000 / 1024;
  console.log(`idle bare connect-node bidi calls: 10000, ${floorPer.toFixed(2)} KiB per call; Sluice / bare = ${(sluicePer / floorPer).toFixed(2)}x`);
  client.close();
}
console.log(`node ${process.version}, ${RUNS} runs per case after ${WARMUP_RUNS} not counted, medians; server in a child process`);
child.kill("SIGTERM");
process.exit(0);
