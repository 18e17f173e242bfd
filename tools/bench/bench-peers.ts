/**
 * Server sides that several bench servers run alike (ws-bench-server.ts,
 * browser-bench-server.ts): Sluice's "items" stream and the Socket.IO peer,
 * so the browser and the Node benches measure the same peers.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { StreamDefinition } from "@sluice/server-node";
import { Server as SocketIoServer } from "socket.io";
import { payload } from "./bench-common.js";

/** Bytes of items a raw or Socket.IO producer lets queue before it waits. */
export const HIGH_WATER = 1024 * 1024;

/** Sluice's "items" stream: `count` items of the same `size`-byte payload (params { count, size }). */
export const itemsStream = {
  params: (p: Record<string, unknown>) => ({ count: Number(p.count), size: Number(p.size) }),
  source: {
    async *open(params: { count: number; size: number }) {
      const data = payload(params.size);
      for (let i = 0; i < params.count; i++) yield { data };
    },
  },
} satisfies StreamDefinition<{ count: number; size: number }>;

/**
 * A Socket.IO 4.8 server on its own HTTP server on 127.0.0.1, websocket
 * transport only: on the client's "items" event ({ count, size }) it `emit`s
 * one "item" event per item with the payload as a Buffer (a binary event: a
 * text header frame plus a binary attachment frame each), while engine.io's
 * per-socket write buffer (`socket.conn.writeBuffer`) holds under about 1 MiB
 * of items, then waits for the engine socket's "drain". Returns its URL.
 */
export async function startSocketIoPeer(): Promise<string> {
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
  return new Promise<string>((resolve) => ioHttp.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(ioHttp.address() as AddressInfo).port}`)));
}
