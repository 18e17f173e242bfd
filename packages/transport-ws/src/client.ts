/**
 * A Connect Transport over one WebSocket: connect-es' own Connect protocol
 * client (serialization, envelopes, errors, deadlines, interceptors) with an
 * HTTP client that runs each request as a call on the shared socket. All four
 * method kinds work, bidi streaming included, in browsers too.
 */
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import type { UniversalClientFn, UniversalClientRequest, UniversalClientResponse } from "@connectrpc/connect/protocol";
import { createTransport } from "@connectrpc/connect/protocol-connect";
import type { CallBodySink, CallHeadInfo, MuxCall } from "./call.js";
import { CloseCode } from "./close-codes.js";
import { keepaliveOptions } from "./keepalive.js";
import { MuxConnection, type MuxOptions, type SocketLike } from "./mux.js";
import type { Corkable } from "./send-buffer.js";

/** A WebSocket constructor: the browser's, or `ws`'s in Node. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => SocketLike;

/**
 * The response window a client grants each call: 1 MiB, like the HTTP/2
 * stream window `listen` uses (256 KiB halved throughput of 1 KiB items in
 * BENCHMARKS.md). It bounds what a server may buffer toward one slow call.
 */
export const DEFAULT_CLIENT_WINDOW_BYTES = 1024 * 1024;

/** The subprotocol name both sides agree on. */
export const WEBSOCKET_PROTOCOL = "sluice.ws.v1";

/** Where the socket goes, and the Connect and sluice.ws.v1 settings of the calls it carries. */
export interface WebSocketTransportOptions {
  /** e.g. "ws://127.0.0.1:8080/connect" */
  readonly url: string;
  /** Default: globalThis.WebSocket. In Node 20, pass `WebSocket` from `ws` (or use @sluice/transport-ws/node). */
  readonly WebSocket?: WebSocketConstructor;
  /** Binary protobuf (default) or JSON messages. */
  readonly useBinaryFormat?: boolean;
  /** Connect interceptors run on every call (credentials, logging). */
  readonly interceptors?: Interceptor[];
  /** Deadline for calls that set none (connect-timeout-ms); default none. */
  readonly defaultTimeoutMs?: number;
  /** Largest message read. Default 4 MiB. */
  readonly readMaxBytes?: number;
  /** Largest message written. Default 4 MiB. */
  readonly writeMaxBytes?: number;
  /** Response window per call in bytes (default 1 MiB). */
  readonly windowBytes?: number;
  /** Ping after this much silence from the server. Default 15 s; 0 disables keepalive. */
  readonly keepaliveIntervalMs?: number;
  /** Close the socket when the server is silent this long. Default 3 × interval. */
  readonly keepaliveTimeoutMs?: number;
  /** Largest frame accepted, in bytes. Default 4 MiB + 64 KiB. */
  readonly maxFrameBytes?: number;
}

/**
 * One raw call on the socket (PROTOCOL.md §14.2): body bytes both ways,
 * without connect-es' pipeline. Sluice's own Subscribe calls run on it
 * (@sluice/client's direct path), writing and reading Connect envelopes
 * themselves.
 */
export interface WebSocketCall {
  /** The response head; rejects when the call fails first. */
  readonly head: Promise<CallHeadInfo>;
  /** Sends request bytes within the call's window; resolves when they are on the socket's buffer. */
  write(data: Uint8Array): Promise<void>;
  /** Reads the response body by push (see MuxCall.deliverTo). */
  deliverTo(sink: CallBodySink): void;
  /** Abandons the call and tells the server. */
  cancel(code: Code, reason: string): void;
}

export type { CallBodySink, CallHeadInfo };

/** A Connect Transport whose calls share one WebSocket, opened at the first call and again after it closes. */
export interface WebSocketTransport extends Transport {
  /** Starts a raw call (opening the socket when there is none): for Sluice's direct paths. */
  openCall(path: string, headers: Headers): Promise<WebSocketCall>;
  /** Closes the socket; open calls fail with unavailable. The next call opens a new socket. */
  close(): void;
  /** Calls open on the current socket. */
  readonly activeCalls: number;
}

/**
 * A Connect Transport over sluice.ws.v1 (PROTOCOL.md §14): every method kind,
 * many calls on one socket, each with its own flow control.
 */
export function createWebSocketTransport(options: WebSocketTransportOptions): WebSocketTransport {
  const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocketImpl) throw new Error("createWebSocketTransport: no WebSocket in this runtime; pass options.WebSocket (e.g. from the `ws` package)");
  // Refused now, not at the first socket.
  keepaliveOptions(options.keepaliveIntervalMs, options.keepaliveTimeoutMs);
  const muxOptions: Omit<MuxOptions, "role"> = {
    windowBytes: options.windowBytes ?? DEFAULT_CLIENT_WINDOW_BYTES,
    ...(options.keepaliveIntervalMs !== undefined ? { keepaliveIntervalMs: options.keepaliveIntervalMs } : {}),
    ...(options.keepaliveTimeoutMs !== undefined ? { keepaliveTimeoutMs: options.keepaliveTimeoutMs } : {}),
    ...(options.maxFrameBytes !== undefined ? { maxFrameBytes: options.maxFrameBytes } : {}),
  };
  let connecting: Promise<MuxConnection> | undefined;
  let current: MuxConnection | undefined;

  /** The current socket, opening one when there is none (or it closed, or is going away). */
  const connection = (): Promise<MuxConnection> => {
    if (connecting) return connecting;
    const opening = new Promise<MuxConnection>((resolve, reject) => {
      const socket = new WebSocketImpl(options.url, WEBSOCKET_PROTOCOL);
      socket.binaryType = "arraybuffer";
      let opened = false;
      // Node's `ws` says why a socket failed to open (a refused connection, an
      // untrusted certificate); browsers say nothing, for privacy.
      let failure = "";
      socket.addEventListener("error", (event) => {
        const message = (event as { message?: unknown }).message;
        if (!opened && typeof message === "string" && message) failure = `: ${message}`;
      });
      // Node's `ws` has the TCP socket under it: the frames of one turn (a
      // Credit and an Ack after each chunk) leave in one write instead of a
      // system call each. Browsers' WebSocket has none; nothing changes there.
      const tcp = () => (socket as unknown as { _socket?: Corkable | null })._socket ?? undefined;
      const mux = new MuxConnection(socket, {
        ...muxOptions,
        role: "client",
        coalesceWrites: { cork: () => tcp()?.cork(), uncork: () => tcp()?.uncork() },
        onClose: (code, reason) => {
          if (connecting === opening) connecting = undefined;
          if (!opened) reject(new ConnectError(`websocket ${options.url} closed before it opened (${code}${reason ? ` ${reason}` : ""})${failure}`, Code.Unavailable));
        },
      });
      (socket as unknown as { addEventListener(type: "open", listener: () => void): void }).addEventListener("open", () => {
        // A server that did not choose sluice.ws.v1 does not speak it (§14.1).
        const chosen = (socket as unknown as { protocol?: string }).protocol;
        if (chosen !== WEBSOCKET_PROTOCOL) {
          failure = `: the server did not accept the ${WEBSOCKET_PROTOCOL} subprotocol (it chose ${JSON.stringify(chosen ?? "")})`;
          mux.close(CloseCode.protocolError, "subprotocol not accepted");
          return;
        }
        opened = true;
        current = mux;
        resolve(mux);
      });
    });
    connecting = opening;
    opening.catch(() => {
      if (connecting === opening) connecting = undefined;
    });
    return opening;
  };

  /** The socket for a new call: a new one when the current one closed or goes away. */
  const usableConnection = async (): Promise<MuxConnection> => {
    const mux = await connection();
    if (!mux.closed && !mux.goingAway) return mux;
    connecting = undefined;
    return connection();
  };
  const openCall = async (path: string, headers: Headers): Promise<MuxCall> => (await usableConnection()).openCall(path, headers);

  const httpClient: UniversalClientFn = async (request: UniversalClientRequest): Promise<UniversalClientResponse> => {
    const mux = await usableConnection();
    const signal = request.signal;
    signal?.throwIfAborted();
    const call = mux.openCall(new URL(request.url).pathname, request.header);
    const onAbort = () => call.cancel(Code.Canceled, "the client aborted the call");
    signal?.addEventListener("abort", onAbort, { once: true });
    call.signal.addEventListener("abort", () => signal?.removeEventListener("abort", onAbort), { once: true });
    void (async () => {
      try {
        if (request.body) for await (const chunk of request.body) await call.write(chunk);
        call.halfClose();
      } catch (error) {
        if (call.open) call.cancel(Code.Canceled, `request body failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    })();
    const head = await call.head;
    return {
      status: head.status,
      header: head.headers,
      body: (async function* () {
        try {
          yield* call.body();
        } finally {
          // The reader stopped early (e.g. broke out of a for-await): cancel.
          if (call.open && !signal?.aborted) call.cancel(Code.Canceled, "the client stopped reading");
        }
      })(),
      trailer: call.trailers,
    };
  };

  const transport = createTransport({
    httpClient,
    // The URL only carries the method path to the HTTP client above.
    baseUrl: "http://websocket",
    useBinaryFormat: options.useBinaryFormat ?? true,
    interceptors: options.interceptors ?? [],
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    readMaxBytes: options.readMaxBytes ?? 4 * 1024 * 1024,
    writeMaxBytes: options.writeMaxBytes ?? 4 * 1024 * 1024,
    ...(options.defaultTimeoutMs !== undefined ? { defaultTimeoutMs: options.defaultTimeoutMs } : {}),
  });
  return {
    unary: transport.unary.bind(transport),
    stream: transport.stream.bind(transport),
    openCall,
    close() {
      const pending = connecting;
      connecting = undefined;
      void pending?.then((mux) => mux.close(1000, "client closed"), () => undefined);
      current?.close(1000, "client closed");
    },
    get activeCalls() {
      return current?.activeCalls ?? 0;
    },
  };
}
