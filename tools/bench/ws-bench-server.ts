/**
 * The server side of ws-bench.ts, in its own process. Prints one JSON line
 * with the URLs.
 * - sluice: a SluiceServer via `listen` (transport-ws on /connect), stream
 *   "items" with params { count, size }.
 * - raw:    a `ws` server: the client sends {"count","size"}, the server sends
 *   `count` binary messages of `size` bytes, waiting while more than 1 MiB is
 *   buffered (the same socket backpressure transport-ws uses).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { payload } from "./bench-common.js";
import { SluiceServer, listen } from "@sluice/server-node";
import { WebSocketServer } from "ws";


const sluice = new SluiceServer({
  streams: {
    items: {
      params: (p) => ({ count: Number(p.count), size: Number(p.size) }),
      source: {
        async *open(params: { count: number; size: number }) {
          const data = payload(params.size);
          for (let i = 0; i < params.count; i++) yield { data };
        },
      },
    },
  },
});
const sluiceServer = await listen(sluice);

const rawHttp = http.createServer();
const wss = new WebSocketServer({ server: rawHttp, perMessageDeflate: false });
wss.on("connection", (socket) => {
  socket.once("message", (message: Buffer) => {
    const { count, size } = JSON.parse(message.toString()) as { count: number; size: number };
    const data = payload(size);
    let sent = 0;
    const pump = () => {
      while (sent < count) {
        socket.send(data);
        sent++;
        if (socket.bufferedAmount > 1024 * 1024) return void setImmediate(waitDrain);
      }
    };
    const waitDrain = () => (socket.bufferedAmount > 512 * 1024 ? setImmediate(waitDrain) : pump());
    pump();
  });
});
await new Promise<void>((resolve) => rawHttp.listen(0, "127.0.0.1", resolve));

console.log(JSON.stringify({ sluice: sluiceServer.url, raw: `ws://127.0.0.1:${(rawHttp.address() as AddressInfo).port}` }));
process.on("SIGTERM", () => process.exit(0));
