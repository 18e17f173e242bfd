/**
 * Sluice over WebSocket (transport-ws) against raw `ws`, one message per item,
 * in the same run; server in a child process, everything on 127.0.0.1.
 * Reports medians of BENCH_RUNS (default 5) interleaved runs.
 *
 *   npm run bench:ws
 */
import { once } from "node:events";
import { WebSocket } from "ws";
import { CASES, RUNS, median, sluiceRun, startBenchServer } from "./bench-common.js";

const { child, urls } = await startBenchServer<{ sluice: string; raw: string }>("./ws-bench-server.ts");

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

const rows: Record<string, string | number>[] = [];
for (const { size, count } of CASES) {
  const sluice: number[] = [];
  const raw: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    sluice.push(await sluiceRun({ baseUrl: urls.sluice, transport: "websocket" }, size, count));
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
