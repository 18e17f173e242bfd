/**
 * One WebSocket carrying many calls (PROTOCOL.md §14): wires the socket to
 * the pieces that hold the rules (frames.ts, call.ts and call-window.ts,
 * keepalive.ts, send-buffer.ts, close-codes.ts) and keeps the call registry:
 * ids, the concurrent-call limit, going away. Client and server share it;
 * only who opens calls differs.
 */
import { Code } from "@connectrpc/connect";
import { systemClock, type Clock } from "@sluice/driver";
import type { CallStart, WebSocketFrame } from "@sluice/protocol/ws";
import { MuxCall } from "./call.js";
import { DEFAULT_CALL_WINDOW_BYTES, grantedResponseWindow } from "./call-window.js";
import { closeFrameReason, CloseCode, keepaliveTimeout, pingFlood, protocolError, socketClosedError, type SocketClose } from "./close-codes.js";
import { dataFrameHeader, decodeFrame, encodeDataFrame, encodeFrame, fromHeaderList, isSocketClose, toHeaderList, type FrameKind } from "./frames.js";
import { Keepalive, keepaliveOptions, PingRateLimit } from "./keepalive.js";
import { SendBuffer, type Corkable, type DrainEvents } from "./send-buffer.js";

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
  /** Time for keepalive, the ping limit and drain polling. Default: the system clock. */
  readonly clock?: Clock;
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
  readonly coalesceWrites?: Corkable;
  /** The stream under the WebSocket (Node): its 'drain' wakes writers waiting on the socket buffer, instead of polling it. */
  readonly drainEvents?: DrainEvents;
  /** Server side: a new call arrived. */
  readonly onCall?: (call: MuxCall) => void;
  /** The socket closed (for any reason). */
  readonly onClose?: (code: number, reason: string) => void;
}

/** Big payloads go out as a fragment of their own (no copy) when the socket can. */
const FRAGMENT_FROM_BYTES = 16 * 1024;

export class MuxConnection {
  readonly role: "client" | "server";
  readonly maxDataBytes: number;
  readonly windowBytes: number;
  readonly #socket: SocketLike;
  readonly #options: MuxOptions;
  readonly #clock: Clock;
  readonly #maxCalls: number;
  readonly #maxFrameBytes: number;
  readonly #sendBuffer: SendBuffer;
  readonly #keepalive: Keepalive | undefined;
  readonly #pingLimit: PingRateLimit;
  readonly #calls = new Map<number, MuxCall>();
  /** Highest call id started on this socket (ids only grow). */
  #lastCallId = 0;
  #closed = false;
  #closeCode = 0;
  #closeReason = "";
  /** We sent GoAway: no new calls; close once the open ones have ended. */
  #goingAwayLocal = false;
  /** The peer sent GoAway: no new calls should start here. */
  #goingAway = false;

  constructor(socket: SocketLike, options: MuxOptions) {
    this.#socket = socket;
    this.#options = options;
    this.role = options.role;
    this.#clock = options.clock ?? systemClock;
    this.#maxCalls = options.maxCalls ?? 1_000;
    this.#maxFrameBytes = options.maxFrameBytes ?? 4 * 1024 * 1024 + 64 * 1024;
    this.maxDataBytes = options.maxDataBytes ?? 256 * 1024;
    this.windowBytes = options.windowBytes ?? DEFAULT_CALL_WINDOW_BYTES;
    this.#sendBuffer = new SendBuffer(socket, {
      highWaterBytes: options.highWaterBytes ?? 1024 * 1024,
      clock: this.#clock,
      ...(options.drainEvents ? { drainEvents: options.drainEvents } : {}),
      ...(options.coalesceWrites ? { coalesceWrites: options.coalesceWrites } : {}),
    });
    this.#pingLimit = new PingRateLimit(options.maxPingsPerSecond ?? 20, this.#clock.now());
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => this.#onMessage(event.data));
    socket.addEventListener("close", (event) => this.#onClosed(event.code, event.reason));
    socket.addEventListener("error", () => undefined); // close follows
    const keepalive = keepaliveOptions(options.keepaliveIntervalMs, options.keepaliveTimeoutMs);
    if (keepalive) {
      this.#keepalive = new Keepalive(this.#clock, keepalive, {
        ping: (id) => void this.send(0, { case: "ping", value: { id } }),
        timeout: (silentMs) => this.#closeFor(keepaliveTimeout(silentMs)),
      });
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get activeCalls(): number {
    return this.#calls.size;
  }

  /** No new calls should start here (the peer sent GoAway). */
  get goingAway(): boolean {
    return this.#goingAway;
  }

  /** Client side: starts a call. */
  openCall(path: string, headers: Headers): MuxCall {
    if (this.#closed) throw socketClosedError(this.#closeCode, this.#closeReason);
    const id = ++this.#lastCallId;
    // The request window is the default: the server has no way to learn another (§14.3).
    const call = new MuxCall(this, id, path, headers, { receiveBytes: this.windowBytes, sendBytes: DEFAULT_CALL_WINDOW_BYTES });
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

  /**
   * Going away now (no grace, or the grace is over): GoAway, then 1001
   * without waiting for the open calls, which fail with unavailable. The
   * peer still learns from GoAway's last_call_id which calls had started.
   */
  shutdown(reason = "server shutting down"): void {
    this.goAway(reason);
    this.close(CloseCode.goingAway, reason);
  }

  /** Closes the socket; every open call fails with unavailable. */
  close(code: number = CloseCode.normal, reason = ""): void {
    if (this.#closed) return;
    try {
      this.#socket.close(code, closeFrameReason(reason));
    } catch {
      // already closing
    }
    this.#onClosed(code, reason);
  }

  /** Encodes and sends one frame; the promise settles when the socket buffer has room. */
  send(callId: number, kind: FrameKind): Promise<void> | void {
    if (this.#closed) return;
    this.#sendBuffer.beforeWrite();
    try {
      if (kind.case === "data" && kind.value.data) this.#sendData(callId, kind.value.data);
      else this.#socket.send(encodeFrame(callId, kind));
    } catch {
      return;
    }
    if (this.#sendBuffer.full) return this.#sendBuffer.drained();
  }

  /** Sends one CallData frame of a call; `headroom` free bytes before `data` let the frame be built in place. */
  sendData(callId: number, data: Uint8Array, headroom: number): Promise<void> | void {
    if (this.#closed) return;
    this.#sendBuffer.beforeWrite();
    try {
      this.#sendData(callId, data, headroom);
    } catch {
      return;
    }
    if (this.#sendBuffer.full) return this.#sendBuffer.drained();
  }

  /**
   * The header goes into the payload's headroom when it has enough (one
   * message, no copy: the reader's WebSocket need not join fragments);
   * else, with `ws`, the header and a big payload go out as two fragments
   * of one message (the payload is not copied either); else one copy.
   */
  #sendData(callId: number, data: Uint8Array, headroom = 0): void {
    if (data.byteLength > 0 && headroom > 0) {
      const header = dataFrameHeader(callId, data.byteLength);
      if (header.byteLength <= headroom) {
        const frame = new Uint8Array(data.buffer, data.byteOffset - header.byteLength, header.byteLength + data.byteLength);
        frame.set(header, 0);
        this.#socket.send(frame);
        return;
      }
    }
    if (this.#options.fragmentedSends && data.byteLength >= FRAGMENT_FROM_BYTES) {
      const fragmentable = this.#socket as unknown as { send(data: Uint8Array, options: { binary: boolean; fin: boolean }): void };
      fragmentable.send(dataFrameHeader(callId, data.byteLength), { binary: true, fin: false });
      fragmentable.send(data, { binary: true, fin: true });
      return;
    }
    this.#socket.send(encodeDataFrame(callId, data));
  }

  /** @internal */
  forget(call: MuxCall): void {
    if (this.#calls.get(call.id) === call) this.#calls.delete(call.id);
    if (this.#goingAwayLocal && !this.#closed) queueMicrotask(() => this.#closeIfIdle());
  }

  #closeIfIdle(): void {
    if (this.#goingAwayLocal && this.#calls.size === 0) this.close(CloseCode.goingAway, "server shutting down");
  }

  #closeFor(close: SocketClose): void {
    this.close(close.code, close.reason);
  }

  #onMessage(data: unknown): void {
    if (this.#closed) return;
    this.#keepalive?.inbound();
    const frame = decodeFrame(data, this.#maxFrameBytes);
    const problem = isSocketClose(frame) ? frame : this.#apply(frame);
    if (problem) this.#closeFor(problem);
  }

  /** Applies one frame; returns why the socket must close, if it must. */
  #apply(frame: WebSocketFrame): SocketClose | undefined {
    const { callId, kind } = frame;
    switch (kind.case) {
      case undefined:
        return protocolError("frame without a kind");
      case "ping":
        if (!this.#pingLimit.admit(this.#clock.now())) return pingFlood(this.#pingLimit.perSecond);
        void this.send(0, { case: "pong", value: { id: kind.value.id } });
        return undefined;
      case "pong":
        return undefined; // life, which #onMessage has noted
      case "goAway":
        // No new calls will be accepted; open ones finish. Callers open a new socket.
        this.#goingAway = true;
        return undefined;
      case "start":
        return this.#start(callId, kind.value);
      default:
        break;
    }
    if (callId === 0) return protocolError(`${kind.case} frame without a call id`);
    if (callId > this.#lastCallId) return protocolError(`unknown call id ${callId}`);
    const call = this.#calls.get(callId);
    // A frame for a call that ended here may cross our cancel or end: ignore it.
    if (!call) return undefined;
    const problem = (message: string | undefined) => (message ? protocolError(message) : undefined);
    switch (kind.case) {
      case "data":
        return problem(call.receiveData(kind.value.data));
      case "halfClose":
        if (this.role !== "server") return protocolError("half-close from the server (the response ends with CallEnd)");
        return problem(call.receiveHalfClose());
      case "head": {
        if (this.role !== "client") return protocolError("call head from the client");
        const headers = fromHeaderList(kind.value.headers);
        if (!headers) return protocolError(`invalid header on call ${callId}`);
        call.receiveHead(kind.value.status, headers);
        return undefined;
      }
      case "end": {
        if (this.role !== "client") return protocolError("call end from the client");
        const trailers = fromHeaderList(kind.value.trailers);
        if (!trailers) return protocolError(`invalid trailer on call ${callId}`);
        call.receiveEnd(trailers);
        return undefined;
      }
      case "cancel":
        call.receiveCancel(kind.value.code, kind.value.reason);
        return undefined;
      case "windowUpdate":
        return problem(call.receiveWindowUpdate(kind.value.bytes));
    }
  }

  #start(callId: number, start: CallStart): SocketClose | undefined {
    if (this.role !== "server") return protocolError("call start from the server");
    if (callId <= this.#lastCallId) return protocolError(`call id ${callId} reused or out of order (last ${this.#lastCallId})`);
    this.#lastCallId = callId;
    const headers = fromHeaderList(start.headers);
    if (!headers) return protocolError(`invalid header on call ${callId}`);
    if (this.#goingAwayLocal) {
      void this.send(callId, { case: "cancel", value: { code: Code.Unavailable, reason: "the server is going away: retry elsewhere" } });
      return undefined;
    }
    if (this.#calls.size >= this.#maxCalls) {
      // Refuse the call, keep the socket: the client may retry later.
      void this.send(callId, { case: "cancel", value: { code: Code.ResourceExhausted, reason: `too many concurrent calls on this socket (limit ${this.#maxCalls})` } });
      return undefined;
    }
    // The request window is the default (§14.3); the response window is what the start asks, within limits.
    const call = new MuxCall(this, callId, start.path, headers, { receiveBytes: DEFAULT_CALL_WINDOW_BYTES, sendBytes: grantedResponseWindow(start.windowBytes) });
    this.#calls.set(callId, call);
    this.#options.onCall?.(call);
    return undefined;
  }

  #onClosed(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeCode = code;
    this.#closeReason = reason;
    this.#keepalive?.stop();
    this.#sendBuffer.close();
    const error = socketClosedError(code, reason);
    for (const call of [...this.#calls.values()]) call.fail(error);
    this.#calls.clear();
    this.#options.onClose?.(code, reason);
  }
}
