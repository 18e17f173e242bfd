/**
 * One Socket.IO client run, in Node (ws-bench.ts) and in the browser
 * (browser-bench-page.ts) alike: connect (not timed), then ask for `count`
 * items of `size` bytes and time until they all arrived; each is checked for
 * its size. The server side is bench-peers.ts' startSocketIoPeer.
 */
import { io } from "socket.io-client";

/** Milliseconds from the request to the last item; throws on a lost or wrong item, or after `timeoutMs`. */
export async function socketIoRun(url: string, size: number, count: number, timeoutMs: number): Promise<number> {
  const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    const start = performance.now();
    let n = 0;
    let wrongSize = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socket.io: ${n} of ${count} items after ${timeoutMs / 1000} s`)), timeoutMs);
      socket.on("item", (data: { byteLength: number }) => {
        n++;
        if (data.byteLength !== size) wrongSize++;
        if (n === count) {
          clearTimeout(timer);
          resolve();
        }
      });
      socket.once("disconnect", (reason) => reject(new Error(`socket.io: disconnected (${reason}) after ${n} of ${count} items`)));
      socket.emit("items", { count, size });
    });
    const ms = performance.now() - start;
    if (wrongSize) throw new Error(`socket.io: ${wrongSize} of ${count} items not of ${size} bytes`);
    return ms;
  } finally {
    socket.disconnect();
  }
}
