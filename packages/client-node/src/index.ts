/**
 * @sluice/client-node: the Sluice client with Node defaults: connect-node
 * over HTTP/2, binary protobuf, and larger HTTP/2 flow-control windows.
 *
 * @module @sluice/client-node
 */
import { Agent as HttpAgent, type ClientRequestArgs } from "node:http";
import https from "node:https";
import type { ClientHttp2Session } from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import { createSluiceClient as createClient, credentialInterceptors, endpointsTransport, type Credentials, type SluiceClient, type SluiceClientOptions } from "@sluice/client";
import { directHalfDuplexFrames, directSubscribeCall, subscribeHalfDuplexPath, subscribePath, webSocketDirectCalls } from "@sluice/client/internal";
import { createWebSocketTransport, type NodeTlsOptions } from "@sluice/transport-ws/node";
import { http1DirectPosts } from "./direct-http1.js";
import { http2DirectCalls } from "./direct-http2.js";

export * from "@sluice/client";
export type { NodeTlsOptions } from "@sluice/transport-ws/node";

/** Where a Node client connects, over which transports, with which HTTP/2 windows, TLS trust and credentials. */
export interface NodeClientOptions extends Credentials {
  /**
   * e.g. "http://127.0.0.1:8080" (h2c) or "https://...". Several (instances
   * of one service on a shared topic engine): calls go to the first, and a
   * session whose server is gone or drains moves on to the next, round
   * robin, where it resumes.
   */
  readonly baseUrl: string | readonly string[];
  /**
   * HTTP/2 stream window. Node's default 64 KiB caps one stream at ~64 KiB
   * per round trip; 1 MiB per stream and 16 MiB per connection doubled raw
   * http2 throughput on this project's test machine.
   */
  readonly streamWindowBytes?: number;
  /** HTTP/2 window for the whole connection. Default 16 MiB. */
  readonly connectionWindowBytes?: number;
  /**
   * "2" (default): HTTP/2, full duplex. "1.1": HTTP/1.1 (a server behind a
   * proxy or framework without HTTP/2, e.g. Express), which cannot stream
   * requests, so sessions run half duplex (SubscribeHalfDuplex + Control).
   */
  readonly httpVersion?: "1.1" | "2";
  /**
   * "auto" (default): HTTP first; switch to WebSocket when HTTP fails
   * before the server's first frame or delivers nothing within
   * `fallbackAfterMs` (a proxy buffering the response). Once a transport has
   * delivered a frame the client keeps it; until then a failure on one
   * switches to the other. "http" or "websocket": that transport only.
   * `stream.stats.transport` tells which.
   */
  readonly transport?: "auto" | "http" | "websocket";
  /** Where Connect over WebSocket is served (one per baseUrl when there are several). Default: each baseUrl's host, path /connect. */
  readonly websocketUrl?: string | readonly string[];
  /** Default 5 000 ms. */
  readonly fallbackAfterMs?: number;
  /**
   * For https: servers: trust settings used by every transport (HTTP/2,
   * HTTP/1.1 and WebSocket), e.g. `{ ca: readFileSync("ca.pem") }` for a
   * private CA.
   */
  readonly tls?: NodeTlsOptions;
  /**
   * Subscribe calls over HTTP/2 and WebSocket, and half-duplex
   * SubscribeHalfDuplex calls over HTTP/1.1, skip connect-es' generic client
   * pipeline and read Connect envelopes straight off the call (default
   * true); the wire is the same. false: through connect-es, as Publish and
   * Control calls go.
   */
  readonly directSubscribe?: boolean;
}

/**
 * A Sluice client for Node: HTTP/2 by default (or HTTP/1.1 half duplex),
 * falling back to WebSocket, with binary protobuf and large HTTP/2 windows.
 */
export function createSluiceClient(options: NodeClientOptions): SluiceClient & {
  /** Cancels every subscription, refuses new ones, and closes this client's connections. */
  close(): void;
} {
  const choice = options.transport ?? "auto";
  const interceptors = credentialInterceptors(options);
  const closers: (() => void)[] = [];
  const baseUrls: readonly string[] = typeof options.baseUrl === "string" ? [options.baseUrl] : options.baseUrl;
  if (baseUrls.length === 0) throw new RangeError("createSluiceClient: baseUrl: at least one URL");
  const websocketUrls: readonly string[] | undefined = options.websocketUrl === undefined ? undefined : typeof options.websocketUrl === "string" ? [options.websocketUrl] : options.websocketUrl;
  if (websocketUrls && websocketUrls.length !== baseUrls.length) throw new RangeError(`createSluiceClient: websocketUrl: ${websocketUrls.length} URLs for ${baseUrls.length} baseUrls`);
  const http1 = (baseUrl: string): SluiceClientOptions => {
    // Our own keep-alive agent, so that a dead connection can be dropped
    // without touching anyone else's (Node's global agent is shared).
    const secure = new URL(baseUrl).protocol === "https:";
    const newAgent = () => (secure ? new NoDelayHttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true }));
    const nodeOptions: https.RequestOptions = { ...(secure ? options.tls : {}), agent: newAgent() };
    closers.push(() => {
      (nodeOptions.agent as HttpAgent).destroy();
      // A destroyed agent still dials for new requests (a Control call
      // racing close() would leave a keep-alive socket open): refuse them.
      nodeOptions.agent = new ClosedAgent();
    });
    // connect-node types nodeOptions as http's options or https's; these are https's.
    const transport = createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors, nodeOptions });
    const resetConnection = () => {
      (nodeOptions.agent as HttpAgent).destroy();
      nodeOptions.agent = newAgent();
    };
    return {
      transport,
      transportName: "http1.1",
      mode: "half-duplex",
      resetConnection,
      // The session's response stream skips connect-es' client pipeline (its Control calls still use it).
      ...(options.directSubscribe === false ? {} : { halfDuplexStream: directHalfDuplexFrames(http1DirectPosts(baseUrl, () => nodeOptions), { path: subscribeHalfDuplexPath(new URL(baseUrl).pathname), credentials: options }) }),
    };
  };
  const http2 = (baseUrl: string): SluiceClientOptions => {
    const sessionManager = tunedSessionManager(baseUrl, options);
    closers.push(() => sessionManager.abort());
    // abort() closes the HTTP/2 connection; the next call opens a new one.
    return {
      transport: createConnectTransport({ baseUrl, httpVersion: "2", sessionManager, useBinaryFormat: true, interceptors }),
      transportName: "http2",
      resetConnection: () => sessionManager.abort(),
      // Subscribe calls skip connect-es' client pipeline (Publish and half duplex still use it).
      ...(options.directSubscribe === false ? {} : { subscribeCall: directSubscribeCall(http2DirectCalls(sessionManager), { path: subscribePath(new URL(baseUrl).pathname), credentials: options }) }),
    };
  };
  const websocketOf = (baseUrl: string, i: number): SluiceClientOptions => {
    // Sluice's own credit window bounds what a subscription buffers, so the
    // transport's per-call window only has to stay out of its way (4 MiB
    // doubled 1 KiB-item throughput over 1 MiB in BENCHMARKS.md).
    const transport = createWebSocketTransport({ url: websocketUrls?.[i] ?? defaultWebSocketUrl(baseUrl), windowBytes: 4 * 1024 * 1024, interceptors, ...(options.tls ? { tls: options.tls } : {}) });
    closers.push(() => transport.close());
    // close() drops the socket; the next call opens a new one.
    return {
      transport,
      transportName: "websocket",
      resetConnection: () => transport.close(),
      ...(options.directSubscribe === false ? {} : { subscribeCall: directSubscribeCall(webSocketDirectCalls(transport), { path: subscribePath(), credentials: options }) }),
    };
  };
  /** One transport per endpoint; several go behind an endpointsTransport. */
  const overAll = (make: (baseUrl: string, i: number) => SluiceClientOptions): SluiceClientOptions => {
    const each = baseUrls.map(make);
    if (each.length === 1) return each[0]!;
    // A direct call talks to one endpoint: behind several, calls go through the endpoints transport.
    const { subscribeCall: _oneEndpoint, halfDuplexStream: _oneEndpointToo, ...first } = each[0]!;
    return { ...first, transport: endpointsTransport(each.map((e) => e.transport)), resetConnection: () => each.forEach((e) => e.resetConnection?.()) };
  };
  const http = () => overAll(options.httpVersion === "1.1" ? http1 : http2);
  const websocket = () => overAll(websocketOf);
  let settings: SluiceClientOptions;
  if (choice === "http") settings = http();
  else if (choice === "websocket") settings = websocket();
  else settings = { ...http(), fallback: websocket(), ...(options.fallbackAfterMs !== undefined ? { fallbackAfterMs: options.fallbackAfterMs } : {}) };
  const client = createClient(settings);
  return {
    subscribe: (stream, subscribeOptions) => client.subscribe(stream, subscribeOptions),
    publish: (stream, publishOptions) => client.publish(stream, publishOptions),
    get openSubscriptions() {
      return client.openSubscriptions;
    },
    reconnectAll: () => client.reconnectAll(),
    /** Cancels every subscription and publisher, refuses new ones, and closes this client's connections. */
    close: () => {
      client.close();
      for (const close of closers) close();
    },
  };
}

/** The agent of a closed client: every request fails at once instead of opening a connection. */
class ClosedAgent extends HttpAgent {
  override createConnection(_options: ClientRequestArgs, callback?: (error: Error | null, socket: net.Socket) => void): undefined {
    process.nextTick(() => callback?.(new Error("the Sluice client is closed"), undefined as unknown as net.Socket));
    return undefined;
  }
}

/**
 * An https agent whose TCP sockets have Nagle's algorithm off. Node's http
 * client asks for no-delay, but on a TLS socket the request does not reach
 * the TCP socket underneath, so each small Control request waited for the
 * server's delayed ACK: measured here, half-duplex sessions over TLS ran at a
 * tenth of their cleartext speed (20 000 items: 1.8 s instead of 0.13 s).
 */
class NoDelayHttpsAgent extends https.Agent {
  // The agent takes the returned socket; it needs no callback.
  override createConnection(options: ClientRequestArgs): net.Socket {
    const socket = net.connect({ host: options.host ?? "localhost", port: Number(options.port), noDelay: true });
    return tls.connect({ ...(options as tls.ConnectionOptions), socket });
  }
}

/** ws(s)://host/connect for http(s)://host: where `listen` serves Connect over WebSocket. */
function defaultWebSocketUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = `${url.pathname.replace(/\/$/, "")}/connect`;
  return url.toString();
}

function tunedSessionManager(baseUrl: string, options: NodeClientOptions): Http2SessionManager {
  const streamWindow = options.streamWindowBytes ?? 1024 * 1024;
  const connectionWindow = options.connectionWindowBytes ?? 16 * 1024 * 1024;
  const sessionManager = new Http2SessionManager(baseUrl, { pingIntervalMs: 30_000 }, { settings: { initialWindowSize: streamWindow }, ...options.tls });
  // connect-node offers no option for the connection-level window (HTTP/2 has
  // no SETTINGS for it; only WINDOW_UPDATE via setLocalWindowSize), so tune
  // each new session as the manager hands it out. If a future connect-node
  // renames this internal step, we fall back to Node's default window.
  const internals = sessionManager as unknown as { gotoReady?: () => Promise<{ conn: ClientHttp2Session }> };
  const gotoReady = internals.gotoReady?.bind(sessionManager);
  if (gotoReady) {
    const tuned = new WeakSet<ClientHttp2Session>();
    internals.gotoReady = async () => {
      const ready = await gotoReady();
      if (!tuned.has(ready.conn)) {
        tuned.add(ready.conn);
        ready.conn.setLocalWindowSize(connectionWindow);
      }
      return ready;
    };
  }
  return sessionManager;
}
