/**
 * One Sluice peer, one item size, long runs: for CPU profiles and A/B
 * checks of a change, where the interleaved benches' short runs are mostly
 * warm-up. The server is ws-bench-server.ts (its `items` source) in a child
 * process; each run opens a new client and subscribes with the benches'
 * window (65 536 items / 8 MiB), and prints MB/s and the stream's stats.
 *
 *   node --import tsx tools/bench/stream-probe.ts
 *   PROBE_SIZE=16384 PROBE_COUNT=50000 PROBE_RUNS=3 PROBE_TRANSPORT=websocket|http
 *   PROBE_STREAM_WINDOW=<bytes>   the client's HTTP/2 stream window (default 1 MiB)
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx tools/bench/stream-probe.ts   (both processes profiled)
 */
import { bytes, createSluiceClient } from "@sluice/client-node";
import { startBenchServer } from "./bench-common.js";

const size = Number(process.env.PROBE_SIZE ?? 16_384);
const count = Number(process.env.PROBE_COUNT ?? 50_000);
const runs = Number(process.env.PROBE_RUNS ?? 3);
const transport = (process.env.PROBE_TRANSPORT ?? "websocket") as "websocket" | "http";

const { child, urls } = await startBenchServer<{ sluice: string }>("./ws-bench-server.ts");
try {
  for (let run = 1; run <= runs; run++) {
    const client = createSluiceClient({ baseUrl: urls.sluice, transport, ...(process.env.PROBE_STREAM_WINDOW ? { streamWindowBytes: Number(process.env.PROBE_STREAM_WINDOW) } : {}) });
    const start = performance.now();
    let items = 0;
    const stream = client.subscribe("items", { params: { count, size }, codec: bytes(), window: { items: 65_536, bytes: 8 << 20 } });
    for await (const event of stream) if (event.kind === "item") items++;
    const ms = performance.now() - start;
    client.close();
    if (items !== count) throw new Error(`${items} of ${count} items`);
    const { creditsSent, acksSent, waits } = stream.stats;
    console.log(`run ${run}/${runs}: ${transport} ${size} B × ${count}: ${((size * count) / ms / 1000).toFixed(1)} MB/s (credits sent ${creditsSent}, acks ${acksSent}, waits ${waits})`);
  }
} finally {
  child.kill("SIGTERM");
}
process.exit(0);
