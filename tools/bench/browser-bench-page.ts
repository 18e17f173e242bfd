/**
 * The browser side of browser-bench.ts: window.sluiceThroughput(...) receives
 * `count` items of `size` bytes from one peer, checks it got exactly that,
 * and returns the elapsed milliseconds measured in the page.
 * - sluice-ws / sluice-fetch: @sluice/client-web with transport "websocket"
 *   or "connect" (connect-web over fetch, half duplex), subscribing to the
 *   server's "items" stream with the bytes codec and the credit window of
 *   bench-common's sluiceRun (65 536 items / 8 MiB). The clock includes the
 *   session's connect, as in the Node benches.
 * - socketio: socket.io-client, websocket transport only, connected before
 *   the clock starts (as in ws-bench.ts); counts the server's "item" events.
 */
import { bytes, createSluiceClient } from "@sluice/client-web";
import { socketIoRun } from "./socketio-client-run.js";

export type BrowserPeer = "sluice-ws" | "sluice-fetch" | "socketio";

declare global {
  interface Window {
    sluiceThroughput(command: { peer: BrowserPeer; size: number; count: number; socketioUrl: string; timeoutMs: number }): Promise<number>;
  }
}

async function sluiceRun(transport: "websocket" | "connect", size: number, count: number, timeoutMs: number): Promise<number> {
  const client = createSluiceClient({ transport });
  const timer = setTimeout(() => client.close(), timeoutMs);
  const start = performance.now();
  let n = 0;
  let wrongSize = 0;
  try {
    for await (const event of client.subscribe("items", { params: { count, size }, codec: bytes(), window: { items: 65_536, bytes: 8 << 20 } })) {
      if (event.kind !== "item") continue;
      n++;
      if (event.value.byteLength !== size) wrongSize++;
    }
  } finally {
    clearTimeout(timer);
    client.close();
  }
  const ms = performance.now() - start;
  if (n !== count || wrongSize) throw new Error(`sluice ${transport}: ${n} of ${count} items, ${wrongSize} not of ${size} bytes`);
  return ms;
}

window.sluiceThroughput = ({ peer, size, count, socketioUrl, timeoutMs }) =>
  peer === "socketio" ? socketIoRun(socketioUrl, size, count, timeoutMs) : sluiceRun(peer === "sluice-ws" ? "websocket" : "connect", size, count, timeoutMs);
