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
import { SluiceServer, listen } from "@sluice/server-node";
import { itemsStream, startSocketIoPeer } from "./bench-peers.js";

const sluice = new SluiceServer({ streams: { items: itemsStream } });
const pageJs = process.env.PAGE_JS ? readFileSync(process.env.PAGE_JS) : undefined;
const sluiceServer = await listen(sluice, {
  fallback: (request, response) => {
    if (request.url === "/page.js" && pageJs) return void response.writeHead(200, { "content-type": "text/javascript" }).end(pageJs);
    response.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>`);
  },
});

const socketio = await startSocketIoPeer();

console.log(JSON.stringify({ url: sluiceServer.url, socketio }));
process.on("SIGTERM", () => process.exit(0));
