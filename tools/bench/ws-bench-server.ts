/**
 * The server side of ws-bench.ts, in its own process. Prints one JSON line
 * with the URLs { sluice, raw, rsocket, socketio }. Every peer sends `count`
 * items of the same `size`-byte payload (bench-common's `payload`), each on
 * its own HTTP server on 127.0.0.1, none with permessage-deflate.
 * - sluice:   a SluiceServer via `listen` (transport-ws on /connect), stream
 *   "items" with params { count, size }; flow control is Sluice's own
 *   credit window (the client grants 65 536 items / 8 MiB, see sluiceRun).
 * - raw:      a `ws` server: the client sends {"count","size"}, the server
 *   sends `count` binary messages of `size` bytes, waiting while more than
 *   1 MiB is buffered (the same socket backpressure transport-ws uses).
 * - rsocket:  rsocket-js 0.0.27 (rsocket-core RSocketServer over
 *   rsocket-websocket-server, BufferEncoders so data stays binary): a
 *   request-stream whose request payload is {"count","size"} as JSON; the
 *   responder is a rsocket-flowable Flowable that emits exactly as many
 *   PAYLOAD frames as the client has requested (request-n) and no more.
 *   That is its only flow control: rsocket-websocket-server writes each frame
 *   to its `ws` 7 socket as it is emitted, without looking at the socket's
 *   buffer, so the client's outstanding request-n bounds what is in flight.
 * - socketio: a Socket.IO 4.8 server, websocket transport only: on the
 *   client's "items" event ({ count, size }) it `emit`s one "item" event per
 *   item with the payload as a Buffer (a binary event: Socket.IO sends a text
 *   header frame plus a binary attachment frame for each). Bounded producer:
 *   it emits while engine.io's per-socket write buffer (`socket.conn
 *   .writeBuffer`, the packets queued while the websocket transport still
 *   waits for `ws` to flush the previous batch) is under about 1 MiB of
 *   items, then waits for the engine socket's "drain" (the next flush).
 *   This is the server-side backpressure Socket.IO exposes without changing
 *   the protocol; acks every K items would add a round trip per K items and
 *   measure the ack scheme rather than the stream.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { payload } from "./bench-common.js";
import { SluiceServer, listen } from "@sluice/server-node";
import { BufferEncoders, RSocketServer, type Payload } from "rsocket-core";
import { Flowable } from "rsocket-flowable";
import rsocketWebSocketServer from "rsocket-websocket-server";
import { WebSocketServer } from "ws";
import { HIGH_WATER, itemsStream, startSocketIoPeer } from "./bench-peers.js";

const sluice = new SluiceServer({ streams: { items: itemsStream } });
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
        if (socket.bufferedAmount > HIGH_WATER) return void setImmediate(waitDrain);
      }
    };
    const waitDrain = () => (socket.bufferedAmount > HIGH_WATER / 2 ? setImmediate(waitDrain) : pump());
    pump();
  });
});

/** `count` payloads of `data`, emitted only against the subscriber's request(n). */
function itemFlowable(data: Buffer, count: number): Flowable<Payload<Buffer, Buffer>> {
  return new Flowable((subscriber) => {
    let sent = 0;
    let requested = 0;
    let emitting = false;
    let cancelled = false;
    subscriber.onSubscribe({
      cancel: () => void (cancelled = true),
      request: (n) => {
        requested += n;
        if (emitting) return; // a request() from inside onNext: the loop below picks it up
        emitting = true;
        while (requested > 0 && sent < count && !cancelled) {
          requested--;
          sent++;
          subscriber.onNext({ data });
        }
        emitting = false;
        if (sent === count && !cancelled) {
          cancelled = true; // complete once
          subscriber.onComplete();
        }
      },
    });
  });
}

const rsocketHttp = http.createServer();
const rsocketServer = new RSocketServer<Buffer, Buffer>({
  getRequestHandler: () => ({
    requestStream: ({ data }) => {
      const { count, size } = JSON.parse(data!.toString()) as { count: number; size: number };
      return itemFlowable(Buffer.from(payload(size)), count);
    },
  }),
  transport: new rsocketWebSocketServer.default({ server: rsocketHttp, perMessageDeflate: false }, BufferEncoders),
});
rsocketServer.start();

const listenLocal = (server: http.Server) => new Promise<string>((resolve) => server.listen(0, "127.0.0.1", () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)));
const [raw, rsocket, socketio] = await Promise.all([listenLocal(rawHttp), listenLocal(rsocketHttp), startSocketIoPeer()]);

console.log(JSON.stringify({ sluice: sluiceServer.url, raw: `ws://${raw}`, rsocket: `ws://${rsocket}`, socketio }));
process.on("SIGTERM", () => process.exit(0));
