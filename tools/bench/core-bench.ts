/**
 * Core microbenchmark: sender -> encode -> decode -> receiver -> credit/ack ->
 * encode -> decode -> sender, per item, on one core, no I/O. Reports the
 * median items/s and MB/s over several tinybench samples.
 *
 *   npm run bench:core
 */
import { StreamReceiver, StreamSender } from "@sluice/core";
import { decodeClientFrame, decodeServerFrame, encodeClientFrame, encodeServerFrame } from "@sluice/protocol";
import { Bench } from "tinybench";

const MAX_FRAME = 4 * 1024 * 1024;
const ITEMS_PER_RUN = 200_000;

/** Streams `count` items of `size` bytes through the whole pipeline; returns items delivered. */
export function pipeline(count: number, size: number): number {
  const payload = new Uint8Array(size).fill(7);
  const empty = new Uint8Array(0);
  const sender = new StreamSender({ chunk: { maxBytes: 32 * 1024, maxItems: 4096, flushDelayMs: 5 } });
  const receiver = new StreamReceiver({ stream: "bench", window: { items: 16_384, bytes: 4 * 1024 * 1024 } });
  let now = 0;
  receiver.connect(now);
  let delivered = 0;
  let pushed = 0;
  const toServer = () => {
    for (let f = receiver.pollTransmit(); f; f = receiver.pollTransmit()) sender.handleFrame(decodeClientFrame(encodeClientFrame(f), MAX_FRAME), now);
    for (let e = sender.pollEvent(); e; e = sender.pollEvent()) {
      if (e.type === "open") sender.accept({ sessionId: "b", sessionSecret: empty, nextSeq: 1, contentType: "application/octet-stream" }, now);
    }
  };
  const toClient = () => {
    for (let f = sender.pollTransmit(); f; f = sender.pollTransmit()) receiver.handleFrame(decodeServerFrame(encodeServerFrame(f), MAX_FRAME), now);
  };
  toServer();
  while (delivered < count) {
    now += 1;
    while (sender.demand > 0 && pushed < count) {
      sender.push(payload, empty, now);
      pushed++;
    }
    if (pushed === count && sender.state === "streaming") sender.end(empty, now);
    sender.handleTimeout(now);
    toClient();
    let last = 0;
    for (let d = receiver.read(now); d; d = receiver.read(now)) {
      if (d.kind === "item") {
        delivered++;
        last = d.seq;
      }
    }
    if (last > 0) receiver.ack(last, now);
    toServer();
  }
  return delivered;
}

const sizes = [64, 1024];
const bench = new Bench({ iterations: 12, warmupIterations: 3, time: 0 });
for (const size of sizes) bench.add(`${size} B items`, () => void pipeline(ITEMS_PER_RUN, size));
await bench.run();
for (const task of bench.tasks) if ((task.result as { error?: unknown }).error) console.error(task.name, (task.result as { error?: unknown }).error);

const rows = bench.tasks.map((task) => {
  const size = Number(task.name.split(" ")[0]);
  const latency = (task.result as { latency?: { p50?: number; samplesCount?: number } }).latency;
  const medianMs = latency?.p50 ?? Number.NaN;
  const itemsPerSec = (ITEMS_PER_RUN / medianMs) * 1000;
  return {
    item: task.name,
    runs: latency?.samplesCount ?? 0,
    "median ms / 200k items": medianMs.toFixed(1),
    "items/s (median)": Math.round(itemsPerSec).toLocaleString("en-US"),
    "MB/s (median)": ((itemsPerSec * size) / 1e6).toFixed(1),
    "ns/item": ((medianMs * 1e6) / ITEMS_PER_RUN).toFixed(0),
  };
});
console.table(rows);
console.log(`node ${process.version}, ${ITEMS_PER_RUN} items per run, goal: >= 1,000,000 items/s for 64 B items`);
