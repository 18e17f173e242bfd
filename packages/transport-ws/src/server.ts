/**
 * The server half of Connect over WebSocket: accepts sockets on an existing
 * Node http/https/http2 (allowHTTP1) server's `upgrade` event and runs every
 * call through the same Connect routes an HTTP handler serves, via
 * connect-es' universal handlers, so headers, trailers, deadlines
 * (connect-timeout-ms), cancellation and error codes behave as over HTTP.
 *
 * @module @sluice/transport-ws/server
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { Code, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { Queue } from "@sluice/core";
import { keepaliveOptions } from "./keepalive.js";
import { WebSocketServer, type WebSocket } from "ws";
import type { MuxCall } from "./call.js";
import { WEBSOCKET_PROTOCOL } from "./client.js";
import { MuxConnection, type SocketLike } from "./mux.js";

/** Free bytes before a payload that let its frame be built in place (ServerCall.write's `headroom`). */
export { DATA_FRAME_HEADROOM_BYTES } from "./frames.js";

/** The Connect routes a {@link WebSocketHandler} serves, and its limits per socket and call. */
export interface WebSocketHandlerOptions {
  /** The same routes function given to connectNodeAdapter. */
  readonly routes: (router: ConnectRouter) => void;
  /** Options for the Connect router (interceptors, readMaxBytes, ...). */
  readonly connect?: ConnectRouterOptions;
  /** Upgrade requests on this path are ours (default "/connect"). */
  readonly path?: string;
  /** Concurrent calls per socket (default 1 000); more are refused with resource_exhausted. */
  readonly maxCallsPerSocket?: number;
  /** Largest WebSocket message (default 4 MiB + 64 KiB); bigger ones close the socket with 1009. */
  readonly maxFrameBytes?: number;
  /** Receive window per call (default 256 KiB). */
  readonly windowBytes?: number;
  /** Ping after this much silence from the client. Default 15 s; 0 disables keepalive. */
  readonly keepaliveIntervalMs?: number;
  /** Close the socket when the client is silent this long. Default 3 × interval. */
  readonly keepaliveTimeoutMs?: number;
  /** Pings accepted per second before the socket is closed for flooding (burst: 2 s worth). Default 20. */
  readonly maxPingsPerSecond?: number;
  /** Sockets open at once (default 10 000); more are refused at the upgrade with 503. */
  readonly maxSockets?: number;
  /** Context values for each call's handler, given the socket it runs on (an opaque object that identifies it). */
  readonly contextValues?: (socket: object) => ContextValues;
  /**
   * Calls served without connect's router: return true to take `call` (and
   * answer it on the call itself), false to leave it to `routes`. `socket`
   * identifies the socket it runs on, as for contextValues. For a server's
   * own hot calls, which skip the router's per-call pipeline.
   */
  readonly direct?: (call: ServerCall, socket: object) => boolean;
}

/** A call as a {@link WebSocketHandlerOptions.direct} handler answers it. */
export interface ServerCall {
  /** The procedure path, e.g. "/sluice.v1.SubscribeService/Subscribe". */
  readonly path: string;
  /** The request headers. */
  readonly requestHeaders: Headers;
  /** Aborted when the call is cancelled or its socket is lost. */
  readonly signal: AbortSignal;
  /** Whether the call may still send. */
  readonly open: boolean;
  /** The request body, as it arrives (reading it returns window to the client). */
  body(): AsyncIterable<Uint8Array>;
  /** Sends the response head. */
  sendHead(status: number, headers: Headers): void;
  /**
   * Sends response body bytes within the call's window; resolves when they
   * are on the socket's buffer, rejects when the call is gone. `headroom`:
   * free bytes of the caller's before `data` (see MuxCall.write).
   */
  write(data: Uint8Array, headroom?: number): Promise<void>;
  /** Ends the response with trailers. */
  end(trailers: Headers): void;
}

/** Something with an `upgrade` event: http.Server, https.Server, http2 servers with allowHTTP1. */
export interface UpgradeEmitter {
  /** Adds an `upgrade` listener. */
  on(event: "upgrade", listener: (request: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown;
  /** Removes an `upgrade` listener. */
  off(event: "upgrade", listener: (request: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown;
}

/** Serves Connect over WebSocket on a Node server: upgrades, the sockets they open, and their shutdown. */
export interface WebSocketHandler {
  /** Handles one upgrade request (when you route upgrades yourself). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Listens for upgrades on `server` at the configured path. Returns a detach function. */
  attach(server: UpgradeEmitter): () => void;
  /** Open sockets. */
  readonly sockets: number;
  /** Sockets accepted since the handler was created. */
  readonly accepted: number;
  /**
   * Closes every socket now: GoAway first (its last_call_id tells the client
   * which calls the server had taken), then 1001 (going away); open calls
   * fail with unavailable.
   */
  close(): void;
  /**
   * Graceful: every socket gets GoAway (no new calls), runs its open calls
   * to completion and closes with 1001 when the last has ended.
   */
  goAway(reason?: string): void;
}

/** Calls started per turn of the event loop (see admit). */
const STARTS_PER_TURN = 32;

/**
 * A handler that runs every call on its sockets through `options.routes`, as
 * over HTTP; `attach` it to a server (or route upgrades to `handleUpgrade`).
 */
export function createWebSocketHandler(options: WebSocketHandlerOptions): WebSocketHandler {
  // Refused now, not at the first socket.
  keepaliveOptions(options.keepaliveIntervalMs, options.keepaliveTimeoutMs);
  const router = createConnectRouter(options.connect);
  options.routes(router);
  const handlers = new Map<string, UniversalHandler>(router.handlers.map((handler) => [handler.requestPath, handler]));
  const path = options.path ?? "/connect";
  const maxFrameBytes = options.maxFrameBytes ?? 4 * 1024 * 1024 + 64 * 1024;
  const maxSockets = options.maxSockets ?? 10_000;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxFrameBytes,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(WEBSOCKET_PROTOCOL) ? WEBSOCKET_PROTOCOL : false),
  });
  const connections = new Set<MuxConnection>();
  let accepted = 0;

  const sockets = new WeakMap<MuxCall, MuxConnection>();
  const connectionOf = (call: MuxCall): object => sockets.get(call) ?? call;

  const serveCall = async (call: MuxCall): Promise<void> => {
    if (options.direct?.(call, connectionOf(call))) return;
    const handler = handlers.get(call.path);
    if (!handler) {
      // As over HTTP: 404, which Connect clients report as unimplemented.
      call.sendHead(404, new Headers({ "content-type": "text/plain" }));
      call.end(new Headers());
      return;
    }
    const request: UniversalServerRequest = {
      // Calls are multiplexed and full duplex, like HTTP/2 (bidi is allowed).
      httpVersion: "2.0",
      method: "POST",
      url: `http://websocket${call.path}`,
      header: call.requestHeaders,
      body: call.body(),
      signal: call.signal,
      ...(options.contextValues ? { contextValues: options.contextValues(connectionOf(call)) } : {}),
    };
    try {
      const response = await handler(request);
      call.sendHead(response.status, response.header ?? new Headers());
      if (response.body) {
        for await (const chunk of response.body) {
          if (!call.open) break;
          await call.write(chunk);
        }
      }
      call.end(response.trailer ?? new Headers());
    } catch (error) {
      call.cancel(Code.Internal, `handler failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  // Call starts are rationed per turn of the event loop, across all sockets:
  // each runs connect's handler setup (tens of microseconds to a millisecond
  // with the garbage it makes), and 1 000 started in one turn held the loop
  // for over a second (issue 14). The rest start in the turns after,
  // between which the server serves everyone else.
  const waiting = new Queue<MuxCall>();
  let startsLeft = STARTS_PER_TURN;
  let turn: ReturnType<typeof setImmediate> | undefined;
  const start = (call: MuxCall) => {
    startsLeft--;
    if (call.open) void serveCall(call);
  };
  const newTurn = () => {
    turn = undefined;
    startsLeft = STARTS_PER_TURN;
    while (startsLeft > 0 && waiting.length > 0) start(waiting.shift()!);
    // Keep counting while calls start: the budget is per turn.
    if (waiting.length > 0 || startsLeft < STARTS_PER_TURN) turn = setImmediate(newTurn);
  };
  const admit = (call: MuxCall) => {
    if (waiting.length === 0 && startsLeft > 0) start(call);
    else waiting.push(call);
    turn ??= setImmediate(newTurn);
  };

  const accept = (socket: WebSocket, stream: Duplex) => {
    const mux = new MuxConnection(socket as unknown as SocketLike, {
      role: "server",
      fragmentedSends: true,
      coalesceWrites: stream,
      drainEvents: stream,
      maxFrameBytes,
      ...(options.maxCallsPerSocket !== undefined ? { maxCalls: options.maxCallsPerSocket } : {}),
      ...(options.windowBytes !== undefined ? { windowBytes: options.windowBytes } : {}),
      ...(options.keepaliveIntervalMs !== undefined ? { keepaliveIntervalMs: options.keepaliveIntervalMs } : {}),
      ...(options.keepaliveTimeoutMs !== undefined ? { keepaliveTimeoutMs: options.keepaliveTimeoutMs } : {}),
      ...(options.maxPingsPerSecond !== undefined ? { maxPingsPerSecond: options.maxPingsPerSecond } : {}),
      onCall: (call) => {
        sockets.set(call, mux);
        admit(call);
      },
      onClose: () => connections.delete(mux),
    });
    connections.add(mux);
    accepted++;
  };

  const handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A client that does not offer sluice.ws.v1 does not speak this protocol:
    // refuse the upgrade instead of holding a socket nobody will use (§14.1).
    const offered = (request.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
    if (!offered.includes(WEBSOCKET_PROTOCOL)) {
      socket.end(`HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\nthis endpoint speaks the ${WEBSOCKET_PROTOCOL} subprotocol only\n`);
      return;
    }
    if (connections.size >= maxSockets) {
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\ntoo many websockets (limit ${maxSockets})\n`);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => accept(ws, socket));
  };

  return {
    handleUpgrade,
    attach(server) {
      const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (new URL(request.url ?? "/", "http://x").pathname === path) handleUpgrade(request, socket, head);
      };
      server.on("upgrade", listener);
      return () => server.off("upgrade", listener);
    },
    get sockets() {
      return connections.size;
    },
    get accepted() {
      return accepted;
    },
    close() {
      // As HTTP/2 sessions get GOAWAY before their socket closes (PROTOCOL.md §14.4).
      for (const mux of [...connections]) mux.shutdown("server shutting down");
      wss.close();
    },
    goAway(reason = "server shutting down") {
      for (const mux of [...connections]) mux.goAway(reason);
    },
  };
}
