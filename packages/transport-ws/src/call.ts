/**
 * One call on a socket (PROTOCOL.md §14.2), seen from either side: its body
 * in both directions within its windows, its head and trailers, its end or
 * cancellation, and the per-call rules a peer can break.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { Queue } from "@sluice/core";
import { ReceiveWindow, SendWindow } from "./call-window.js";
import { toHeaderList, type FrameKind } from "./frames.js";

/** What a call needs of the connection it runs on. */
export interface CallOwner {
  /** Largest data payload per frame. */
  readonly maxDataBytes: number;
  /** Sends one frame of this call; the promise settles when the socket buffer has room. */
  send(callId: number, kind: FrameKind): Promise<void> | void;
  /** Sends one CallData frame; `headroom` free bytes before `data` let it be built in place. */
  sendData(callId: number, data: Uint8Array, headroom: number): Promise<void> | void;
  /** The call is over: no more frames for it are expected. */
  forget(call: MuxCall): void;
}

/** A response head: what CallHead carries (PROTOCOL.md §14.2). */
export interface CallHeadInfo {
  /** The HTTP status the call answered with. */
  readonly status: number;
  /** The response headers. */
  readonly headers: Headers;
}

type Waiter = () => void;

/**
 * Where a call's body goes when it is read by push instead of by
 * `body()`: each piece as it arrives, then the end or the failure.
 */
export interface CallBodySink {
  /** The next piece of the body, as it arrived. */
  data(piece: Uint8Array): void;
  /** The body is complete. */
  end(): void;
  /** The call failed or was cancelled; no more pieces come. */
  fail(error: ConnectError): void;
}

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

  readonly #owner: CallOwner;
  readonly #abort = new AbortController();
  #resolveHead!: (head: CallHeadInfo) => void;
  #rejectHead!: (error: unknown) => void;
  // Receive side.
  readonly #inbound = new Queue<Uint8Array>();
  #inboundDone = false;
  #inboundError: ConnectError | undefined;
  #inboundWaiter: Waiter | undefined;
  #sink: CallBodySink | undefined;
  readonly #receiveWindow: ReceiveWindow;
  // Send side.
  readonly #sendWindow: SendWindow;
  #sendWaiter: Waiter | undefined;
  #halfClosed = false;
  #ended = false;

  constructor(owner: CallOwner, id: number, path: string, headers: Headers, windows: { readonly receiveBytes: number; readonly sendBytes: number }) {
    this.#owner = owner;
    this.id = id;
    this.path = path;
    this.requestHeaders = headers;
    this.#receiveWindow = new ReceiveWindow(windows.receiveBytes);
    this.#sendWindow = new SendWindow(windows.sendBytes);
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
      const chunk = this.#inbound.shift();
      if (chunk !== undefined) {
        this.#processed(chunk.byteLength);
        yield chunk;
        continue;
      }
      if (this.#inboundError) throw this.#inboundError;
      if (this.#inboundDone) return;
      await new Promise<void>((resolve) => (this.#inboundWaiter = resolve));
    }
  }

  /**
   * Reads the body by push: every piece goes to `sink` as it arrives (and
   * its window back to the peer at once), then the end or the failure. For
   * a reader whose own flow control bounds what the peer sends (a Sluice
   * session's credit), this saves an async hand-off per piece. Instead of
   * `body()`, not beside it.
   */
  deliverTo(sink: CallBodySink): void {
    this.#sink = sink;
    for (let piece = this.#inbound.shift(); piece !== undefined; piece = this.#inbound.shift()) this.#deliver(piece);
    if (this.#inboundError) sink.fail(this.#inboundError);
    else if (this.#inboundDone) sink.end();
  }

  /**
   * Sends body bytes within the peer's window; resolves when they are on the
   * socket's buffer. `headroom`: how many bytes before `data` in its buffer
   * are the caller's and free to overwrite (at most
   * DATA_FRAME_HEADROOM_BYTES are used): the frame is then built around the
   * payload in place, one WebSocket message without a copy.
   */
  async write(data: Uint8Array, headroom = 0): Promise<void> {
    let offset = 0;
    while (offset < data.byteLength) {
      if (!this.open || this.#halfClosed) throw this.#inboundError ?? new ConnectError("call is closed", Code.Canceled);
      const n = this.#sendWindow.take(Math.min(data.byteLength - offset, this.#owner.maxDataBytes));
      if (n === 0) {
        await new Promise<void>((resolve) => (this.#sendWaiter = resolve));
        continue;
      }
      const piece = offset === 0 && n === data.byteLength ? data : data.subarray(offset, offset + n);
      // Only the first piece has free bytes before it: the others follow bytes already queued.
      const room = offset === 0 ? headroom : 0;
      offset += n;
      await this.#owner.sendData(this.id, piece, room);
    }
  }

  /** The request body is complete (client side). */
  halfClose(): void {
    if (!this.open || this.#halfClosed) return;
    this.#halfClosed = true;
    void this.#owner.send(this.id, { case: "halfClose", value: {} });
  }

  /** Sends the response head (server side). */
  sendHead(status: number, headers: Headers): void {
    if (!this.open) return;
    void this.#owner.send(this.id, { case: "head", value: { status, headers: toHeaderList(headers) } });
  }

  /** Ends the response with trailers (server side). */
  end(trailers: Headers): void {
    if (!this.open) return;
    this.#ended = true;
    void this.#owner.send(this.id, { case: "end", value: { trailers: toHeaderList(trailers) } });
    this.#owner.forget(this);
  }

  /** Abandons the call and tells the peer (RST_STREAM). */
  cancel(code: Code, reason: string): void {
    if (!this.open) return;
    void this.#owner.send(this.id, { case: "cancel", value: { code, reason } });
    this.fail(new ConnectError(reason, code));
  }

  // ---- driven by MuxConnection -------------------------------------------------

  /** @internal */
  fail(error: ConnectError): void {
    if (this.signal.aborted && this.#inboundError) return;
    this.#ended = true;
    const first = !this.#inboundError && !this.#inboundDone;
    this.#inboundError ??= error;
    this.#rejectHead(error);
    if (first) this.#sink?.fail(error);
    this.#wakeInbound();
    this.#wakeSender();
    this.#abort.abort(error);
    this.#owner.forget(this);
  }

  /** @internal Returns an error message when the peer broke a rule. */
  receiveData(data: Uint8Array): string | undefined {
    if (this.#inboundDone) return `data after half-close on call ${this.id}`;
    if (!this.#receiveWindow.consume(data.byteLength)) return `window overrun on call ${this.id}: ${data.byteLength} bytes with ${this.#receiveWindow.available} left`;
    if (this.signal.aborted) return undefined; // cancelled locally: drop it
    if (this.#sink) {
      this.#deliver(data);
      return undefined;
    }
    this.#inbound.push(data);
    this.#wakeInbound();
    return undefined;
  }

  /** @internal */
  receiveHalfClose(): string | undefined {
    if (this.#inboundDone) return `second half-close on call ${this.id}`;
    this.#inboundDone = true;
    this.#sink?.end();
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
    this.#sink?.end();
    this.#wakeInbound();
    this.#wakeSender();
    this.#owner.forget(this);
  }

  /** @internal The peer's cancel: `code` is a Connect code number (an unknown one reads as unknown). */
  receiveCancel(code: number, reason: string): void {
    const known = code in Code && code !== 0 ? (code as Code) : Code.Unknown;
    this.fail(new ConnectError(reason || "cancelled by the peer", known));
  }

  /** @internal */
  receiveWindowUpdate(bytes: number): string | undefined {
    if (!this.#sendWindow.open(bytes)) return `window overflow on call ${this.id}`;
    this.#wakeSender();
    return undefined;
  }

  #deliver(piece: Uint8Array): void {
    this.#processed(piece.byteLength);
    this.#sink!.data(piece);
  }

  #processed(bytes: number): void {
    // A call that is over sends nothing more, window updates included.
    if (!this.open) return;
    const increment = this.#receiveWindow.process(bytes);
    if (increment > 0) void this.#owner.send(this.id, { case: "windowUpdate", value: { bytes: increment } });
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
