/**
 * The server side of browser-bench.ts, in its own process. Prints one JSON
 * line: { url, socketio }. Both peers send `count` items of the same
 * `size`-byte payload (bench-common's `payload`), on 127.0.0.1, without
 * compression (no permessage-deflate).
 * - url:      a SluiceServer via `listen` on its default one port (h2c +
 *   HTTP/1.1 + WebSocket, routed by the first bytes), so connect-web's
 *   SubscribeHalfDuplex + Control calls over HTTP/1.1 and transport-ws on
 *   /connect reach the same server. Stream "items" with params
 *   { count, size }, the source of ws-bench-server.ts / http2-bench-server.ts;
 *   flow control is Sluice's own credit window (the page grants 65 536 items /
 *   8 MiB, as sluiceRun does). Also serves the bench page at / (PAGE_JS).
 * - socketio: a Socket.IO 4.8 server on its own HTTP server, exactly the peer
 *   of ws-bench-server.ts: websocket transport only; on the client's "items"
 *   event ({ count, size }) it `emit`s one binary "item" event per item (a
 *   text header frame plus a binary attachment frame), pausing while engine.io's
 *   per-socket write buffer holds about 1 MiB of items and resuming on the
 *   engine socket's "drain".
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SluiceServer, listen } from "@sluice/server-node";
import { Server as SocketIoServer } from "socket.io";
import { payload } from "./bench-common.js";

/** Bytes of items the Socket.IO producer lets queue before it waits (as in ws-bench-server.ts). */
const HIGH_WATER = 1024 * 1024;

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
const pageJs = process.env.PAGE_JS ? readFileSync(process.env.PAGE_JS) : undefined;
const sluiceServer = await listen(sluice, {
  fallback: (request, response) => {
    if (request.url === "/page.js" && pageJs) return void response.writeHead(200, { "content-type": "text/javascript" }).end(pageJs);
    response.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>`);
  },
});

const ioHttp = http.createServer();
const io = new SocketIoServer(ioHttp, { transports: ["websocket"], perMessageDeflate: false, maxHttpBufferSize: 100 << 20, serveClient: false });
io.on("connection", (socket) => {
  socket.on("items", ({ count, size }: { count: number; size: number }) => {
    const data = Buffer.from(payload(size));
    // Two engine packets (header + attachment) per item.
    const maxQueued = 2 * Math.max(16, Math.ceil(HIGH_WATER / size));
    // writeBuffer is private in engine.io's typings (but plain and stable in engine.io 6).
    const engine = socket.conn as unknown as { writeBuffer: unknown[]; once(event: "drain", listener: () => void): void };
    let sent = 0;
    const pump = () => {
      while (sent < count) {
        if (engine.writeBuffer.length >= maxQueued) return void engine.once("drain", pump);
        socket.emit("item", data);
        sent++;
      }
    };
    pump();
  });
});
const socketio = await new Promise<string>((resolve) => ioHttp.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(ioHttp.address() as AddressInfo).port}`)));

console.log(JSON.stringify({ url: sluiceServer.url, socketio }));
process.on("SIGTERM", () => process.exit(0));
