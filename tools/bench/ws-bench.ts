/**
 * Sluice over WebSocket (transport-ws) against raw `ws`, one message per item,
 * in the same run; server in a child process, everything on 127.0.0.1.
 * Reports medians of BENCH_RUNS (default 5) interleaved runs.
 *
 *   npm run bench:ws
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { bytes, createSluiceClient } from "@sluice/client-node";
import { WebSocket } from "ws";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ALL_CASES = [
  { size: 64, count: 300_000 },
  { size: 1024, count: 100_000 },
  { size: 16 * 1024, count: 10_000 },
];
// BENCH_SIZES=16384 runs one case (profiling); BENCH_SERVER_ARGS passes flags to the server process.
const SIZES = process.env.BENCH_SIZES?.split(",").map(Number);
const CASES = SIZES ? ALL_CASES.filter((c) => SIZES.includes(c.size)) : ALL_CASES;

const script = fileURLToPath(new URL("./ws-bench-server.ts", import.meta.url));
const child = spawn(process.execPath, [...(process.env.BENCH_SERVER_ARGS?.split(" ") ?? []), ...process.execArgv, script], { stdio: ["ignore", "pipe", "inherit"] });
const [line] = (await once(child.stdout!, "data")) as [Buffer];
const urls = JSON.parse(line.toString()) as { sluice: string; raw: string };

async function sluiceRun(size: number, count: number): Promise<number> {
  const client = createSluiceClient({ baseUrl: urls.sluice, transport: "websocket" });
  const start = performance.now();
  let n = 0;
  for await (const e of client.subscribe("items", { params: { count, size }, codec: bytes(), window: { items: 65_536, bytes: 8 << 20 } })) if (e.kind === "item") n++;
  const ms = performance.now() - start;
  client.close();
  if (n !== count) throw new Error(`sluice: ${n} of ${count}`);
  return ms;
}

async function rawRun(size: number, count: number): Promise<number> {
  const socket = new WebSocket(urls.raw, { perMessageDeflate: false });
  await once(socket, "open");
  const start = performance.now();
  let n = 0;
  let bytesIn = 0;
  const done = new Promise<void>((resolve) =>
    socket.on("message", (data: Buffer) => {
      n++;
      bytesIn += data.length;
      if (n === count) resolve();
    }),
  );
  socket.send(JSON.stringify({ count, size }));
  await done;
  const ms = performance.now() - start;
  socket.close();
  if (bytesIn !== count * size) throw new Error(`raw: ${bytesIn} bytes`);
  return ms;
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const rows: Record<string, string | number>[] = [];
for (const { size, count } of CASES) {
  const sluice: number[] = [];
  const raw: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    sluice.push(await sluiceRun(size, count));
    raw.push(await rawRun(size, count));
    process.stderr.write(`  ${size} B run ${run + 1}/${RUNS}\r`);
  }
  const s = (count / median(sluice)) * 1000;
  const r = (count / median(raw)) * 1000;
  rows.push({
    item: `${size} B`,
    items: count,
    "sluice items/s": Math.round(s),
    "raw ws items/s": Math.round(r),
    "sluice / raw": +(s / r).toFixed(2),
    "sluice MB/s": +((s * size) / 1e6).toFixed(1),
    "raw ws MB/s": +((r * size) / 1e6).toFixed(1),
  });
}
console.table(rows);
console.log(`node ${process.version}, ${RUNS} runs per case, medians; server in a child process`);
child.kill("SIGTERM");
process.exit(0);
