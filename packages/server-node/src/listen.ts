/**
 * Serves a SluiceServer on one port, HTTP/2 cleartext (h2c) and HTTP/1.1
 * side by side, with connect-node and the settings this project measured as
 * right for streaming:
 * - no response compression: connect-node gzips every message >= 1 KiB by
 *   default, which cut streaming throughput six- to ninefold here; chunks of
 *   already-compact items gain little. Pass `compression: true` to accept gzip.
 * - HTTP/2 windows of 1 MiB per stream and 16 MiB per connection instead of
 *   64 KiB, which doubled raw http2 throughput on this machine.
 *
 * Connect over WebSocket (@sluice/transport-ws) is served on "/connect" of
 * the HTTP/1.1 side by default.
 *
 * Each connection is routed by its first bytes: the HTTP/2 connection
 * preface ("PRI * HTTP/2.0") goes to the http2 server, anything else to the
 * http/1.1 server (which serves half-duplex sessions: SubscribeHalfDuplex +
 * Control). Node's http2 server cannot do both on a cleartext port itself.
 *
 * With `tls` (a certificate and key) the same port speaks TLS instead and
 * routes by ALPN: "h2" to HTTP/2, "http/1.1" (WebSocket included) to
 * HTTP/1.1; a client that offers no ALPN is routed by its first bytes as on
 * a cleartext port.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import { cors as connectCors, createContextValues, type ConnectError } from "@connectrpc/connect";
import { compressionGzip } from "@connectrpc/connect-node";
import { connectAdapter } from "./connect-adapter.js";
import { isDirectCall, isDirectHttp2Stream, isDirectWebSocketCall, serveDirectHttp2Stream, serveDirectHttpCall, serveDirectWebSocketCall } from "./direct-calls.js";
import { createWebSocketHandler, type WebSocketHandler } from "@sluice/transport-ws/server";
import { CONNECTION, type SluiceServer } from "@sluice/server";

/** Where {@link listen} serves, over which protocols, and with which limits, timeouts and TLS. */
export interface ListenOptions {
  /** The address to listen on. Default "127.0.0.1" (loopback only; "0.0.0.0" for every interface). */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  /** Accept and send gzip-compressed messages (default false: compression cut streaming throughput here). */
  readonly compression?: boolean;
  /** HTTP/2 receive window per stream. Default 1 MiB. */
  readonly streamWindowBytes?: number;
  /** HTTP/2 receive window per connection. Default 16 MiB. */
  readonly connectionWindowBytes?: number;
  /**
   * "h2c+http1" (default): both on one port, routed by the connection's first
   * bytes (HTTP/2 then runs natively on the socket, as with "h2c"). "h2c":
   * HTTP/2 only, and no WebSocket.
   */
  readonly protocols?: "h2c+http1" | "h2c";
  /**
   * Browser origins allowed to call cross-origin (exact "https://app.example.com",
   * or "*"). Preflights are answered with connect-es' lists of methods and
   * headers; other origins get no CORS headers (the browser blocks them).
   */
  readonly corsOrigins?: readonly string[];
  /**
   * Connections open at once; more are answered "503 too many connections"
   * and closed (HTTP/2 clients see the connection refused). Default: no limit.
   */
  readonly maxConnections?: number;
  /**
   * Serve Sluice's binary, uncompressed streaming calls (Subscribe over
   * HTTP/2 and WebSocket, SubscribeHalfDuplex over HTTP/2, HTTP/1.1 and
   * WebSocket) directly on the response instead of through connect-node's
   * handler or connect's router (default true): a third of the memory per
   * idle subscription, fewer hand-offs and copies per message
   * (BENCHMARKS.md). Other calls are unaffected. Off when `compression` is
   * on: those calls are left to connect-node to compress.
   */
  readonly directSubscribe?: boolean;
  /**
   * Concurrent calls per connection: HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS
   * (an HTTP/2 client queues streams beyond it) and the WebSocket call limit
   * (refused with resource_exhausted). Default 1 000.
   */
  readonly maxStreamsPerConnection?: number;
  /** Answers requests that are not Connect calls (a page, health checks); default 404. */
  readonly fallback?: (request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse) => void;
  /**
   * A Connect call that failed for another reason than its client going away
   * (default: one line on stderr). Clients that disconnect mid-call are not
   * reported: on a busy server they are routine.
   */
  readonly onCallError?: (error: ConnectError, procedure: string) => void;
  /**
   * Connect over WebSocket on this path of the HTTP/1.1 side (default
   * "/connect"; false: off). Needs "h2c+http1".
   */
  readonly websocket?:
    | false
    | {
        /** The upgrade path (default "/connect"). */
        readonly path?: string;
        /** Concurrent calls per socket (default `maxStreamsPerConnection`). */
        readonly maxCallsPerSocket?: number;
        /** Ping after this much silence from the client. Default 15 s; 0 disables keepalive. */
        readonly keepaliveIntervalMs?: number;
        /** Close the socket when the client is silent this long. Default 3 × interval. */
        readonly keepaliveTimeoutMs?: number;
      };
  /**
   * Connections that do not get going are closed (slowloris, issue 14): a
   * connection must complete its TLS handshake, or send the whole HTTP/2
   * client preface or its first HTTP/1.1 request line, within
   * `prefaceTimeoutMs` (default 10 000); an HTTP/1.1 request's headers must
   * arrive within `headersTimeoutMs` (default 10 000) and its body within
   * `requestTimeoutMs` (default 30 000); a connection with no bytes in either
   * direction for `idleTimeoutMs` (default 120 000, 0: never) is closed.
   * Sessions ping every heartbeat interval, so a live one is never idle:
   * keep the idle timeout above the longest interval streams use.
   */
  readonly timeouts?: ListenTimeouts;
  /**
   * Serve TLS (https:, wss:) with this certificate chain and key (PEM). The
   * URL becomes https://; HTTP/2 is negotiated by ALPN.
   */
  readonly tls?: ListenTlsOptions;
}

/** The timeouts that close connections that do not get going (see ListenOptions.timeouts). */
export interface ListenTimeouts {
  /** TLS handshake, HTTP/2 preface or first HTTP/1.1 request line. Default 10 000. */
  readonly prefaceTimeoutMs?: number;
  /** An HTTP/1.1 request's headers. Default 10 000. */
  readonly headersTimeoutMs?: number;
  /** An HTTP/1.1 request's body. Default 30 000. */
  readonly requestTimeoutMs?: number;
  /** No bytes in either direction. Default 120 000; 0: never. */
  readonly idleTimeoutMs?: number;
}

/** The certificate and key to serve TLS with (PEM text or bytes), as for tls.createSecureContext. */
export interface ListenTlsOptions {
  /** The certificate chain (PEM). */
  readonly cert: string | Buffer;
  /** The private key (PEM). */
  readonly key: string | Buffer;
  /** Passphrase of an encrypted key. */
  readonly passphrase?: string;
  /** Extra CA certificates (a chain, or client-certificate CAs). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
}

/** A running {@link listen}: where it listens, its servers, and how to stop it. */
export interface Listening {
  /** The base URL clients connect to, e.g. "http://127.0.0.1:8080" (https: with TLS). */
  readonly url: string;
  /** The port it listens on (the one picked when the options said 0). */
  readonly port: number;
  /** The HTTP/2 server connections are routed to. listen dispatches its "stream" events itself: it emits no "request". */
  readonly http2Server: http2.Http2Server;
  /** The HTTP/1.1 server connections are routed to (WebSocket upgrades included). */
  readonly http1Server: http.Server;
  /** The WebSocket handler, when enabled. */
  readonly websocket: WebSocketHandler | undefined;
  /** TCP connections open now (every protocol, TLS or not). */
  readonly connections: number;
  /** Destroys every open connection (as a crash or network cut would). */
  dropConnections(): void;
  /**
   * Stops accepting connections and closes the open ones. With `graceMs`
   * (default 0: at once) it closes them gracefully first: HTTP/2 sessions
   * get GOAWAY, HTTP/1.1 connections close after their current response,
   * WebSockets get GoAway and close with 1001 after their last call; calls
   * in flight run to completion (a drained session's UNAVAILABLE and the
   * Connect end of stream reach the client) and whatever is still open
   * after `graceMs` is destroyed.
   */
  close(options?: { readonly graceMs?: number }): Promise<void>;
}

/** The whole HTTP/2 client connection preface (RFC 9113 §3.4). */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

type NodeHandler = ReturnType<typeof connectAdapter>;

/** The CORS response headers for a request from `origin`: undefined when it is not allowed (or there is none). */
type CorsRule = (origin: unknown) => Record<string, string> | undefined;

function corsRule(origins: readonly string[]): CorsRule {
  const allowAll = origins.includes("*");
  const exposed = connectCors.exposedHeaders.join(", ");
  return (origin) =>
    typeof origin === "string" && (allowAll || origins.includes(origin))
      ? { "access-control-allow-origin": allowAll ? "*" : origin, vary: "Origin", "access-control-expose-headers": exposed }
      : undefined;
}

/** Adds CORS by `cors` in front of a Connect handler, answering preflights itself. */
function corsHandler(handler: NodeHandler, cors: CorsRule): NodeHandler {
  return (request, response) => {
    const headers = cors(request.headers.origin);
    if (headers) {
      for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
      if (request.method === "OPTIONS") {
        response.setHeader("access-control-allow-methods", connectCors.allowedMethods.join(", "));
        response.setHeader("access-control-allow-headers", [...connectCors.allowedHeaders, "Authorization", "X-API-Key"].join(", "));
        response.setHeader("access-control-max-age", "7200");
        response.writeHead(204);
        response.end();
        return;
      }
    }
    handler(request, response);
  };
}

/**
 * An HTTP/2 stream as Node's compat request and response, handed to
 * `handler`: what Node's own "request" dispatch does (lib/internal/http2/
 * compat.js, onServerStream), for the streams listen does not serve itself.
 */
function serveCompat(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: string[], handler: NodeHandler): void {
  const request = new http2.Http2ServerRequest(stream, headers, {}, rawHeaders);
  const response = new http2.Http2ServerResponse(stream);
  if (headers[":method"] === "CONNECT") {
    response.statusCode = 405;
    return void response.end();
  }
  const expect = headers.expect;
  if (expect !== undefined) {
    if (expect !== "100-continue") {
      response.writeHead(417);
      return void response.end();
    }
    response.writeContinue();
  }
  handler(request, response);
}

/**
 * Serves `sluice` on one port: HTTP/2 (h2c, or TLS with ALPN), HTTP/1.1 and
 * Connect over WebSocket, with CORS, connection limits and slowloris timeouts.
 * Resolves once it listens.
 */
export async function listen(sluice: SluiceServer, options: ListenOptions = {}): Promise<Listening> {
  const handler = connectAdapter({
    routes: sluice.routes,
    acceptCompression: options.compression ? [compressionGzip] : [],
    // Client frames are small; anything above the frame limit is hostile.
    readMaxBytes: sluice.limits.maxFrameBytes,
    // The connection each call runs on, for the per-connection budget.
    contextValues: (request) => createContextValues().set(CONNECTION, request instanceof http2.Http2ServerRequest ? request.stream.session : request.socket),
    ...(options.fallback ? { fallback: options.fallback } : {}),
    onCallError: options.onCallError ?? ((error, procedure) => console.error(`sluice: ${procedure} failed: ${error.message}`)),
  });
  // Sluice's own binary streaming calls skip connect-node's per-call
  // pipeline (direct-calls.ts); everything else goes through it.
  const direct = (options.directSubscribe ?? true) && !options.compression;
  const routed: NodeHandler = direct
    ? (request, response) => {
        // HTTP/2's direct calls never get here (see the "stream" listener).
        if (request instanceof http.IncomingMessage && isDirectCall(request)) void serveDirectHttpCall(sluice, request, response as http.ServerResponse);
        else handler(request, response);
      }
    : handler;
  const origins = options.corsOrigins ?? [];
  const cors = origins.length === 0 ? undefined : corsRule(origins);
  const withCors = cors ? corsHandler(routed, cors) : routed;
  const maxStreams = options.maxStreamsPerConnection ?? 1_000;
  // No request listener: Node would build its compat request and response
  // for every stream, and the "stream" listener below builds them only for
  // the calls connect-node's handler serves.
  const http2Server = http2.createServer({ settings: { initialWindowSize: options.streamWindowBytes ?? 1024 * 1024, ...(maxStreams !== undefined ? { maxConcurrentStreams: maxStreams } : {}) } });
  // Streams whose response is complete but whose client never ended its
  // request side (a bidi Subscribe) keep a GOAWAY'd session open; a
  // graceful close resets them with NO_ERROR (RFC 9113 §8.1). Not at once
  // when the response finishes: nghttp2 may still owe the trailers then, and
  // closing the stream under it aborts the process (node_http2.cc OnTrailers).
  const http2Streams = new Set<http2.ServerHttp2Stream>();
  const forgetStream = function (this: http2.ServerHttp2Stream) {
    http2Streams.delete(this);
  };
  http2Server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    http2Streams.add(stream);
    stream.once("close", forgetStream);
    // Sluice's own calls are served on the bare stream.
    if (direct && isDirectHttp2Stream(headers)) return void serveDirectHttp2Stream(sluice, stream, headers, cors?.(headers.origin));
    serveCompat(stream, headers, rawHeaders, withCors);
  });
  const resetFinishedStreams = () => {
    for (const stream of http2Streams) if (!stream.closed && stream.writableFinished && stream.sentTrailers !== undefined) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  };
  const http2Sessions = new Set<http2.ServerHttp2Session>();
  let closing = false;
  http2Server.on("session", (session) => {
    session.setLocalWindowSize(options.connectionWindowBytes ?? 16 * 1024 * 1024);
    http2Sessions.add(session);
    session.once("close", () => http2Sessions.delete(session));
    if (closing) session.close();
  });
  const headersTimeoutMs = options.timeouts?.headersTimeoutMs ?? 10_000;
  // Node checks header and request timeouts on this period (default 30 s, too coarse for a 10 s timeout).
  const http1Server = http.createServer({ connectionsCheckingInterval: Math.max(100, Math.min(1_000, headersTimeoutMs / 4)) }, withCors);
  // Closing: a keep-alive connection ends after the response in flight.
  http1Server.on("request", (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (closing) response.shouldKeepAlive = false;
    response.once("finish", () => {
      if (closing) request.socket.end();
    });
  });
  const websocketOptions = options.websocket === false || options.protocols === "h2c" ? undefined : (options.websocket ?? {});
  const websocket = websocketOptions
    ? createWebSocketHandler({
        routes: sluice.routes,
        contextValues: (socket) => createContextValues().set(CONNECTION, socket),
        connect: { readMaxBytes: sluice.limits.maxFrameBytes },
        ...(direct ? { direct: (call, socket) => isDirectWebSocketCall(call) && (void serveDirectWebSocketCall(sluice, call, socket), true) } : {}),
        ...(maxStreams !== undefined ? { maxCallsPerSocket: maxStreams } : {}),
        ...websocketOptions,
      })
    : undefined;
  websocket?.attach(http1Server);
  const sockets = new Set<net.Socket>();
  const secureSockets = new Set<tls.TLSSocket>();
  /** Hands a connection (plain, or TLS without ALPN) to HTTP/2 or HTTP/1.1 by its first bytes. */
  const prefaceTimeoutMs = options.timeouts?.prefaceTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.timeouts?.idleTimeoutMs ?? 120_000;
  http1Server.headersTimeout = headersTimeoutMs;
  http1Server.requestTimeout = options.timeouts?.requestTimeoutMs ?? 30_000;
  // Node enforces headersTimeout and requestTimeout only for servers that
  // "listen"; ours is handed its connections, so start its connection checks.
  http1Server.emit("listening");
  /**
   * Hands a connection (plain, or TLS without ALPN) to HTTP/2 or HTTP/1.1 by
   * its first bytes. An HTTP/2 connection must send its whole 24-byte preface,
   * and an HTTP/1.1 one its first bytes, within prefaceTimeoutMs.
   */
  const routeByPreface = (socket: net.Socket) => {
    let first: Buffer = Buffer.alloc(0);
    const deadline = setTimeout(() => socket.destroy(), prefaceTimeoutMs);
    const onData = (data: Buffer) => {
      first = first.length === 0 ? data : Buffer.concat([first, data]);
      const n = Math.min(first.length, HTTP2_PREFACE.length);
      const isHttp2 = first.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      // Part of the preface so far: wait for the rest (it is 24 bytes).
      if (isHttp2 && first.length < HTTP2_PREFACE.length) return;
      clearTimeout(deadline);
      socket.off("data", onData);
      socket.pause();
      // The bytes read so far go back into the socket's buffer. HTTP/1.1
      // reads them as the first data. nghttp2 consumes the socket's handle
      // natively, and its session feeds whatever the socket already buffered
      // to nghttp2 first (Node ≥ 18.4, nodejs/node#34532), so HTTP/2 gets the
      // socket itself, not a JS stream around it: that stream cost ~25 % of
      // 16 KiB-item throughput (BENCHMARKS.md).
      socket.unshift(first);
      if (isHttp2) {
        // Not resumed: flowing with no reader would drop the replayed bytes.
        http2Server.emit("connection", socket);
      } else {
        http1Server.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
    socket.once("close", () => clearTimeout(deadline));
  };
  const tlsServer = options.tls
    ? tls.createServer({ ...options.tls, ca: options.tls.ca as tls.SecureContextOptions["ca"], ALPNProtocols: options.protocols === "h2c" ? ["h2"] : ["h2", "http/1.1"], handshakeTimeout: prefaceTimeoutMs }, (secure) => {
        // Tracked for dropConnections: destroying the TCP socket under a TLS one does not close it.
        secureSockets.add(secure);
        secure.once("close", () => secureSockets.delete(secure));
        secure.on("error", () => undefined); // as for plain sockets, below
        if (secure.alpnProtocol === "h2") http2Server.emit("connection", secure);
        else if (secure.alpnProtocol === "http/1.1") http1Server.emit("connection", secure);
        else routeByPreface(secure);
      })
    : undefined;
  // A failed handshake (a plain-HTTP client, an untrusted certificate) only
  // closes that connection.
  tlsServer?.on("tlsClientError", (_error, socket) => socket.destroy());
  // No Nagle: chunks are already coalesced, and the HTTP/1.1 server's own
  // setNoDelay does not reach the TCP socket under a TLS one (measured: 40 ms
  // delayed-ACK stalls made half-duplex sessions over TLS ten times slower).
  const server = net.createServer({ noDelay: true }, (socket) => {
    // Until HTTP/1.1 or HTTP/2 takes the socket it has no error listener of
    // theirs, and a client that resets before its first byte (a port
    // scanner, a load balancer's TCP check) would throw the process down.
    // The socket closes on its own after an error; nothing else to do.
    socket.on("error", () => undefined);
    if (options.maxConnections !== undefined && sockets.size >= options.maxConnections) {
      // Over TLS the client could not read a plaintext answer: just close.
      if (tlsServer) socket.destroy();
      else socket.end(`HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\nretry-after: 1\r\n\r\ntoo many connections (limit ${options.maxConnections})\n`);
      return;
    }
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    if (idleTimeoutMs > 0) {
      socket.setTimeout(idleTimeoutMs);
      socket.once("timeout", () => socket.destroy());
    }
    if (tlsServer) return void tlsServer.emit("connection", socket);
    if (options.protocols === "h2c") return void http2Server.emit("connection", socket);
    routeByPreface(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const dropConnections = () => {
    for (const socket of secureSockets) socket.destroy();
    for (const socket of sockets) socket.destroy();
  };
  const closeGracefully = async (graceMs: number) => {
    closing = true;
    websocket?.goAway("server shutting down");
    for (const session of http2Sessions) session.close();
    http1Server.closeIdleConnections();
    const deadline = performance.now() + graceMs;
    while (sockets.size > 0 && performance.now() < deadline) {
      resetFinishedStreams();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return {
    url: `${tlsServer ? "https" : "http"}://${options.host ?? "127.0.0.1"}:${port}`,
    port,
    http2Server,
    http1Server,
    websocket,
    get connections() {
      return sockets.size;
    },
    dropConnections,
    async close(closeOptions = {}) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if ((closeOptions.graceMs ?? 0) > 0) await closeGracefully(closeOptions.graceMs!);
      websocket?.close();
      dropConnections();
      await closed;
    },
  };
}
