/**
 * createWebSocketTransport for Node 20, whose runtime has no WebSocket:
 * the `ws` package's client is the default.
 */
import { WebSocket } from "ws";
import { createWebSocketTransport as create, type WebSocketConstructor, type WebSocketTransport, type WebSocketTransportOptions } from "./client.js";

export * from "./index.js";

export function createWebSocketTransport(options: WebSocketTransportOptions): WebSocketTransport {
  return create({ WebSocket: WebSocket as unknown as WebSocketConstructor, ...options });
}
