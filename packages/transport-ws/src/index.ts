/**
 * @sluice/transport-ws: Connect over WebSocket (client side, isomorphic).
 * The server lives in "@sluice/transport-ws/server", a Node client with the
 * `ws` package preset in "@sluice/transport-ws/node".
 *
 * @module @sluice/transport-ws
 */
export { createWebSocketTransport, WEBSOCKET_PROTOCOL, type WebSocketTransport, type WebSocketTransportOptions, type WebSocketConstructor, type WebSocketCall, type CallBodySink, type CallHeadInfo } from "./client.js";
export { CloseCode } from "./close-codes.js";
export { DEFAULT_CALL_WINDOW_BYTES } from "./call-window.js";
