/**
 * The server side of publish-bench.ts, in its own process so that client and
 * server each get a core. Prints one JSON line: { http2, websocket, socketio }.
 *
 * - http2:     a SluiceServer via `listen` with protocols "h2c" (HTTP/2 only,
 *              natively: the fastest HTTP/2 path), stream "topic": an
 *              in-memory Topic with `publish: {}` (default publish window,
 *              1 024 items / 1 MiB per publisher). Items are raw bytes.
 * - websocket: the same SluiceServer via `listen` on its default
 *              "h2c+http1" port, Connect over WebSocket on /connect.
 * - socketio:  a Socket.IO 4.8 server (websocket transport only,
 *              perMessageDeflate off); its "publish" handler appends the
 *              payload to a bounded in-memory history with the next seq and
 *              acks with that seq, roughly what the topic does per item.
 *
 * Every retained history is bounded alike: 10 000 items / 64 MiB (the
 * JetStream stream of the bench has the same limits).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SluiceServer, Topic, listen } from "@sluice/server-node";
import { Server as SocketIoServer } from "socket.io";

const HISTORY_ITEMS = 10_000;
const HISTORY_BYTES = 64 << 20;

// The latency subscriber reads at the publish rate; a generous queue keeps a
// scheduling hiccup from turning into drops (a drop would show as a gap).
const topic = new Topic("topic", { historyItems: HISTORY_ITEMS, historyBytes: HISTORY_BYTES, subscriberQueueItems: 65_536 });
// Profiling knobs (defaults: the server's): BENCH_PUBLISH_WINDOW=items,bytes
// (publish-bench.ts reads it too, for the peers' acks in flight) and
// BENCH_FLUSH_MS (the subscribers' chunk flush deadline).
const [windowItems, windowBytes] = (process.env.BENCH_PUBLISH_WINDOW ?? "").split(",").map(Number);
const sluice = new SluiceServer({
  streams: {
    topic: {
      topic,
      publish: windowItems && windowBytes ? { window: { items: windowItems, bytes: windowBytes } } : {},
      ...(process.env.BENCH_FLUSH_MS ? { chunk: { flushDelayMs: Number(process.env.BENCH_FLUSH_MS) } } : {}),
    },
  },
});
const h2 = await listen(sluice, { protocols: "h2c" });
const ws = await listen(sluice);

/** Socket.IO's "topic": a ring of the last HISTORY_ITEMS payloads, bounded by bytes too. */
class Ring {
  readonly #items: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(HISTORY_ITEMS);
  #head = 0;
  #count = 0;
  #bytes = 0;
  seq = 0;
  append(data: Uint8Array): number {
    if (this.#count === HISTORY_ITEMS || this.#bytes + data.byteLength > HISTORY_BYTES) this.#dropOldest();
    this.#items[(this.#head + this.#count) % HISTORY_ITEMS] = data;
    this.#count++;
    this.#bytes += data.byteLength;
    return ++this.seq;
  }
  #dropOldest(): void {
    const oldest = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % HISTORY_ITEMS;
    this.#count--;
    this.#bytes -= oldest?.byteLength ?? 0;
  }
}
const ring = new Ring();
const ioHttp = http.createServer();
const io = new SocketIoServer(ioHttp, { transports: ["websocket"], perMessageDeflate: false, maxHttpBufferSize: 1 << 20, serveClient: false });
io.on("connection", (socket) => {
  socket.on("publish", (data: Uint8Array, ack: (seq: number) => void) => ack(ring.append(data)));
});
await new Promise<void>((resolve) => ioHttp.listen(0, "127.0.0.1", resolve));

console.log(JSON.stringify({ http2: h2.url, websocket: ws.url, socketio: `http://127.0.0.1:${(ioHttp.address() as AddressInfo).port}` }));
process.on("SIGTERM", () => process.exit(0));
// The bench died without killing us (we were reparented): do not linger.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1_000).unref();
