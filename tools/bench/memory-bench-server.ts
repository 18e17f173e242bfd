/**
 * The server side of memory-bench.ts, in its own process (run with
 * --expose-gc), so that its memory is the server's alone. Prints one JSON
 * line: { url, control, pid }.
 *
 * - url: a SluiceServer on `listen()` with its defaults (h2c + HTTP/1.1 +
 *   WebSocket on one port, 1 MiB / 16 MiB HTTP/2 windows, budgets 64 MiB per
 *   connection and 512 MiB in all). Stream "items", params { size, count }:
 *   `count` (default 10^12: endless) items of `size` bytes (default 1 024),
 *   each a fresh Uint8Array (a copy of bench-common's `payload` with its
 *   index in the first 4 bytes), so no two items share memory and what the
 *   server holds is what it really keeps.
 * - control: a plain HTTP server on another port (not counted as a Sluice
 *   connection):
 *     GET /mem          process.memoryUsage() as it is, Sluice's own counts
 *                       (sessions, bufferedBytes) and the transports' buffers
 *     GET /mem?gc=1     the same, then again after global.gc() twice (with
 *                       a turn of the event loop between, so that weak
 *                       callbacks and freed backing stores are in)
 *     GET /peak         peaks of rss and heapUsed + external sampled in this
 *                       process every 100 ms since the last /peak?reset=1
 *     GET /snapshot?file=PATH   global.gc() twice, then v8.writeHeapSnapshot(PATH)
 */
import http from "node:http";
import type http2 from "node:http2";
import type net from "node:net";
import type { AddressInfo } from "node:net";
import v8 from "node:v8";
import { payload } from "./bench-common.js";
import { SluiceServer, listen } from "@sluice/server-node";

const sluice = new SluiceServer({
  streams: {
    items: {
      params: (p) => ({ size: Number(p.size ?? 1024), count: Number(p.count ?? 1e12) }),
      source: {
        async *open(params: { size: number; count: number }) {
          const template = payload(params.size);
          for (let i = 0; i < params.count; i++) {
            const data = template.slice();
            if (data.byteLength >= 4) new DataView(data.buffer).setUint32(0, i);
            yield { data };
          }
        },
      },
    },
  },
});
const server = await listen(sluice);

// The transports' own buffers, found through the servers listen() hands
// connections to (its listeners are unaffected by ours).
const sockets = new Set<net.Socket>();
const track = (socket: net.Socket) => {
  sockets.add(socket);
  socket.once("close", () => sockets.delete(socket));
};
server.http2Server.on("connection", track);
server.http1Server.on("connection", track);
const h2Sessions = new Set<http2.ServerHttp2Session>();
const h2Streams = new Set<http2.ServerHttp2Stream>();
server.http2Server.on("session", (session: http2.ServerHttp2Session) => {
  h2Sessions.add(session);
  session.once("close", () => h2Sessions.delete(session));
});
server.http2Server.on("stream", (stream: http2.ServerHttp2Stream) => {
  h2Streams.add(stream);
  stream.once("close", () => h2Streams.delete(stream));
});
const h1Responses = new Set<http.ServerResponse>();
server.http1Server.on("request", (_request: http.IncomingMessage, response: http.ServerResponse) => {
  h1Responses.add(response);
  response.once("close", () => h1Responses.delete(response));
});

/** Bytes queued in user space by the transports, and HTTP/2 flow-control state. */
function transportBuffers() {
  let socketWritable = 0;
  for (const socket of sockets) socketWritable += socket.writableLength;
  let h2StreamWritable = 0;
  for (const stream of h2Streams) h2StreamWritable += stream.writableLength;
  let h2OutboundFrames = 0;
  let h2RemoteWindow = 0;
  for (const session of h2Sessions) {
    const state = session.state;
    h2OutboundFrames += state.outboundQueueSize ?? 0;
    h2RemoteWindow += state.remoteWindowSize ?? 0;
  }
  let h1ResponseWritable = 0;
  for (const response of h1Responses) h1ResponseWritable += response.writableLength;
  return {
    sockets: sockets.size,
    /** net.Socket write queues (HTTP/1.1 and WebSocket; HTTP/2 writes natively, past them). */
    socketWritable,
    h2Sessions: h2Sessions.size,
    h2Streams: h2Streams.size,
    /** Bytes written to HTTP/2 streams whose write has not completed (waiting for flow-control window or the socket). */
    h2StreamWritable,
    h2OutboundFrames,
    /** Sum over sessions of the connection-level window the clients still grant us. */
    h2RemoteWindow,
    h1Responses: h1Responses.size,
    h1ResponseWritable,
  };
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("memory-bench-server needs --expose-gc");
const turn = () => new Promise((resolve) => setTimeout(resolve, 20));
async function collect(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    gc!();
    await turn();
  }
}

let peak = { rss: 0, heapExternal: 0 };
const samplePeak = () => {
  const m = process.memoryUsage();
  peak = { rss: Math.max(peak.rss, m.rss), heapExternal: Math.max(peak.heapExternal, m.heapUsed + m.external) };
};
setInterval(samplePeak, 100).unref();

const state = () => ({ memory: process.memoryUsage(), sessions: sluice.activeSessions, bufferedBytes: sluice.bufferedBytes, connections: server.connections, transport: transportBuffers() });

const control = http.createServer((request, response) => {
  const url = new URL(request.url ?? "/", "http://x");
  const reply = (body: unknown) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  void (async () => {
    if (url.pathname === "/mem") {
      const raw = state();
      if (url.searchParams.get("gc") !== "1") return reply({ at: performance.now(), raw });
      await collect();
      return reply({ at: performance.now(), raw, gc: state() });
    }
    if (url.pathname === "/peak") {
      samplePeak();
      const body = peak;
      if (url.searchParams.get("reset") === "1") peak = { rss: 0, heapExternal: 0 };
      return reply(body);
    }
    if (url.pathname === "/snapshot") {
      await collect();
      const file = v8.writeHeapSnapshot(url.searchParams.get("file") ?? undefined);
      return reply({ file, memory: process.memoryUsage() });
    }
    response.writeHead(404).end();
  })().catch((error: unknown) => response.writeHead(500).end(String(error)));
});
await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", () => resolve()));

console.log(JSON.stringify({ url: server.url, port: server.port, control: `http://127.0.0.1:${(control.address() as AddressInfo).port}`, pid: process.pid }));
process.on("SIGTERM", () => process.exit(0));
