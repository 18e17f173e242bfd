/**
 * What idle subscriptions cost in CPU, both processes, against the floor of
 * the same traffic on bare node:http2: for A/B checks of heartbeat changes,
 * with the set-up left out (http2-bench's idle line starts measuring 5 s
 * after opening its 10 000 subscriptions, this one waits 10 s).
 *
 *   node --import tsx tools/bench/idle-probe.ts
 *   IDLE_SUBSCRIPTIONS=10000 IDLE_SETTLE_MS=10000 IDLE_MEASURE_MS=20000 IDLE_PEER=sluice|raw
 *
 * `sluice`: one client, IDLE_SUBSCRIPTIONS subscriptions on one HTTP/2
 * connection to http2-bench-server.ts's idle topic (default heartbeat, 5 s).
 * `raw`: as many bare HTTP/2 streams, each carrying what an idle Sluice
 * session sends per 5 s interval (the server's ping, the client's answer),
 * one write each way: the floor of Node's HTTP/2 for that traffic.
 * Profile the measured phase alone with `node --cpu-prof` and
 * `profile-top.ts --last 19`.
 */
import { fork } from "node:child_process";
import http2 from "node:http2";
import { createSluiceClient } from "@sluice/client-node";
import { startBenchServer } from "./bench-common.js";

const N = Number(process.env.IDLE_SUBSCRIPTIONS ?? 10_000);
const SETTLE_MS = Number(process.env.IDLE_SETTLE_MS ?? 10_000);
const MEASURE_MS = Number(process.env.IDLE_MEASURE_MS ?? 20_000);
const PEER = process.env.IDLE_PEER ?? "sluice";
const INTERVAL_MS = 5_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const share = (cpuMs: number, wallMs: number) => `${((100 * cpuMs) / wallMs).toFixed(1)} %`;

/** Measures over MEASURE_MS after SETTLE_MS: the server's CPU by `serverCpuMs`, the client's by this process. */
async function measure(serverCpuMs: () => Promise<number>): Promise<string> {
  await sleep(SETTLE_MS);
  const server0 = await serverCpuMs();
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(MEASURE_MS);
  const server1 = await serverCpuMs();
  const client1 = process.cpuUsage(client0);
  const wallMs = performance.now() - t0;
  return `server ${share(server1 - server0, wallMs)} of a core, client ${share((client1.user + client1.system) / 1000, wallMs)} of a core`;
}

if (process.argv[2] === "raw-server") {
  // The floor's server: a write per stream per interval, and an answer to each client write.
  const server = http2.createServer({ settings: { maxConcurrentStreams: 100_000 } });
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200 });
    const beat = setInterval(() => stream.write(Buffer.alloc(16)), INTERVAL_MS);
    stream.on("close", () => clearInterval(beat));
    stream.on("error", () => undefined);
  });
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on("message", (message) => {
    if (message !== "cpu") return;
    const { user, system } = process.cpuUsage();
    process.send!({ cpuMs: (user + system) / 1000 });
  });
} else if (PEER === "raw") {
  const child = fork(new URL(import.meta.url).pathname, ["raw-server"], { execArgv: ["--import", "tsx"] });
  const port = await new Promise<number>((resolve) => child.once("message", (m: { port: number }) => resolve(m.port)));
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { maxConcurrentStreams: 100_000 } });
  for (let i = 0; i < N; i++) {
    const stream = session.request({ ":method": "POST", ":path": "/" }, { endStream: false });
    stream.on("data", () => stream.write(Buffer.alloc(16)));
    stream.on("error", () => undefined);
    if (i % 500 === 499) await sleep(10);
  }
  const cpu = () =>
    new Promise<number>((resolve) => {
      child.once("message", (m: { cpuMs: number }) => resolve(m.cpuMs));
      child.send("cpu");
    });
  console.log(`raw node:http2, ${N} streams, a write each way per ${INTERVAL_MS / 1000} s: ${await measure(cpu)}`);
  child.kill("SIGTERM");
  process.exit(0);
} else {
  const { child, urls } = await startBenchServer<{ sluice: string }>("./http2-bench-server.ts");
  const client = createSluiceClient({ baseUrl: urls.sluice });
  const serverCpuMs = async () => {
    for await (const e of client.subscribe<{ cpuMs: number }>("cpu")) if (e.kind === "item") return e.value.cpuMs;
    throw new Error("the cpu stream ended without an item");
  };
  const streams = Array.from({ length: N }, () => client.subscribe("idle", { window: { items: 64, bytes: 65_536 } }));
  for (const stream of streams) void stream[Symbol.asyncIterator]().next().catch(() => undefined);
  console.log(`Sluice, ${N} idle subscriptions on one HTTP/2 connection, default heartbeat: ${await measure(serverCpuMs)}`);
  // The server goes first: the profile of either process then ends with the measured phase, not the teardown.
  child.kill("SIGTERM");
  process.exit(0);
}
