/**
 * @sluice/server-node: the Sluice server with its Node runtime: `listen`
 * serves a SluiceServer on one port (h2c or TLS with ALPN, HTTP/1.1, Connect
 * over WebSocket), with connect-node, CORS and the timeouts a public server
 * needs. Everything of @sluice/server is re-exported, as @sluice/client-node
 * re-exports @sluice/client.
 *
 * @module @sluice/server-node
 */
export * from "@sluice/server";
export { listen, type ListenOptions, type ListenTimeouts, type ListenTlsOptions, type Listening } from "./listen.js";
