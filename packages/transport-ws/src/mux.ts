/**
 * One WebSocket carrying many calls (PROTOCOL.md §14): the frame codec, the
 * call registry, per-call flow-control windows in both directions, socket
 * backpressure, keepalive and the checks that close a misbehaving socket with
 * a code naming what was wrong. Client and server share it; only who opens
 * calls differs.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { varintSize, WebSocketFrameSchema, writeVarint, type Header, type WebSocketFrame } from "@sluice/protocol/ws";

/** WebSocket close codes this transport uses. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  /** A malformed frame, an unknown call id, data after half-close, a window overrun. */
  protocolError: 1002,
  /** Too many pings. */
  policyViolation: 1008,
  /** A message over the size limit (the `ws` server closes with this on its own). */
  messageTooBig: 1009,
  /** Nothing arrived within the keepalive timeout. */
  keepaliveTimeout: 4000,
} as const;

/** The window each direction of a call starts with unless CallStart says otherwise. */
export const DEFAULT_CALL_WINDOW_BYTES = 256 * 1024;
/** No window may grow past this (a peer adding without bound is an error). */
const MAX_WINDOW_BYTES = 2 ** 31 - 1;
/**
 * The most response window a server grants a call, whatever its start asks:
 * what a call may hold in the socket's send path for a reader that does not
 * read (a call asking for 4 GiB held 88 MiB per call, issue 14).
 */
export const MAX_CALL_WINDOW_BYTES = 16 * 1024 * 1024;

/** The subset of the WebSocket API used here: browsers' WebSocket and `ws` both have it. */
export interface SocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(type: "close", listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: "error", listener: (event: unknown) => void): void;
}

export interface MuxOptions {
  readonly role: "client" | "server";
  /**
   * Calls open at once on this socket; more are refused with resource_exhausted.
   * Default 1 000: each call costs tens of KiB in connect's handler, and
   * 10 000 opened at once stalled other clients for seconds (issue 14).
   */
  readonly maxCalls?: number;
  /** Largest frame accepted, in bytes. Default 4 MiB + 64 KiB. */
  readonly maxFrameBytes?: number;
  /** Largest CallData sent; bigger writes are split. Default 256 KiB. */
  readonly maxDataBytes?: number;
  /** Receive window per call and direction. Default 256 KiB. */
  readonly windowBytes?: number;
  /** Socket buffer above which writers wait. Default 1 MiB. */
  readonly highWaterBytes?: number;
  /** Ping after this much silence from the peer. Default 15 s; 0 disables keepalive. */
  readonly keepaliveIntervalMs?: number;
  /** Close when the peer is silent this long. Default 3 × interval. */
  readonly keepaliveTimeoutMs?: number;
  /** Pings accepted per second before the socket is closed for flooding (burst: 2 s worth). Default 20. */
  readonly maxPingsPerSecond?: number;
  /**
   * The socket is a `ws` WebSocket, whose send() takes { fin }: big data
   * frames then go out as two fragments (header, payload) without a copy.
   */
  readonly fragmentedSends?: boolean;
  /**
   * The stream under the WebSocket (Node): frames sent in one turn of the
   * event loop are corked and leave in one write when it ends. A topic
   * publish reaches every call on the socket in one turn, and a write per
   * call (a system call each) cost more than the rest of the fan-out: 1 000
   * calls on one socket stalled the server (issue 14).
   */
  readonly coalesceWrites?: { cork(): void; uncork(): void };
  /** Server side: a new call arrived. */
  readonly onCall?: (call: MuxCall) => void;
  /** The socket closed (for any reason). */
  readonly onClose?: (code: number, reason: string) => void;
}

export interface CallHeadInfo {
  readonly status: number;
  readonly headers: Headers;
}

type Waiter = () => void;

/** One call on a MuxConnection, seen from either side. */
export class MuxCall {
  readonly id: number;
  readonly path: string;
  /** The request headers (server side) or those sent (client side). */
  readonly requestHeaders: Headers;
  /** The response trailers; filled when CallEnd arrives (client side). */
  readonly trailers = new Headers();
  /** Aborted when the call is cancelled by either side or the socket is lost. */
  readonly signal: AbortSignal;
  /** Client side: the response head. */
  readonly head: Promise<CallHeadInfo>;

  readonly #mux: MuxConnection;
  readonly #abort = new AbortController();
  #resolveHead!: (head: CallHeadInfo) => void;
  #rejectHead!: (error: unknown) => void;
  // Receive side.
  #inbound: Uint8Array[] = [];
  #inboundHead = 0;
  #inboundDone = false;
  #inboundError: ConnectError | undefined;
  #inboundWaiter: Waiter | undefined;
  #receiveWindow: number;
  #unacknowledged = 0;
  readonly #updateThreshold: number;
  // Send side.
  #sendWindow: number;
  #sendWaiter: Waiter | undefined;
  #halfClosed = false;
  #ended = false;

  constructor(mux: MuxConnection, id: number, path: string, headers: Headers, receiveWindow: number, sendWindow: number) {
    this.#mux = mux;
    this.id = id;
    this.path = path;
    this.requestHeaders = headers;
    this.#receiveWindow = receiveWindow;
    this.#updateThreshold = Math.max(1, Math.floor(receiveWindow / 2));
    this.#sendWindow = sendWindow;
    this.signal = this.#abort.signal;
    this.head = new Promise<CallHeadInfo>((resolve, reject) => {
      this.#resolveHead = resolve;
      this.#rejectHead = reject;
    });
    // Nobody may await the head (server side); do not report it unhandled.
    this.head.catch(() => undefined);
  }

  /** Whether this side may still send frames for the call. */
  get open(): boolean {
    return !this.#ended && !this.signal.aborted;
  }

  /** The peer's body, as it arrives; reading it returns window to the peer. */
  async *body(): AsyncIterable<Uint8Array> {
    for (;;) {
      if (this.#inboundHead < this.#inbound.length) {
        const chunk = this.#inbound[this.#inboundHead]!;
        this.#inbound[this.#inboundHead++] = undefined as unknown as Uint8Array;
        if (this.#inboundHead === this.#inbound.length) {
          this.#inbound = [];
          this.#inboundHead = 0;
        }
        this.#consumed(chunk.byteLength);
        yield chunk;
        continue;
      }
      if (this.#inboundError) throw this.#inboundError;
      if (this.#inboundDone) return;
      await new Promise<void>((resolve) => (this.#inboundWaiter = resolve));
    }
  }

  /** Sends body bytes within the peer's window; resolves when they are on the socket's buffer. */
  async write(data: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < data.byteLength) {
      if (!this.open || this.#halfClosed) throw this.#inboundError ?? new ConnectError("call is closed", Code.Canceled);
      if (this.#sendWindow === 0) {
        await new Promise<void>((resolve) => (this.#sendWaiter = resolve));
        continue;
      }
      const n = Math.min(this.#sendWindow, data.byteLength - offset, this.#mux.maxDataBytes);
      this.#sendWindow -= n;
      const piece = offset === 0 && n === data.byteLength ? data : data.subarray(offset, offset + n);
      offset += n;
      await this.#mux.send(this.id, { case: "data", value: { data: piece } });
    }
  }

  /** The request body is complete (client side). */
  halfClose(): void {
    if (!this.open || this.#halfClosed) return;
    this.#halfClosed = true;
    void this.#mux.send(this.id, { case: "halfClose", value: {} });
  }

  /** Sends the response head (server side). */
  sendHead(status: number, headers: Headers): void {
    if (!this.open) return;
    void this.#mux.send(this.id, { case: "head", value: { status, headers: toHeaderList(headers) } });
  }

  /** Ends the response with trailers (server side). */
  end(trailers: Headers): void {
    if (!this.open) return;
    this.#ended = true;
    void this.#mux.send(this.id, { case: "end", value: { trailers: toHeaderList(trailers) } });
    this.#mux.forget(this);
  }

  /** Abandons the call and tells the peer (RST_STREAM). */
  cancel(code: Code, reason: string): void {
    if (!this.open) return;
    void this.#mux.send(this.id, { case: "cancel", value: { code, reason } });
    this.fail(new ConnectError(reason, code));
  }

  // ---- driven by MuxConnection -------------------------------------------------

  /** @internal */
  fail(error: ConnectError): void {
    if (this.signal.aborted && this.#inboundError) return;
    this.#ended = true;
    this.#inboundError ??= error;
    this.#rejectHead(error);
    this.#wakeInbound();
    this.#wakeSender();
    this.#abort.abort(error);
    this.#mux.forget(this);
  }

  /** @internal Returns an error message when the peer broke a rule. */
  receiveData(data: Uint8Array): string | undefined {
    if (this.#inboundDone) return `data after half-close on call ${this.id}`;
    if (data.byteLength > this.#receiveWindow) return `window overrun on call ${this.id}: ${data.byteLength} bytes with ${this.#receiveWindow} left`;
    this.#receiveWindow -= data.byteLength;
    if (this.signal.aborted) return undefined; // cancelled locally: drop it
    this.#inbound.push(data);
    this.#wakeInbound();
    return undefined;
  }

  /** @internal */
  receiveHalfClose(): string | undefined {
    if (this.#inboundDone) return `second half-close on call ${this.id}`;
    this.#inboundDone = true;
    this.#wakeInbound();
    return undefined;
  }

  /** @internal */
  receiveHead(status: number, headers: Headers): void {
    this.#resolveHead({ status, headers });
  }

  /** @internal */
  receiveEnd(trailers: Headers): void {
    trailers.forEach((value, name) => this.trailers.append(name, value));
    this.#inboundDone = true;
    this.#ended = true;
    this.#resolveHead({ status: 200, headers: new Headers() }); // no-op if a head came
    this.#wakeInbound();
    this.#wakeSender();
    this.#mux.forget(this);
  }

  /** @internal */
  receiveWindowUpdate(bytes: number): string | undefined {
    if (this.#sendWindow + bytes > MAX_WINDOW_BYTES) return `window overflow on call ${this.id}`;
    this.#sendWindow += bytes;
    this.#wakeSender();
    return undefined;
  }

  #consumed(bytes: number): void {
    this.#unacknowledged += bytes;
    // Return window in halves, like HTTP/2 implementations do: one update per
    // half window keeps the peer streaming without an update per chunk.
    if (this.#unacknowledged >= this.#updateThreshold && this.open) {
      const bytesBack = this.#unacknowledged;
      this.#unacknowledged = 0;
      this.#receiveWindow += bytesBack;
      void this.#mux.send(this.id, { case: "windowUpdate", value: { bytes: bytesBack } });
    }
  }

  #wakeInbound(): void {
    const waiter = this.#inboundWaiter;
    this.#inboundWaiter = undefined;
    waiter?.();
  }

  #wakeSender(): void {
    const waiter = this.#sendWaiter;
    this.#sendWaiter = undefined;
    waiter?.();
  }
}

type FrameKind = NonNullable<MessageInitShape<typeof WebSocketFrameSchema>["kind"]>;

export class MuxConnection {
  readonly role: "client" | "server";
  readonly maxDataBytes: number;
  readonly windowBytes: number;
  readonly #socket: SocketLike;
  #corked = false;
  readonly #options: MuxOptions;
  readonly #maxCalls: number;
  readonly #maxFrameBytes: number;
  readonly #highWater: number;
  readonly #calls = new Map<number, MuxCall>();
  /** Highest call id started on this socket (ids only grow). */
  #lastCallId = 0;
  #closed = false;
  #closeCode = 0;
  #closeReason = "";
  #lastInbound = Date.now();
  #keepalive: ReturnType<typeof setInterval> | undefined;
  #pingId = 0n;
  #pingTokens: number;
  #pingRefilledAt = Date.now();
  #drainWaiters: Waiter[] = [];
  #drainTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: SocketLike, options: MuxOptions) {
    this.#socket = socket;
    this.#options = options;
    this.role = options.role;
    this.#maxCalls = options.maxCalls ?? 1_000;
    this.#maxFrameBytes = options.maxFrameBytes ?? 4 * 1024 * 1024 + 64 * 1024;
    this.maxDataBytes = options.maxDataBytes ?? 256 * 1024;
    this.windowBytes = options.windowBytes ?? DEFAULT_CALL_WINDOW_BYTES;
    this.#highWater = options.highWaterBytes ?? 1024 * 1024;
    this.#pingTokens = 2 * (options.maxPingsPerSecond ?? 20);
    if (socket.binaryType === "blob") socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => this.#onMessage(event.data));
    socket.addEventListener("close", (event) => this.#onClosed(event.code, event.reason));
    socket.addEventListener("error", () => undefined); // close follows
    const interval = options.keepaliveIntervalMs ?? 15_000;
    if (interval > 0) {
      const timeout = options.keepaliveTimeoutMs ?? 3 * interval;
      this.#keepalive = setInterval(() => {
        const silent = Date.now() - this.#lastInbound;
        if (silent >= timeout) {
          // Timers run before pending socket reads: after this process was
          // busy, the peer's frames may be waiting unread. Decide after the
          // next I/O poll, so our own stall is not blamed on the peer.
          setTimeout(() => {
            const stillSilent = Date.now() - this.#lastInbound;
            if (stillSilent >= timeout) this.close(CloseCode.keepaliveTimeout, `keepalive timeout: peer silent for ${stillSilent} ms`);
          }, 0);
        } else if (silent >= interval) void this.send(0, { case: "ping", value: { id: ++this.#pingId } });
      }, Math.max(10, Math.min(interval, timeout) / 2));
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get activeCalls(): number {
    return this.#calls.size;
  }

  /** Client side: starts a call. */
  openCall(path: string, headers: Headers): MuxCall {
    if (this.#closed) throw new ConnectError(`socket closed (${this.#closeCode} ${this.#closeReason})`, Code.Unavailable);
    const id = ++this.#lastCallId;
    const call = new MuxCall(this, id, path, headers, this.windowBytes, DEFAULT_CALL_WINDOW_BYTES);
    this.#calls.set(id, call);
    void this.send(id, { case: "start", value: { path, headers: toHeaderList(headers), windowBytes: this.windowBytes } });
    return call;
  }

  /**
   * Graceful close (HTTP/2's GOAWAY): tells the peer no new call will be
   * accepted, lets the open ones run to completion, and closes the socket
   * with 1001 (going away) once the last has ended. Calls started after it
   * are refused with unavailable, so the client retries them elsewhere.
   */
  goAway(reason: string): void {
    if (this.#closed || this.#goingAwayLocal) return;
    this.#goingAwayLocal = true;
    void this.send(0, { case: "goAway", value: { lastCallId: this.#lastCallId, reason } });
    this.#closeIfIdle();
  }

  #goingAwayLocal = false;

  #closeIfIdle(): void {
    if (this.#goingAwayLocal && this.#calls.size === 0) this.close(CloseCode.goingAway, "server shutting down");
  }

  /** Closes the socket; every open call fails with unavailable. */
  close(code: number = CloseCode.normal, reason = ""): void {
    if (this.#closed) return;
    try {
      this.#socket.close(code, reason.slice(0, 120));
    } catch {
      // already closing
    }
    this.#onClosed(code, reason);
  }

  /** Encodes and sends one frame; the promise settles when the socket buffer has room. */
  send(callId: number, kind: FrameKind): Promise<void> | void {
    if (this.#closed) return;
    const stream = this.#options.coalesceWrites;
    if (stream && !this.#corked) {
      this.#corked = true;
      stream.cork();
      // After the microtasks of this turn, which is where sessions write.
      setImmediate(() => {
        this.#corked = false;
        stream.uncork();
      });
    }
    try {
      if (kind.case === "data" && kind.value.data) this.#sendData(callId, kind.value.data);
      else this.#socket.send(toBinary(WebSocketFrameSchema, create(WebSocketFrameSchema, { callId, kind })));
    } catch {
      return;
    }
    if (this.#socket.bufferedAmount > this.#highWater) return new Promise<void>((resolve) => this.#waitForDrain(resolve));
  }

  /**
   * A CallData frame, encoded by hand: it is the hot path, and protobuf's
   * writer would grow a buffer by doubling and copy the payload several
   * times. With `ws` the header and the payload go out as two fragments of
   * one WebSocket message, so the payload is not copied at all.
   */
  #sendData(callId: number, data: Uint8Array): void {
    const header = dataFrameHeader(callId, data.byteLength);
    const headerLength = header.byteLength;
    const fragmentable = this.#socket as unknown as { send(data: Uint8Array, options: { binary: boolean; fin: boolean }): void };
    if (this.#options.fragmentedSends && data.byteLength >= 16 * 1024) {
      fragmentable.send(header, { binary: true, fin: false });
      fragmentable.send(data, { binary: true, fin: true });
      return;
    }
    const frame = new Uint8Array(headerLength + data.byteLength);
    frame.set(header, 0);
    frame.set(data, headerLength);
    this.#socket.send(frame);
  }

  /** @internal */
  forget(call: MuxCall): void {
    if (this.#calls.get(call.id) === call) this.#calls.delete(call.id);
    if (this.#goingAwayLocal && !this.#closed) queueMicrotask(() => this.#closeIfIdle());
  }

  #waitForDrain(resolve: Waiter): void {
    this.#drainWaiters.push(resolve);
    // Browsers have no drain event; `ws` has none on the WebSocket either.
    // Poll the buffer while writers wait (only then).
    const check = () => {
      this.#drainTimer = undefined;
      if (this.#closed || this.#socket.bufferedAmount <= this.#highWater / 2) {
        const waiters = this.#drainWaiters;
        this.#drainWaiters = [];
        for (const waiter of waiters) waiter();
      } else {
        this.#drainTimer = setTimeout(check, 1);
      }
    };
    this.#drainTimer ??= setTimeout(check, 1);
  }

  #onMessage(data: unknown): void {
    if (this.#closed) return;
    this.#lastInbound = Date.now();
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : undefined;
    if (!bytes) return this.close(CloseCode.protocolError, "text message: frames are binary");
    if (bytes.byteLength > this.#maxFrameBytes) return this.close(CloseCode.messageTooBig, `frame of ${bytes.byteLength} bytes, over the limit ${this.#maxFrameBytes}`);
    let frame: WebSocketFrame;
    try {
      frame = fromBinary(WebSocketFrameSchema, bytes);
    } catch (error) {
      return this.close(CloseCode.protocolError, `malformed frame: ${error instanceof Error ? error.message : String(error)}`);
    }
    const problem = this.#apply(frame);
    if (problem) this.close(problem.code, problem.reason);
  }

  /** Applies one frame; returns why the socket must close, if it must. */
  #apply(frame: WebSocketFrame): { code: number; reason: string } | undefined {
    const violation = (reason: string) => ({ code: CloseCode.protocolError, reason });
    const { callId, kind } = frame;
    switch (kind.case) {
      case undefined:
        return violation("frame without a kind");
      case "ping": {
        const now = Date.now();
        const rate = this.#options.maxPingsPerSecond ?? 20;
        this.#pingTokens = Math.min(2 * rate, this.#pingTokens + ((now - this.#pingRefilledAt) / 1000) * rate);
        this.#pingRefilledAt = now;
        if (--this.#pingTokens < 0) return { code: CloseCode.policyViolation, reason: `ping flood: more than ${rate} pings per second` };
        void this.send(0, { case: "pong", value: { id: kind.value.id } });
        return undefined;
      }
      case "pong":
        return undefined;
      case "goAway":
        // No new calls will be accepted; open ones finish. Callers open a new socket.
        this.#goingAway = true;
        return undefined;
      case "start": {
        if (this.role !== "server") return violation("call start from the server");
        if (callId <= this.#lastCallId) return violation(`call id ${callId} reused or out of order (last ${this.#lastCallId})`);
        this.#lastCallId = callId;
        const headers = fromHeaderList(kind.value.headers);
        if (!headers) return violation(`invalid header on call ${callId}`);
        if (this.#goingAwayLocal) {
          void this.send(callId, { case: "cancel", value: { code: Code.Unavailable, reason: "the server is going away: retry elsewhere" } });
          return undefined;
        }
        if (this.#calls.size >= this.#maxCalls) {
          // Refuse the call, keep the socket: the client may retry later.
          void this.send(callId, { case: "cancel", value: { code: Code.ResourceExhausted, reason: `too many concurrent calls on this socket (limit ${this.#maxCalls})` } });
          return undefined;
        }
        const call = new MuxCall(this, callId, kind.value.path, headers, DEFAULT_CALL_WINDOW_BYTES, Math.min(kind.value.windowBytes || DEFAULT_CALL_WINDOW_BYTES, MAX_CALL_WINDOW_BYTES));
        this.#calls.set(callId, call);
        this.#options.onCall?.(call);
        return undefined;
      }
      default:
        break;
    }
    if (callId === 0) return violation(`${kind.case} frame without a call id`);
    if (callId > this.#lastCallId) return violation(`unknown call id ${callId}`);
    const call = this.#calls.get(callId);
    // A frame for a call that ended here may cross our cancel or end: ignore it.
    if (!call) return undefined;
    switch (kind.case) {
      case "data": {
        const problem = call.receiveData(kind.value.data);
        return problem ? violation(problem) : undefined;
      }
      case "halfClose": {
        if (this.role !== "server") return violation("half-close from the server (the response ends with CallEnd)");
        const problem = call.receiveHalfClose();
        return problem ? violation(problem) : undefined;
      }
      case "head": {
        if (this.role !== "client") return violation("call head from the client");
        const headers = fromHeaderList(kind.value.headers);
        if (!headers) return violation(`invalid header on call ${callId}`);
        call.receiveHead(kind.value.status, headers);
        return undefined;
      }
      case "end": {
        if (this.role !== "client") return violation("call end from the client");
        const trailers = fromHeaderList(kind.value.trailers);
        if (!trailers) return violation(`invalid trailer on call ${callId}`);
        call.receiveEnd(trailers);
        return undefined;
      }
      case "cancel": {
        const code = kind.value.code in Code && kind.value.code !== 0 ? (kind.value.code as Code) : Code.Unknown;
        call.fail(new ConnectError(kind.value.reason || "cancelled by the peer", code));
        return undefined;
      }
      case "windowUpdate": {
        const problem = call.receiveWindowUpdate(kind.value.bytes);
        return problem ? violation(problem) : undefined;
      }
    }
  }

  #goingAway = false;

  /** No new calls should start here (the peer sent GoAway). */
  get goingAway(): boolean {
    return this.#goingAway;
  }

  #onClosed(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeCode = code;
    this.#closeReason = reason;
    if (this.#keepalive) clearInterval(this.#keepalive);
    if (this.#drainTimer) clearTimeout(this.#drainTimer);
    for (const waiter of this.#drainWaiters) waiter();
    this.#drainWaiters = [];
    const error = new ConnectError(`websocket closed (${code}${reason ? ` ${reason}` : ""})`, Code.Unavailable);
    for (const call of [...this.#calls.values()]) call.fail(error);
    this.#calls.clear();
    this.#options.onClose?.(code, reason);
  }
}

function toHeaderList(headers: Headers): Header[] {
  const list: Header[] = [];
  headers.forEach((value, name) => list.push({ $typeName: "sluice.ws.v1.Header", name, value }));
  return list;
}

/** Headers from the wire, or undefined if a name or value is not valid HTTP. */
function fromHeaderList(list: readonly Header[]): Headers | undefined {
  const headers = new Headers();
  try {
    for (const { name, value } of list) headers.append(name, value);
  } catch {
    return undefined;
  }
  return headers;
}

/**
 * The bytes of WebSocketFrame{call_id, data: CallData{data}} that precede the
 * payload, as protobuf encodes them (field order, minimal varints).
 */
export function dataFrameHeader(callId: number, dataLength: number): Uint8Array {
  // proto3 leaves out an empty bytes field: CallData{} is empty then.
  const innerLength = dataLength > 0 ? 1 + varintSize(dataLength) + dataLength : 0;
  const header = new Uint8Array((callId > 0 ? 1 + varintSize(callId) : 0) + 1 + varintSize(innerLength) + (dataLength > 0 ? 1 + varintSize(dataLength) : 0));
  let pos = 0;
  if (callId > 0) {
    header[pos++] = 0x08; // call_id (field 1), varint; proto3 omits zero
    pos = writeVarint(header, pos, callId);
  }
  header[pos++] = 0x22; // data (field 4), length-delimited
  pos = writeVarint(header, pos, innerLength);
  if (dataLength === 0) return header;
  header[pos++] = 0x0a; // CallData.data (field 1), length-delimited
  writeVarint(header, pos, dataLength);
  return header;
}
