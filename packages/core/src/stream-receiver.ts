/**
 * The receiving side of one subscription (the client's half), across all
 * the sessions (connections) it takes, sans-IO.
 *
 * It keeps what must survive a reconnect: the last seq delivered to the app,
 * the last acked seq and the cursor that goes with it. Each `connect()` starts
 * a session: an Open (with a resume position after the first), then the
 * server's frames go to `handleFrame`. The app pulls with `read()`, which is
 * what grants credit (pull-based flow control); `ack()` follows processing.
 *
 * Guarantee (PROTOCOL.md §7): the app sees every seq once and in order; items
 * lost by the server's policy arrive as explicit gap deliveries.
 */
import { createStreamCounters, type StreamCounters } from "./counters.js";
import { ReceiveWindow } from "./credit-window.js";
import { SluiceError } from "./errors.js";
import { EMPTY_BYTES, type ChunkFrame, type ClientFrame, type EndFrame, type Gap, type JsonObject, type OpenedFrame, type ResumePosition, type ServerFrame, type Window } from "./frames.js";
import { FragmentReassembler } from "./fragment-reassembler.js";
import { DEFAULT_HEARTBEAT, HeartbeatTracker, type HeartbeatOptions } from "./heartbeat-tracker.js";
import { checkItemSize, DEFAULT_WINDOW, heartbeatProblem, windowProblem } from "./limits.js";
import { Queue } from "./queue.js";
import { receiverTransition, type ReceiverState } from "./state.js";
import { Timer, TimerTable } from "./timers.js";

/** What a {@link StreamReceiver} subscribes to, and how it paces acks, credit and heartbeats. */
export interface StreamReceiverOptions {
  /** Name of the stream on the server (Open.stream). */
  readonly stream: string;
  /** The stream's parameters (Open.params; default none). */
  readonly params?: JsonObject;
  /** The window to ask for; absent: the stream's default, which Opened announces. */
  readonly window?: Window | undefined;
  /** Heartbeat interval to ask the server for; 0 lets it choose. */
  readonly heartbeatIntervalMs?: number;
  /** Used until Opened announces the session's values (covers a lost Opened). */
  readonly heartbeat?: HeartbeatOptions;
  /** Local cap on reassembled items; the server's limit applies too. */
  readonly maxItemBytes?: number;
  /** Free-form client identification sent in Open, for the server's logs. */
  readonly clientInfo?: string;
  /** Send an Ack once this many processed items are unacked (default window/4). */
  readonly ackEveryItems?: number;
  /** ... or once the oldest unacked item is this old. */
  readonly ackDelayMs?: number;
  /** Send a Credit once the grant can grow by this fraction of the window (default 0.5, PROTOCOL.md §4.5). */
  readonly grantThreshold?: number;
  /** What errors call the other side (default "server"; the server's ingest receives from a "publisher"). */
  readonly peer?: string;
  /**
   * Start after this position instead of wherever the stream is: the first
   * Open resumes at `seq` (with the source's `cursor` for it, if the app has
   * one), as a reconnect would (PROTOCOL.md §7.6). Items up to `seq` are
   * taken as already processed.
   */
  readonly startAfter?: {
    /** The last seq taken as processed; the first Open resumes after it. */
    readonly seq: number;
    /** The source's cursor at or before `seq`, if the app kept one. */
    readonly cursor?: Uint8Array;
    /** The seq `cursor` belongs to (default `seq`). */
    readonly cursorSeq?: number;
  };
}

/**
 * An item delivery. A class, not an object literal: V8 pretenures the
 * objects of a literal's allocation site once most of them survive a
 * scavenge (a window's worth of items queued in a burst), and from then on
 * every item of that site was born in the old generation, so a client that
 * had once been behind ran mark-compacts every second at half its maximum
 * rate (BENCHMARKS.md, "Latency under load"). Instances of a class are not
 * tracked that way.
 */
class ItemDelivery {
  readonly kind = "item" as const;
  constructor(
    readonly seq: number,
    readonly data: Uint8Array,
    readonly subject: string | undefined,
  ) {}
}

/** What {@link StreamReceiver.read} hands the app, in seq order; told apart by `kind`. */
export type Delivery =
  /** The next item. */
  | {
      /** Tells the deliveries apart. */
      readonly kind: "item";
      /** The item's position in the stream. */
      readonly seq: number;
      /** The item's payload. */
      readonly data: Uint8Array;
      /** The subject it was published to, on a filtered stream (a subject pattern, PROTOCOL.md §7.10); undefined otherwise. */
      readonly subject?: string | undefined;
    }
  /** Seqs the server skipped; they will never come. */
  | {
      /** Tells the deliveries apart. */
      readonly kind: "gap";
      /** Which seqs, and why. */
      readonly gap: Gap;
    }
  /** The stream is complete (or cancelled); the last delivery. */
  | {
      /** Tells the deliveries apart. */
      readonly kind: "end";
      /** The server's End frame. */
      readonly end: EndFrame;
    }
  /** The stream failed for good; the last delivery. */
  | {
      /** Tells the deliveries apart. */
      readonly kind: "error";
      /** Why it failed. */
      readonly error: SluiceError;
    };

/** What the receiver tells its driver, drained with pollEvent(); told apart by `type`. */
export type ReceiverEvent =
  /** A session opened (or resumed): the server's Opened frame. */
  | {
      /** Tells the events apart. */
      readonly type: "opened";
      /** The Opened frame as received. */
      readonly opened: OpenedFrame;
    }
  /** A pong answered the oldest unanswered ping: a new RTT sample. */
  | {
      /** Tells the events apart. */
      readonly type: "rtt";
      /** The round-trip time measured, in milliseconds. */
      readonly rttMs: number;
    }
  /** The session broke but may be resumed: wait (backoff, retryAfterMs) and connect() again. */
  | {
      /** Tells the events apart. */
      readonly type: "session_lost";
      /** Why the session was lost (retryable). */
      readonly error: SluiceError;
    }
  /** Nothing more will come: the last delivery (end or error) is queued; `error` when it is an error. */
  | {
      /** Tells the events apart. */
      readonly type: "finished";
      /** The terminal error; absent after End or a cancel. */
      readonly error?: SluiceError;
    };

/**
 * The receiving side of one subscription as a sans-IO state machine, across all
 * its sessions: feed it server frames and the time, read deliveries, drain
 * frames, events and deadlines. The driver's Subscription runs it.
 */
export class StreamReceiver {
  /** The options it was created with. */
  readonly options: StreamReceiverOptions;
  /** What this subscription did, across its sessions, for metrics. */
  readonly counters: StreamCounters = createStreamCounters();
  #state: ReceiverState = "idle";
  #session: ReceiveWindow | undefined;
  #sessionId = "";
  #heartbeat: HeartbeatTracker | undefined;
  #reassembler: FragmentReassembler;
  /** App-level positions, kept across sessions. */
  #deliveredSeq = 0;
  #ackedSeq = 0;
  #ackSentSeq = 0;
  /** How long an ack may wait (§7.2): the option, or this session's transport's (paceAcks). */
  #ackDelayMs = 50;
  /** (seq, cursor) of received chunks, oldest first; the newest at or below the ack is the resume cursor. */
  #checkpoints = new Queue<{ seq: number; cursor: Uint8Array }>();
  #resumeCursor: { seq: number; cursor: Uint8Array } = { seq: 0, cursor: EMPTY_BYTES };
  /** Deliveries waiting for the app. */
  #queue = new Queue<Delivery>();
  readonly #transmit = new Queue<ClientFrame>();
  readonly #events = new Queue<ReceiverEvent>();
  /**
   * Heartbeat and ack deadlines. They run only while a session is open
   * (opening, streaming, cancelling): idle and closed have nothing due, and
   * an ack the app makes between sessions goes with the next one.
   */
  readonly #timers = new TimerTable();
  #finished = false;
  /** Some session of this stream got Opened: later sessions resume from its baseline. */
  #everOpened = false;

  constructor(options: StreamReceiverOptions) {
    this.options = options;
    this.#reassembler = new FragmentReassembler(options.maxItemBytes ?? Number.MAX_SAFE_INTEGER);
    const start = options.startAfter;
    if (start) {
      if (!Number.isSafeInteger(start.seq) || start.seq < 0) throw new RangeError(`startAfter.seq must be a non-negative safe integer, got ${start.seq}`);
      // As if a session had delivered and acked up to there: the first Open is a resume.
      this.#everOpened = true;
      this.#ackedSeq = start.seq;
      this.#deliveredSeq = start.seq;
      this.#resumeCursor = { seq: start.cursor && start.cursor.byteLength > 0 ? (start.cursorSeq ?? start.seq) : 0, cursor: start.cursor ?? EMPTY_BYTES };
    }
  }

  /** Where the current session is in the receiver state machine (PROTOCOL.md §11.2). */
  get state(): ReceiverState {
    return this.#state;
  }

  /** Last seq delivered to the app (items and gaps). */
  get deliveredSeq(): number {
    return this.#deliveredSeq;
  }

  /** Last seq the app processed (acked), across sessions: where a resume continues. */
  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  /** The current (or last) session's id; "" before the first Opened. */
  get sessionId(): string {
    return this.#sessionId;
  }

  /** The latest round-trip time measured by heartbeats, once one was. */
  get rttMs(): number | undefined {
    return this.#heartbeat?.rttMs;
  }

  /** Deliveries waiting for the app. */
  get buffered(): number {
    return this.#queue.length;
  }

  /** Payload received and not yet consumed in this session. */
  get bufferedBytes(): number {
    // A fragmented item counts whole from its first fragment (its buffer is allocated whole).
    return this.#session?.bufferedBytes ?? 0;
  }

  /** The window in force for the current session (Opened.window, or the requested one clamped); undefined before Opened. */
  get window(): Window | undefined {
    return this.#session?.window;
  }

  /** The server has used all the credit granted in this session (the app is the bottleneck). */
  get windowFull(): boolean {
    return this.#state === "streaming" && (this.#session?.exhausted ?? false);
  }

  /** True once end or a terminal error is queued (or delivered). */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Where a new session resumes: after the last acked seq. Undefined until a
   * session has been opened: before its Opened the client has no baseline
   * (a live topic starts at its head), so a session that died before Opened
   * is followed by a fresh Open, not a resume at seq 0 (PROTOCOL.md §7.6).
   */
  get resumePosition(): ResumePosition | undefined {
    if (!this.#everOpened) return undefined;
    return { seq: this.#ackedSeq, cursor: this.#resumeCursor.cursor, cursorSeq: this.#resumeCursor.seq, sessionId: this.#sessionId };
  }

  // ---- inputs ----------------------------------------------------------------

  /**
   * This session's transport pays per client frame (half duplex: a request
   * per batch), so acks may wait `ackDelayMs` when that is longer than the
   * receiver's own delay. Acks move the resume position only: a later ack
   * means more resent on a resume, never a loss. Until the next connect().
   */
  paceAcks(ackDelayMs: number): void {
    this.#ackDelayMs = Math.max(this.options.ackDelayMs ?? 50, ackDelayMs);
  }

  /** Starts a session: queues Open (resuming after the first session). */
  connect(now: number): void {
    if (this.#finished) throw new Error("connect() after the stream finished");
    if (this.#state !== "idle") throw new Error(`connect() while ${this.#state}`);
    const resume = this.resumePosition;
    if (resume) this.counters.resumes++;
    this.#state = "opening";
    this.#session = undefined;
    this.#ackDelayMs = this.options.ackDelayMs ?? 50;
    this.#reassembler.reset();
    this.#heartbeat = new HeartbeatTracker(this.options.heartbeat ?? DEFAULT_HEARTBEAT, now);
    this.#armHeartbeat();
    this.#transmit.clear();
    this.#transmit.push({
      type: "open",
      stream: this.options.stream,
      params: this.options.params ?? {},
      window: this.options.window,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 0,
      resume,
      clientInfo: this.options.clientInfo ?? "",
    });
  }

  /** The transport failed (socket closed, stream reset): the session is lost. */
  connectionLost(error: SluiceError, _now: number): void {
    if (this.#state === "opening" || this.#state === "streaming") this.#loseSession(error);
    else if (this.#state === "cancelling") this.#finish({ kind: "end", end: { type: "end", lastSeq: this.#deliveredSeq, cursor: EMPTY_BYTES, sessionItems: 0, sessionBytes: 0 } });
  }

  /**
   * Applies a frame from the server. A frame that breaks a rule loses the
   * session (retryable) or fails the stream, as events and deliveries, instead
   * of throwing.
   */
  handleFrame(frame: ServerFrame, now: number): void {
    const heartbeat = this.#heartbeat;
    if (heartbeat) {
      heartbeat.onInbound(now);
      if (this.#inSession) this.#timers.set(Timer.heartbeatTimeout, heartbeat.timeoutAt);
    }
    const transition = receiverTransition(this.#state, frame);
    if (transition.kind === "ignore") return;
    if (transition.kind === "violation") {
      // Data before Opened can only mean a lost or reordered Opened: resume.
      // Anything else out of place is a broken server.
      const error = new SluiceError("protocol_violation", transition.message, { blame: "remote", retryable: this.#state === "opening" && (frame.type === "chunk" || frame.type === "end") });
      if (error.retryable) this.#loseSession(error);
      else this.#fail(error);
      return;
    }
    try {
      this.#apply(frame, now);
    } catch (error) {
      if (!(error instanceof SluiceError)) throw error;
      if (error.retryable) this.#loseSession(error);
      else this.#fail(error);
    }
  }

  /**
   * Takes the next delivery for the app, or undefined if none is buffered.
   * Taking an item consumes it: this is what grants credit.
   */
  read(now: number): Delivery | undefined {
    const next = this.#queue.shift();
    if (next) {
      switch (next.kind) {
        case "item": {
          this.#grant(this.#session?.consume(next.seq, next.data.byteLength));
          this.#deliveredSeq = next.seq;
          return next;
        }
        case "gap": {
          const last = next.gap.fromSeq + next.gap.count - 1;
          this.#grant(this.#session?.skip(last));
          this.#deliveredSeq = last;
          // Nothing to process in a gap: it counts as acked at once.
          this.#ackUpTo(last, now);
          return next;
        }
        default:
          return next;
      }
    }
    return undefined;
  }

  /** The app processed everything up to `seq` (cumulative). */
  ack(seq: number, now: number): void {
    if (seq > this.#deliveredSeq) throw new RangeError(`ack(${seq}) beyond the last delivered seq ${this.#deliveredSeq}`);
    this.#ackUpTo(seq, now);
  }

  /** The app no longer wants the stream. */
  cancel(reason: string, _now: number): void {
    this.#queue.clear();
    if (this.#state === "streaming" || this.#state === "opening") {
      this.#transmit.push({ type: "cancel", reason });
      this.#state = "cancelling";
    } else if (!this.#finished) {
      this.#state = "closed";
      this.#finished = true;
      this.#timers.stopAll();
      this.#events.push({ type: "finished" });
    }
  }

  /** Handles every timer due at `now`, in Timer order (a lost session stops the rest). */
  handleTimeout(now: number): void {
    for (const timer of this.#timers.expired(now)) {
      switch (timer) {
        case Timer.heartbeatTimeout:
        case Timer.ping: {
          // One poll for both: the tracker decides, and a timeout wins over a ping.
          const heartbeat = this.#heartbeat!;
          const beat = heartbeat.poll(now);
          if (beat?.kind === "timeout") {
            this.#loseSession(new SluiceError("heartbeat_timeout", `${this.options.peer ?? "server"} silent for ${Math.round(beat.silentMs)} ms (timeout ${heartbeat.options.timeoutMs} ms)`));
            return;
          }
          // No pings before Opened: the first frame of a session must be Open, and
          // a missing Opened is caught by the timeout alone.
          if (beat?.kind === "ping" && this.#state !== "opening") this.#ping(beat.id, 0);
          this.#armHeartbeat();
          break;
        }
        case Timer.ack:
          this.#flushAck();
          break;
      }
    }
  }

  // ---- outputs ---------------------------------------------------------------

  /** Whether pollTransmit() has a frame (lets a driver skip a wake-up). */
  get hasTransmit(): boolean {
    return this.#transmit.length > 0;
  }

  /** The next frame to send, if any. */
  pollTransmit(): ClientFrame | undefined {
    return this.#transmit.shift();
  }

  /** Whether pollEvent() has an event. */
  get hasEvent(): boolean {
    return this.#events.length > 0;
  }

  /** The next event for the driver, if any. */
  pollEvent(): ReceiverEvent | undefined {
    return this.#events.shift();
  }

  /** The earliest time handleTimeout has work, if any (the driver asks after every input). */
  pollTimeout(): number | undefined {
    return this.#timers.nextTimeout();
  }

  // ---- internals -------------------------------------------------------------

  #apply(frame: ServerFrame, now: number): void {
    switch (frame.type) {
      case "opened":
        if (this.#state === "streaming") {
          // A resent Opened of this session is harmless; another session's is not.
          if (frame.sessionId === this.#sessionId) return;
          throw new SluiceError("protocol_violation", `second Opened (session ${frame.sessionId}) on session ${this.#sessionId}`, { blame: "remote" });
        }
        return this.#onOpened(frame);
      case "chunk":
        if (this.#state === "streaming") {
          this.#onChunk(frame);
          this.#grantForResent();
          // Acks held back until the resent items arrived may go now.
          if (this.#ackedSeq > this.#ackSentSeq && this.#timers.get(Timer.ack) === undefined) this.#timers.set(Timer.ack, now);
        }
        return;
      case "heartbeat":
        this.counters.heartbeatsReceived++;
        if (frame.sentSeq !== undefined && frame.sentSeq > 0 && this.#state === "streaming") {
          // The sender's items up to sentSeq went out before this heartbeat, on an ordered transport: one that did not arrive was lost (§6.1).
          const partial = this.#reassembler.seq;
          const complete = partial !== 0 ? partial - 1 : this.#session!.receivedSeq;
          if (frame.sentSeq > complete) throw new SluiceError("protocol_violation", `heartbeat says seq ${frame.sentSeq} was sent, but only ${complete} arrived: a frame was lost`, { blame: "remote", retryable: true });
        }
        // The pong first: it answers our outstanding ping, so a ping riding on our pong below is the next one timed.
        if (frame.pong !== 0) {
          const rttMs = this.#heartbeat?.onPong(frame.pong, now, (frame.pongDelayUs ?? 0) / 1000);
          if (rttMs !== undefined) this.#events.push({ type: "rtt", rttMs });
        }
        if (frame.ping !== 0) {
          // Our own ping rides on the pong when one is about due (§6): one round trip carries both.
          const ping = this.#state !== "opening" ? this.#heartbeat?.onPeerPing(now) : undefined;
          if (ping === undefined) this.#transmit.push({ type: "heartbeat", ping: 0, pong: frame.ping });
          else {
            this.#ping(ping, frame.ping);
            this.#armHeartbeat();
          }
        }
        // The sender holds an item for byte credit: grant once drained (§4.5 rule 2).
        if (frame.heldBytes !== undefined && frame.heldBytes > 0 && this.#state === "streaming") this.#grant(this.#session!.senderHolds());
        return;
      case "end":
        if (this.#state === "streaming") {
          const partial = this.#reassembler.seq;
          const complete = partial !== 0 ? partial - 1 : this.#session!.receivedSeq;
          if (frame.lastSeq > complete) {
            throw new SluiceError("protocol_violation", `end says last seq ${frame.lastSeq} but only ${complete} arrived whole`, { blame: "remote", retryable: true });
          }
          if (frame.lastSeq < complete) {
            throw new SluiceError("protocol_violation", `end says last seq ${frame.lastSeq} but seq ${complete} arrived`, { blame: "remote" });
          }
        }
        this.#finish({ kind: "end", end: frame });
        return;
      case "error": {
        const error = SluiceError.fromFrame(frame);
        if (error.retryable && this.#state !== "cancelling") this.#loseSession(error);
        else this.#finish({ kind: "error", error });
        return;
      }
    }
  }

  /**
   * The window in force (PROTOCOL.md §4.1): Opened.window when the server
   * sent one (it may not exceed what we asked for, nor its own limits);
   * otherwise our request clamped to the limits, as before Opened.window.
   */
  #grantedWindow(opened: OpenedFrame): Window {
    const { limits } = opened;
    const asked = this.options.window;
    const granted = opened.window;
    const violation = (message: string) => new SluiceError("protocol_violation", message, { blame: "remote", field: "opened.window" });
    if (!granted) {
      if (!asked) throw violation("opened.window: required when Open names no window");
      return { items: Math.min(asked.items, limits.maxWindowItems), bytes: Math.min(asked.bytes, limits.maxWindowBytes) };
    }
    const empty = windowProblem(granted);
    if (empty) throw violation(`opened.window.${empty.field}: ${empty.reason}`);
    if (granted.items > limits.maxWindowItems || granted.bytes > limits.maxWindowBytes) {
      throw violation(`opened.window ${granted.items} items / ${granted.bytes} bytes exceeds the announced limits ${limits.maxWindowItems} / ${limits.maxWindowBytes}`);
    }
    if (asked && (granted.items > asked.items || granted.bytes > asked.bytes)) {
      throw violation(`opened.window ${granted.items} items / ${granted.bytes} bytes exceeds the requested ${asked.items} / ${asked.bytes}`);
    }
    return granted;
  }

  #onOpened(opened: OpenedFrame): void {
    const { limits } = opened;
    const heartbeat = heartbeatProblem(limits.heartbeatIntervalMs, limits.heartbeatTimeoutMs);
    if (heartbeat) throw new SluiceError("protocol_violation", `opened.limits: ${heartbeat}`, { blame: "remote", field: "opened.limits" });
    const window = this.#grantedWindow(opened);
    const resumed = this.#everOpened;
    this.#everOpened = true;
    if (resumed) {
      // Items after our ack may be resent (we filter them); items after what we
      // delivered may only be skipped with an explained gap.
      const gap = opened.resume?.gap;
      if (gap && gap.fromSeq > this.#ackedSeq + 1) {
        throw new SluiceError("protocol_violation", `resume gap starts at seq ${gap.fromSeq}, after ack ${this.#ackedSeq} + 1: seqs in between would vanish`, { blame: "remote" });
      }
      const explained = gap ? gap.fromSeq + gap.count : this.#ackedSeq + 1;
      if (opened.nextSeq > Math.max(explained, this.#ackedSeq + 1)) {
        throw new SluiceError("protocol_violation", `resumed at seq ${opened.nextSeq} after ack ${this.#ackedSeq} without a gap`, { blame: "remote" });
      }
      if (gap && gap.fromSeq + gap.count - 1 > this.#deliveredSeq) {
        const from = Math.max(gap.fromSeq, this.#deliveredSeq + 1);
        this.#enqueue({ kind: "gap", gap: { fromSeq: from, count: gap.fromSeq + gap.count - from, reason: gap.reason } });
        this.counters.gaps++;
      }
    } else {
      // A fresh subscription starts wherever the stream is (a live topic's head).
      this.#deliveredSeq = opened.nextSeq - 1;
      this.#ackedSeq = opened.nextSeq - 1;
      // Nothing before next_seq is this session's to ack: the first ack waits for an item (ack pacing, §7.2).
      this.#ackSentSeq = opened.nextSeq - 1;
    }
    if (opened.cursor && opened.cursor.byteLength > 0) this.#checkpointBeforeSession(opened.nextSeq - 1, opened.cursor);
    this.#session = new ReceiveWindow({ window, firstSeq: opened.nextSeq, grantThreshold: this.options.grantThreshold, senderSignalsHeld: opened.signalsHeld === true });
    this.#sessionId = opened.sessionId;
    const local = this.options.maxItemBytes ?? Number.MAX_SAFE_INTEGER;
    this.#reassembler = new FragmentReassembler(Math.min(local, limits.maxItemBytes));
    this.#heartbeat = new HeartbeatTracker({ intervalMs: limits.heartbeatIntervalMs, timeoutMs: limits.heartbeatTimeoutMs }, this.#heartbeat?.lastInbound ?? 0, true);
    this.#state = "streaming";
    this.#armHeartbeat();
    this.#events.push({ type: "opened", opened });
  }

  /**
   * Opened's cursor is the checkpoint at next_seq − 1 (PROTOCOL.md §7.3):
   * at or below the processed position it is the resume cursor at once;
   * above it (a resume that skipped a gap) it waits like a chunk's, and
   * replaces any checkpoint at or beyond it (the skipped seqs' positions
   * no longer apply).
   */
  #checkpointBeforeSession(seq: number, cursor: Uint8Array): void {
    if (seq <= this.#ackedSeq) {
      if (seq >= this.#resumeCursor.seq) this.#resumeCursor = { seq, cursor };
      return;
    }
    const kept = new Queue<{ seq: number; cursor: Uint8Array }>();
    for (const checkpoint of this.#checkpoints) if (checkpoint.seq < seq) kept.push(checkpoint);
    kept.push({ seq, cursor });
    this.#checkpoints = kept;
  }

  #onChunk(chunk: ChunkFrame): void {
    const session = this.#session!;
    this.counters.chunksReceived++;
    const fragment = chunk.fragment;
    if (!fragment && chunk.items.length === 0 && !chunk.gap) {
      throw new SluiceError("protocol_violation", `chunk at seq ${chunk.firstSeq} carries no item, fragment or gap`, { blame: "remote" });
    }
    if (fragment && chunk.firstSeq === this.#reassembler.seq) {
      this.#addFragment(chunk.firstSeq, chunk);
      return;
    }
    const itemCount = fragment ? 1 : chunk.items.length;
    const partialSeq = this.#reassembler.seq;
    if (partialSeq !== 0) {
      // An item is half reassembled: only its next fragment may follow.
      if (chunk.firstSeq + itemCount - 1 < partialSeq) {
        this.counters.duplicatesIgnored++;
        return;
      }
      throw new SluiceError("protocol_violation", `chunk at seq ${chunk.firstSeq} interrupts the fragments of item ${partialSeq}`, { blame: "remote", retryable: true });
    }
    const gap = chunk.gap;
    if (gap && gap.fromSeq + gap.count !== chunk.firstSeq) {
      throw new SluiceError("protocol_violation", `gap ${gap.fromSeq}+${gap.count} does not end right before chunk seq ${chunk.firstSeq}`, { blame: "remote" });
    }
    const start = gap ? gap.fromSeq : chunk.firstSeq;
    const lastSeq = chunk.firstSeq + itemCount - 1;
    const expected = session.receivedSeq + 1;
    if (start > expected) {
      // Only a lost frame explains this on a reliable transport: resume.
      throw new SluiceError("protocol_violation", `chunk starts at seq ${start}, expected ${expected}`, { blame: "remote", retryable: true });
    }
    if (Math.max(lastSeq, chunk.firstSeq - 1) < expected) {
      this.counters.duplicatesIgnored++;
      return;
    }
    if (gap && chunk.firstSeq > expected) {
      const from = Math.max(gap.fromSeq, expected);
      session.receiveGap(chunk.firstSeq - 1);
      this.counters.gaps++;
      this.counters.itemsSkippedByGaps += chunk.firstSeq - from;
      this.#enqueue({ kind: "gap", gap: { fromSeq: from, count: chunk.firstSeq - from, reason: gap.reason } });
    }
    if (fragment) {
      this.#addFragment(chunk.firstSeq, chunk);
      return;
    }
    const items = chunk.items;
    const subjects = chunk.subjects;
    for (let i = 0; i < items.length; i++) {
      const seq = chunk.firstSeq + i;
      if (seq < expected) continue;
      const data = items[i]!;
      checkItemSize(seq, data.byteLength, this.#reassembler.maxItemBytes, "remote");
      session.beginItem(seq, data.byteLength);
      this.counters.itemsReceived++;
      this.counters.bytesReceived += data.byteLength;
      this.#enqueueItem(seq, data, subjects?.[i]);
    }
    if (chunk.cursor.byteLength > 0 && lastSeq >= expected) this.#checkpoints.push({ seq: lastSeq, cursor: chunk.cursor });
  }

  #addFragment(seq: number, chunk: ChunkFrame): void {
    const result = this.#reassembler.add(seq, chunk.fragment!, this.#beginItem);
    if (result.kind === "duplicate") {
      this.counters.duplicatesIgnored++;
      return;
    }
    if (result.kind === "complete") {
      this.counters.itemsReceived++;
      this.counters.bytesReceived += result.data.byteLength;
      this.#enqueueItem(seq, result.data, chunk.subjects?.[0]);
      if (chunk.cursor.byteLength > 0) this.#checkpoints.push({ seq, cursor: chunk.cursor });
    }
  }

  #enqueueItem(seq: number, data: Uint8Array, subject: string | undefined): void {
    if (seq <= this.#deliveredSeq) {
      // Resent after a resume from the ack: the app has it already. Its
      // credit is granted once for the whole chunk, not per item (§4.5).
      this.#session!.consume(seq, data.byteLength, false);
      this.#resentInChunk = true;
      this.counters.duplicatesIgnored++;
      return;
    }
    this.#queue.push(new ItemDelivery(seq, data, subject));
  }

  /** A chunk consumed resent items on arrival: one grant check for all of them. */
  #resentInChunk = false;

  /** Credit for an item whose first fragment arrived, checked before its buffer is allocated (§5.3). */
  readonly #beginItem = (seq: number, totalBytes: number): void => this.#session!.beginItem(seq, totalBytes);

  #grantForResent(): void {
    if (!this.#resentInChunk) return;
    this.#resentInChunk = false;
    this.#grant(this.#session?.grantIfDue());
  }

  #enqueue(delivery: Delivery): void {
    this.#queue.push(delivery);
  }

  #grant(credit: { maxSeq: number; maxBytes: number } | undefined): void {
    if (!credit || this.#state !== "streaming") return;
    this.#transmit.push({ type: "credit", maxSeq: credit.maxSeq, maxBytes: credit.maxBytes });
    this.counters.creditFrames++;
    // Piggyback a pending ack: one more small frame now saves one later.
    if (this.#ackedSeq > this.#ackSentSeq) this.#flushAck();
  }

  #ackUpTo(seq: number, now: number): void {
    if (seq <= this.#ackedSeq) return;
    this.#ackedSeq = seq;
    // The newest checkpoint at or below the ack becomes the resume cursor.
    while (this.#checkpoints.length > 0 && this.#checkpoints.peek()!.seq <= seq) this.#resumeCursor = this.#checkpoints.shift()!;
    // A quarter of the window the server granted (it may clamp the requested one).
    const windowItems = this.#session?.window.items ?? this.options.window?.items ?? DEFAULT_WINDOW.items;
    const every = this.options.ackEveryItems ?? Math.max(1, Math.floor(windowItems / 4));
    if (this.#ackedSeq - this.#ackSentSeq >= every) this.#flushAck();
    else if (this.#inSession && this.#timers.get(Timer.ack) === undefined) this.#timers.set(Timer.ack, now + this.#ackDelayMs);
  }

  #flushAck(): void {
    this.#timers.stop(Timer.ack);
    if (this.#ackedSeq <= this.#ackSentSeq || this.#state !== "streaming") return;
    // Never beyond what this session has received (PROTOCOL.md §7.2): after a
    // resume the app may ack items of the old session that the new one has
    // not resent yet; that part waits until they arrive.
    const seq = Math.min(this.#ackedSeq, this.#session!.receivedSeq);
    if (seq <= this.#ackSentSeq) return;
    this.#ackSentSeq = seq;
    this.#transmit.push({ type: "ack", seq });
    this.counters.acks++;
  }

  /** A session is open: its timers run. */
  get #inSession(): boolean {
    return this.#state === "opening" || this.#state === "streaming" || this.#state === "cancelling";
  }

  /** Sends our ping `id` (with the pong of the peer's, when non-zero), and repeats credit and ack with it (§4.8). */
  #ping(id: number, pong: number): void {
    this.#transmit.push({ type: "heartbeat", ping: id, pong });
    this.counters.heartbeatsSent++;
    // Credits and acks are absolute, so repeating them with each ping is
    // free and heals any that a lossy path dropped.
    if (this.#session && this.#state === "streaming") this.#transmit.push({ type: "credit", ...this.#session.granted });
    if (this.#ackSentSeq > 0 && this.#state === "streaming") this.#transmit.push({ type: "ack", seq: this.#ackSentSeq });
  }

  #armHeartbeat(): void {
    const heartbeat = this.#heartbeat!;
    this.#timers.set(Timer.ping, heartbeat.pingAt);
    this.#timers.set(Timer.heartbeatTimeout, heartbeat.timeoutAt);
  }

  #loseSession(error: SluiceError): void {
    this.#state = "idle";
    this.#session = undefined;
    this.#reassembler.reset();
    this.#transmit.clear();
    this.#timers.stopAll();
    // Undelivered items are dropped: the resumed session brings them again.
    const kept = new Queue<Delivery>();
    for (const delivery of this.#queue) if (delivery.kind !== "item" && delivery.kind !== "gap") kept.push(delivery);
    this.#queue = kept;
    const checkpoints = new Queue<{ seq: number; cursor: Uint8Array }>();
    for (const checkpoint of this.#checkpoints) if (checkpoint.seq <= this.#deliveredSeq) checkpoints.push(checkpoint);
    this.#checkpoints = checkpoints;
    // The ack position moves no further than what the app has seen.
    this.#ackSentSeq = Math.min(this.#ackSentSeq, this.#ackedSeq);
    this.#events.push({ type: "session_lost", error });
  }

  #fail(error: SluiceError): void {
    this.#finish({ kind: "error", error });
  }

  #finish(last: Delivery): void {
    this.#state = "closed";
    this.#session = undefined;
    this.#timers.stopAll();
    if (this.#finished) return;
    this.#finished = true;
    this.#queue.push(last);
    this.#events.push(last.kind === "error" ? { type: "finished", error: last.error } : { type: "finished" });
  }
}
