/**
 * Streams over WebSocket, server to client: `count` items of `size` bytes,
 * the same payload for every peer, in the same interleaved run (sluice, raw,
 * rsocket, socketio, then the next run); server in a child process
 * (ws-bench-server.ts), everything on 127.0.0.1, no permessage-deflate.
 * - sluice:   Sluice over WebSocket (transport-ws), client-node's subscribe
 *   with a credit window of 65 536 items / 8 MiB (Sluice's own flow control).
 * - raw:      raw `ws`, one binary message per item; the only flow control is
 *   the server's socket backpressure (it waits while > 1 MiB is buffered).
 * - rsocket:  rsocket-js 0.0.27 request-stream (rsocket-core RSocketClient
 *   over rsocket-websocket-client with `ws`'s WebSocket as wsCreator,
 *   BufferEncoders so payloads stay binary), one PAYLOAD frame per item;
 *   flow control is RSocket's request-n, done the way rsocket users do
 *   (Reactor's limitRate idiom): request(W) at subscribe, then request(W/2)
 *   each time W/2 items have arrived, so between W/2 and W stay outstanding.
 *   W = 2048 items, fewer for big items so W items fit Sluice's 8 MiB byte
 *   window (512 at 16 KiB, 128 at 64 KiB).
 * - socketio: Socket.IO 4.8 (socket.io-client, websocket transport only), the
 *   server `emit`s one binary event per item (a header frame and an
 *   attachment frame); flow control is a bounded producer on the server
 *   (it pauses while engine.io's write buffer holds ~1 MiB of items); the
 *   client just counts.
 * Each peer checks it got exactly `count` items of `size` bytes. The
 * sluice run includes its connect; the others connect before the clock starts.
 * Reports medians of BENCH_RUNS (default 5) runs, ratios of the MB/s medians,
 * and the min–max MB/s of the Sluice and raw runs.
 *
 *   npm run bench:ws
 *   BENCH_PEERS=sluice,raw,rsocket,socketio   peers to run (all by default)
 *   BENCH_SIZES=65536                         item sizes to run
 */
import { once } from "node:events";
import { BufferEncoders, RSocketClient, type ReactiveSocket } from "rsocket-core";
import type { ISubscription } from "rsocket-flowable";
import rsocketWebSocketClient from "rsocket-websocket-client";
import { WebSocket } from "ws";
import { socketIoRun } from "./socketio-client-run.js";
import { CASES, RUNS, WARMUP_RUNS, median, sluiceCheckedRun, selectContenders, startBenchServer, withTimeout } from "./bench-common.js";

type Key = "sluice" | "raw" | "rsocket" | "socketio";
type Urls = Record<Key, string>;

/** No run of these counts takes near this long; a lost item fails the run instead of hanging it. */
const RUN_TIMEOUT_MS = 120_000;

const { child, urls } = await startBenchServer<Urls>("./ws-bench-server.ts");

async function rawRun(size: number, count: number): Promise<number> {
  const socket = new WebSocket(urls.raw, { perMessageDeflate: false });
  await once(socket, "open");
  const start = performance.now();
  let n = 0;
  let bytesIn = 0;
  let wrongSize = 0;
  const done = new Promise<void>((resolve) =>
    socket.on("message", (data: Buffer) => {
      n++;
      bytesIn += data.length;
      if (data.length !== size) wrongSize++;
      if (n === count) resolve();
    }),
  );
  socket.send(JSON.stringify({ count, size }));
  await withTimeout(done, RUN_TIMEOUT_MS, "raw run");
  const ms = performance.now() - start;
  socket.close();
  if (bytesIn !== count * size || wrongSize) throw new Error(`raw: ${bytesIn} bytes, ${wrongSize} items not of ${size} bytes`);
  return ms;
}

async function rsocketRun(size: number, count: number): Promise<number> {
  const client = new RSocketClient<Buffer, Buffer>({
    setup: { keepAlive: 60_000, lifetime: 180_000, dataMimeType: "application/octet-stream", metadataMimeType: "application/octet-stream" },
    transport: new rsocketWebSocketClient.default({ url: urls.rsocket, wsCreator: (url) => new WebSocket(url, { perMessageDeflate: false }) }, BufferEncoders),
  });
  const rsocket = await new Promise<ReactiveSocket<Buffer, Buffer>>((resolve, reject) => client.connect().subscribe({ onComplete: resolve, onError: reject }));
  const window = Math.min(2048, Math.max(2, Math.floor((8 << 20) / size)));
  const half = window >> 1;
  const start = performance.now();
  let n = 0;
  let wrongSize = 0;
  const done = new Promise<void>((resolve, reject) => {
    let subscription: ISubscription | undefined;
    let sinceTopUp = 0;
    rsocket.requestStream({ data: Buffer.from(JSON.stringify({ count, size })) }).subscribe({
      onSubscribe: (s) => {
        subscription = s;
        s.request(window);
      },
      onNext: ({ data }) => {
        n++;
        if (data?.length !== size) wrongSize++;
        if (++sinceTopUp === half) {
          sinceTopUp = 0;
          subscription!.request(half);
        }
      },
      onComplete: () => resolve(),
      onError: reject,
    });
  });
  try {
    await withTimeout(done, RUN_TIMEOUT_MS, "rsocket run");
  } finally {
    client.close();
  }
  const ms = performance.now() - start;
  if (n !== count || wrongSize) throw new Error(`rsocket: ${n} of ${count} items, ${wrongSize} not of ${size} bytes`);
  return ms;
}

const CONTENDERS = [
  { key: "sluice", label: "sluice", run: (size: number, count: number) => sluiceCheckedRun({ baseUrl: urls.sluice, transport: "websocket" }, size, count) },
  { key: "raw", label: "raw ws", run: rawRun },
  { key: "rsocket", label: "rsocket", run: rsocketRun },
  { key: "socketio", label: "socket.io", run: (size: number, count: number) => socketIoRun(urls.socketio, size, count, RUN_TIMEOUT_MS) },
] as const satisfies readonly { key: Key; label: string; run: (size: number, count: number) => Promise<number> }[];
const { active, peers } = selectContenders<Key, (typeof CONTENDERS)[number]>(CONTENDERS);

const mbps = (size: number, count: number, ms: number) => (count * size) / ms / 1000;
const rows: Record<string, string | number>[] = [];
for (const { size, count } of CASES) {
  const times = new Map<Key, number[]>(active.map((c) => [c.key, []]));
  for (let run = -WARMUP_RUNS; run < RUNS; run++) {
    // Interleaved, so machine noise hits every peer alike; warm-up runs (run < 0) are not counted.
    for (const c of active) {
      const ms = await c.run(size, count);
      if (run >= 0) times.get(c.key)!.push(ms);
    }
    process.stderr.write(`  ${size} B ${run < 0 ? "warm-up" : `run ${run + 1}/${RUNS}`}\r`);
  }
  const rate = (key: Key) => (count / median(times.get(key)!)) * 1000; // items/s
  const row: Record<string, string | number> = { item: size >= 1024 ? `${size / 1024} KiB` : `${size} B`, items: count };
  for (const c of active) row[`${c.label} items/s`] = Math.round(rate(c.key));
  for (const c of active) row[`${c.label} MB/s`] = +((rate(c.key) * size) / 1e6).toFixed(1);
  if (peers.has("sluice")) for (const c of active.filter((c) => c.key !== "sluice")) row[`sluice / ${c.key}`] = +(rate("sluice") / rate(c.key)).toFixed(2);
  for (const c of active.filter((c) => c.key === "sluice" || c.key === "raw")) {
    const all = times.get(c.key)!.map((ms) => mbps(size, count, ms));
    row[`${c.key} spread`] = `${Math.min(...all).toFixed(1)}–${Math.max(...all).toFixed(1)}`;
  }
  rows.push(row);
}
process.stderr.write("\n");
console.table(rows);
console.log(
  `node ${process.version}, ${RUNS} runs per case after ${WARMUP_RUNS} not counted, medians; "sluice / x" is the ratio of MB/s medians; spread is the min–max MB/s of the runs; ` +
    `server in a child process; peers: ${active.map((c) => c.label).join(", ")}`,
);
child.kill("SIGTERM");
process.exit(0);
