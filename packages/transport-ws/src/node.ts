/**
 * createWebSocketTransport for Node 20, whose runtime has no WebSocket:
 * the `ws` package's client is the default. `tls` passes trust settings
 * (a private CA, a client certificate) to wss: connections.
 *
 * @module @sluice/transport-ws/node
 */
import type { SecureContextOptions } from "node:tls";
import { WebSocket } from "ws";
import { createWebSocketTransport as create, type WebSocketConstructor, type WebSocketTransport, type WebSocketTransportOptions } from "./client.js";

export * from "./index.js";

/** TLS settings for wss: URLs (as for tls.connect). */
export interface NodeTlsOptions {
  /** CA certificates to trust instead of Node's bundled roots (a private or self-signed CA). */
  readonly ca?: SecureContextOptions["ca"];
  /** A client certificate and key. */
  readonly cert?: SecureContextOptions["cert"];
  /** The private key of `cert`. */
  readonly key?: SecureContextOptions["key"];
  /** Default true. false accepts any certificate: for tests only. */
  readonly rejectUnauthorized?: boolean;
  /** The name the certificate must match, when it differs from the URL's host. */
  readonly servername?: string;
}

/** {@link WebSocketTransportOptions} for Node, with TLS settings for wss: URLs. */
export interface NodeWebSocketTransportOptions extends WebSocketTransportOptions {
  /** Trust settings for wss: connections (a private CA, a client certificate). */
  readonly tls?: NodeTlsOptions;
}

/** createWebSocketTransport with the `ws` package's WebSocket as the default, configured with `tls` for wss: URLs. */
export function createWebSocketTransport(options: NodeWebSocketTransportOptions): WebSocketTransport {
  const { tls, ...rest } = options;
  let WebSocketImpl = WebSocket as unknown as WebSocketConstructor;
  if (tls) {
    WebSocketImpl = class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { ...tls });
      }
    } as unknown as WebSocketConstructor;
  }
  return create({ WebSocket: WebSocketImpl, ...rest });
}
