/**
 * The sending side of one subscription session (the server's half), sans-IO
 * in the shape of quinn-proto: inputs are calls that carry
 * `now`; outputs are drained with pollTransmit / pollEvent / pollTimeout.
 *
 * The caller (the server's driver) pulls from its source only while `demand`
 * is above zero and hands each item to `push`. Everything else, credit
 * accounting, chunking, heartbeats, stall and yield timeouts, cancellation,
 * lives here (PROTOCOL.md §4-§8).
 */
import { ChunkAssembler, type ChunkOptions } from "./chunk-assembler.js";
import { createStreamCounters, type StreamCounters } from "./counters.js";
import { SendCredit } from "./credit-window.js";
import { SluiceError } from "./errors.js";
import { EMPTY_BYTES, type ClientFrame, type GapReason, type Limits, type OpenFrame, type ResumeResult, type ServerFrame, type Window } from "./frames.js";
import { HeartbeatTracker } from "./heartbeat-tracker.js";
import { Priority } from "./priority-queue.js";
import { acceptOpen, checkItemSize, checkLimits, DEFAULT_LIMITS } from "./limits.js";
import { Queue } from "./queue.js";
import { ReplayBuffer, type ReplayCapacity } from "./replay-buffer.js";
import { senderTransition, type SenderState } from "./state.js";
import { Timer, TimerTable } from "./timers.js";

/** Server-wide settings of a {@link StreamSender}; per-stream ones arrive later in {@link AcceptArgs}. */
export interface StreamSenderOptions {
  /** The limits Opened announces (default DEFAULT_LIMITS); the Open is validated against them. */
  readonly limits?: Limits;
  /** The window for an Open that names none (default DEFAULT_WINDOW). */
  readonly defaultWindow?: Window;
  /** When a chunk closes (default DEFAULT_CHUNK_OPTIONS). */
  readonly chunk?: Partial<ChunkOptions>;
  /** Fail with stall_timeout after this long without credit; 0 disables. */
  readonly stallTimeoutMs?: number;
  /** Fail with yield_timeout when the source yields nothing this long while there is credit; 0 disables. */
  readonly yieldTimeoutMs?: number;
  /** Keep sent, unacked items for resume from this session; omitted: no replay buffer. */
  readonly replay?: ReplayCapacity;
  /** What errors call the other side (default "client"; a publisher's sender talks to the "server"). */
  readonly peer?: string;
}

/**
 * What {@link StreamSender.accept} needs once the driver has resolved the stream:
 * the session's identity and the stream's own settings.
 */
export interface AcceptArgs {
  /** Identifies the session in Opened (unique per session). */
  readonly sessionId: string;
  /** The unpredictable secret Opened carries; half-duplex Control calls must present it. */
  readonly sessionSecret: Uint8Array;
  /** Seq of the first item this session sends. */
  readonly nextSeq: number;
  /** MIME type of the items, announced in Opened. */
  readonly contentType: string;
  /** How the resume went, when the Open resumed; Opened carries it. */
  readonly resume?: ResumeResult;
  /** The source cursor at seq nextSeq − 1, when known; Opened carries it (the receiver's first checkpoint, PROTOCOL.md §7.3). */
  readonly cursor?: Uint8Array;
  /** Per-stream settings known only once the stream is resolved; they override the constructor's. */
  readonly chunk?: Partial<ChunkOptions>;
  /**
   * Per-stream limits (max window, heartbeat, item and frame size) and
   * default window: the Open is re-checked against them, so Opened announces
   * the stream's values.
   */
  readonly limits?: Partial<Limits>;
  /** The stream's default window, for an Open that names none. */
  readonly defaultWindow?: Window;
  /** The stream's stall timeout; overrides the constructor's. */
  readonly stallTimeoutMs?: number;
  /** The stream's yield timeout; overrides the constructor's. */
  readonly yieldTimeoutMs?: number;
}

/** What the sender tells its driver, drained with pollEvent(); told apart by `type`. */
export type SenderEvent =
  /** Open arrived and is valid: resolve the source, then call accept() or fail(). */
  | {
      /** Tells the events apart. */
      readonly type: "open";
      /** The Open frame as received. */
      readonly open: OpenFrame;
      /** The window in force: Open's, clamped to the limits, or the default. */
      readonly window: Window;
    }
  /** Credit grew: demand may be positive again. */
  | {
      /** Tells the events apart. */
      readonly type: "credit";
    }
  /** The client acked further: everything up to `seq` is processed (a replay buffer releases it). */
  | {
      /** Tells the events apart. */
      readonly type: "acked";
      /** The new cumulative ack. */
      readonly seq: number;
    }
  /** A pong answered the oldest unanswered ping: a new RTT sample. */
  | {
      /** Tells the events apart. */
      readonly type: "rtt";
      /** The round-trip time measured, in milliseconds. */
      readonly rttMs: number;
    }
  /** The client cancelled: stop the source (its return()/finally). */
  | {
      /** Tells the events apart. */
      readonly type: "cancelled";
      /** The reason the Cancel frame gave. */
      readonly reason: string;
    }
  /** End or Error is queued; once it is transmitted, close the call. */
  | {
      /** Tells the events apart. */
      readonly type: "closed";
      /** The error the session failed with; absent after End. */
      readonly error?: SluiceError;
    };

/**
 * The sending side of one session as a sans-IO state machine: feed it client
 * frames, items and the time, drain frames, events and deadlines. One per
 * session; the driver's serveSession runs it.
 */
export class StreamSender {
  /** The limits in force: the constructor's, then the Open's negotiated heartbeat and the stream's own. */
  readonly limits: Limits;
  /** What this session did, for metrics. */
  readonly counters: StreamCounters = createStreamCounters();
  #options: StreamSenderOptions;
  #state: SenderState = "awaiting_open";
  #window: Window = { items: 1, bytes: 1 };
  #credit: SendCredit | undefined;
  #assembler: ChunkAssembler;
  #heartbeat: HeartbeatTracker | undefined;
  /** The receiver's ping that rode on its pong, answered with our next ping (§6). */
  #heldPong: HeldPong | undefined;
  #replay: ReplayBuffer | undefined;
  /** Opened, pings and pongs: they never wait behind data (§6). */
  readonly #control = new Queue<ServerFrame>();
  /** Chunks, then End or Error. */
  readonly #data = new Queue<ServerFrame>();
  readonly #events = new Queue<SenderEvent>();
  /** Heartbeat, flush, stall and yield deadlines, kept current wherever their state changes. */
  readonly #timers = new TimerTable();
  /** Next seq to assign to a pushed item or gap. */
  #nextSeq = 1;
  /** Last seq handed to the assembler (sent or about to be). */
  #emittedSeq = 0;
  /** Last item seq transmitted. */
  #transmittedSeq = 0;
  /** The seq before this session's first: heartbeats carry sentSeq only once an item went out. */
  #sessionStartSeq = 0;
  /** What has left through pollTransmit: a cancel's End reports only this. */
  #transmittedItems = 0;
  #transmittedBytes = 0;
  #transmittedCursor: Uint8Array = EMPTY_BYTES;
  #sessionBytes = 0;
  #sessionItems = 0;
  #ackedSeq = 0;
  #pending: { seq: number; data: Uint8Array; cursor: Uint8Array; priority: Priority; subject: string | undefined } | undefined;
  #endCursor: Uint8Array | undefined;
  /** The Open being served, and the constructor's limits (before per-Open adjustments). */
  #open: OpenFrame | undefined;
  readonly #baseLimits: Limits;
  #lastCursor: Uint8Array = EMPTY_BYTES;
  /** Since when credit has been exhausted (stall timer, stall counter). */
  #stalledSince: number | undefined;
  /** When the source last yielded, or credit last grew (yield timer). */
  #idleSince = 0;
  #error: SluiceError | undefined;

  constructor(options: StreamSenderOptions = {}) {
    this.#options = options;
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.#baseLimits = this.limits;
    this.#assembler = new ChunkAssembler(options.chunk);
  }

  /** Where the session is in the sender state machine (PROTOCOL.md §11.1). */
  get state(): SenderState {
    return this.#state;
  }

  /** The window in force (after clamping). */
  get window(): Window {
    return this.#window;
  }

  /** The seq the next pushed item (or gap) gets. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** The highest seq the client has acked. */
  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  /** The latest round-trip time measured by heartbeats, once one was. */
  get rttMs(): number | undefined {
    return this.#heartbeat?.rttMs;
  }

  /** The error the session ended with, once closed by one. */
  get error(): SluiceError | undefined {
    return this.#error;
  }

  /** The Open this session received (also one that was refused), once it arrived. */
  get open(): OpenFrame | undefined {
    return this.#open;
  }

  /** The replay buffer, when the options asked for one and the session streams. */
  get replay(): ReplayBuffer | undefined {
    return this.#replay;
  }

  /**
   * Payload the receiver has not reported consumed: sent or queued in this
   * session beyond the consumed offset its credit implies (§4.3), plus a held
   * item. What the session can be holding in the server's memory; at most its
   * window (and one item).
   */
  get bufferedBytes(): number {
    if (!this.#credit) return 0;
    const consumed = Math.max(0, this.#credit.maxBytes - this.#window.bytes);
    return Math.max(0, this.#sessionBytes - consumed) + (this.#pending?.data.byteLength ?? 0);
  }

  /**
   * Payload pushed in this session that has not left through pollTransmit
   * (closed chunks waiting, the open chunk) plus a held item: what a driver
   * holds ahead of its transport.
   */
  get untransmittedBytes(): number {
    return this.#sessionBytes - this.#transmittedBytes + (this.#pending?.data.byteLength ?? 0);
  }

  /** How many items the caller may push now. */
  get demand(): number {
    if (this.#state !== "streaming" || this.#pending || this.#endCursor || !this.#credit) return 0;
    if (this.#sessionBytes >= this.#credit.maxBytes) return 0;
    return Math.max(0, this.#credit.maxSeq - this.#nextSeq + 1);
  }

  // ---- inputs ----------------------------------------------------------------

  /**
   * Applies a frame from the client. A frame that breaks a rule fails the
   * session with an Error frame instead of throwing.
   */
  handleFrame(frame: ClientFrame, now: number): void {
    const heartbeat = this.#heartbeat;
    if (heartbeat && this.#state !== "closed") {
      heartbeat.onInbound(now);
      this.#timers.set(Timer.heartbeatTimeout, heartbeat.timeoutAt);
    }
    const transition = senderTransition(this.#state, frame);
    if (transition.kind === "ignore") return;
    if (transition.kind === "violation") {
      this.fail(new SluiceError("protocol_violation", transition.message, { blame: "remote" }), now);
      return;
    }
    try {
      this.#apply(frame, now);
    } catch (error) {
      if (error instanceof SluiceError) this.fail(error, now);
      else throw error;
    }
  }

  /** The source is resolved and authorised: send Opened and start streaming. */
  accept(args: AcceptArgs, now: number): boolean {
    // The client may have cancelled (or broken a rule) while the source was resolved.
    if (this.#state === "closed") return false;
    if (this.#state !== "accepting") throw new Error(`accept() while ${this.#state}`);
    // The server's limits with the stream's over them: a heartbeat that cannot
    // work must be the server's invalid_argument, not a crash of the session.
    checkLimits(args.limits ? { ...this.#baseLimits, ...args.limits } : this.#baseLimits);
    if (args.limits || args.defaultWindow) {
      // The Open again, under the stream's limits and default window.
      const accepted = acceptOpen(this.#open!, { ...this.#baseLimits, ...args.limits }, args.defaultWindow ?? this.#options.defaultWindow);
      this.#window = accepted.window;
      (this as { limits: Limits }).limits = accepted.limits;
    }
    this.#state = "streaming";
    if (this.#open!.resume) this.counters.resumes++;
    if (args.chunk) this.#assembler = new ChunkAssembler({ ...this.#options.chunk, ...args.chunk });
    if (args.stallTimeoutMs !== undefined || args.yieldTimeoutMs !== undefined) {
      this.#options = {
        ...this.#options,
        ...(args.stallTimeoutMs !== undefined ? { stallTimeoutMs: args.stallTimeoutMs } : {}),
        ...(args.yieldTimeoutMs !== undefined ? { yieldTimeoutMs: args.yieldTimeoutMs } : {}),
      };
    }
    this.#nextSeq = args.nextSeq;
    this.#emittedSeq = args.nextSeq - 1;
    this.#transmittedSeq = args.nextSeq - 1;
    this.#sessionStartSeq = args.nextSeq - 1;
    this.#ackedSeq = args.nextSeq - 1;
    this.#credit = new SendCredit(this.#window, args.nextSeq);
    this.#heartbeat = new HeartbeatTracker({ intervalMs: this.limits.heartbeatIntervalMs, timeoutMs: this.limits.heartbeatTimeoutMs }, now);
    this.#armHeartbeat();
    if (this.#options.replay) this.#replay = new ReplayBuffer(this.#options.replay);
    this.#idleSince = now;
    this.#armYield();
    this.#control.push({
      type: "opened",
      sessionId: args.sessionId,
      sessionSecret: args.sessionSecret,
      nextSeq: args.nextSeq,
      limits: this.limits,
      contentType: args.contentType,
      resume: args.resume,
      window: this.#window,
      ...(args.cursor && args.cursor.byteLength > 0 ? { cursor: args.cursor } : {}),
      signalsHeld: true,
    });
    return true;
  }

  /**
   * Hands over the next item from the source. `cursor` is the source position
   * after it (empty when the source has none). Only while demand > 0. A
   * publisher's items carry their `priority` (chunks hold one priority each);
   * a filtered stream's, their `subject` (PROTOCOL.md §7.10).
   */
  push(data: Uint8Array, cursor: Uint8Array, now: number, priority: Priority = Priority.NORMAL, subject?: string): void {
    if (this.#state !== "streaming") throw new Error(`push() while ${this.#state}`);
    if (this.demand <= 0) throw new Error("push() without demand");
    const seq = this.#nextSeq;
    checkItemSize(seq, data.byteLength, this.limits.maxItemBytes);
    this.#nextSeq = seq + 1;
    this.#idleSince = now;
    if (this.#credit!.allows(seq, this.#sessionBytes, data.byteLength)) {
      this.#emit(seq, data, cursor, now, priority, subject);
    } else {
      this.#pending = { seq, data, cursor, priority, subject };
      // Tell the receiver at once: it grants on drain only when told (§4.5 rule 2).
      this.#control.push({ type: "heartbeat", ping: 0, pong: 0, heldBytes: data.byteLength });
    }
    if (this.demand === 0) this.#creditExhausted(now);
    this.#armYield();
  }

  /**
   * The source has nothing ready (a live topic caught up): the open chunk
   * goes out now instead of at its flush deadline, which could only add
   * latency, as nothing is coming to join it.
   */
  flush(_now: number): void {
    if (this.#state !== "streaming" || this.#pending) return;
    this.#assembler.close();
    this.#moveChunks();
  }

  /** `count` items were dropped here (topic overflow): the client gets a gap. */
  pushGap(count: number, reason: GapReason, now: number): void {
    if (this.#state !== "streaming" || this.#pending) throw new Error("pushGap() needs a streaming sender with nothing pending");
    if (count <= 0) return;
    this.#assembler.addGap({ fromSeq: this.#nextSeq, count, reason }, now);
    this.#armFlush();
    this.#nextSeq += count;
    this.#emittedSeq = this.#nextSeq - 1;
    this.counters.gaps++;
    this.counters.itemsSkippedByGaps += count;
    if (this.demand === 0) this.#creditExhausted(now);
    this.#armYield();
  }

  /** The source is exhausted: End follows the last item (once credit lets it out). */
  end(cursor: Uint8Array, now: number): void {
    if (this.#state !== "streaming") return;
    this.#endCursor = cursor.byteLength > 0 ? cursor : this.#lastCursor;
    this.#state = "ending";
    this.#timers.stop(Timer.yield);
    this.#finishIfDrained(now);
  }

  /** Ends the session with an error, after the chunks already credited. */
  fail(error: SluiceError, _now: number): void {
    if (this.#state === "closed") return;
    this.#pending = undefined;
    this.#assembler.close();
    this.#moveChunks();
    this.#data.push(error.toFrame());
    this.#close(error);
  }

  /** Handles every timer due at `now`, in Timer order (a failure stops the rest). */
  handleTimeout(now: number): void {
    for (const timer of this.#timers.expired(now)) {
      switch (timer) {
        case Timer.heartbeatTimeout:
        case Timer.ping: {
          // One poll for both: the tracker decides, and a timeout wins over a ping.
          const beat = this.#heartbeat!.poll(now);
          if (beat?.kind === "timeout") {
            this.fail(new SluiceError("heartbeat_timeout", `${this.#options.peer ?? "client"} silent for ${Math.round(beat.silentMs)} ms (timeout ${this.limits.heartbeatTimeoutMs} ms)`), now);
            return;
          }
          if (beat?.kind === "ping") {
            // A pong held for this ping goes with it (§6).
            const held = this.#heldPong;
            this.#heldPong = undefined;
            this.#control.push(held ? { type: "heartbeat", ping: beat.id, ...heldPong(held, now) } : { type: "heartbeat", ping: beat.id, pong: 0 });
            this.counters.heartbeatsSent++;
          }
          this.#armHeartbeat();
          break;
        }
        case Timer.flush:
          this.#assembler.handleTimeout(now);
          this.#moveChunks();
          break;
        case Timer.stall:
          this.fail(new SluiceError("stall_timeout", `no credit from the client for ${Math.round(now - this.#stalledSince!)} ms (stall timeout ${this.#options.stallTimeoutMs} ms)`), now);
          return;
        case Timer.yield:
          this.fail(new SluiceError("yield_timeout", `source yielded nothing for ${Math.round(now - this.#idleSince)} ms (yield timeout ${this.#options.yieldTimeoutMs} ms)`), now);
          return;
      }
    }
  }

  // ---- outputs ---------------------------------------------------------------

  /** Whether pollTransmit() has a frame (lets a driver skip a wake-up). */
  get hasTransmit(): boolean {
    return this.#control.length > 0 || this.#data.length > 0;
  }

  /** The next frame to send. Heartbeats never queue behind data. */
  pollTransmit(): ServerFrame | undefined {
    let control = this.#control.shift();
    // A heartbeat tells how far the data before it went (§6.1), so a receiver
    // can tell a lost last chunk from a quiet source, and whether an item
    // waits for byte credit (§4.5); a held signal whose item has gone since
    // says nothing and is dropped.
    while (control?.type === "heartbeat") {
      const held = this.#pending?.data.byteLength;
      if (control.ping === 0 && control.pong === 0 && held === undefined) {
        control = this.#control.shift();
        continue;
      }
      const { heldBytes: _stale, ...beat } = control;
      return { ...beat, ...(this.#transmittedSeq > this.#sessionStartSeq ? { sentSeq: this.#transmittedSeq } : {}), ...(held !== undefined ? { heldBytes: held } : {}) };
    }
    if (control) return control;
    const frame = this.#data.shift();
    if (!frame) return undefined;
    if (frame.type === "chunk") {
      this.counters.chunksSent++;
      const last = frame.fragment ? (frame.fragment.offset + frame.fragment.data.byteLength === frame.fragment.totalBytes ? frame.firstSeq : frame.firstSeq - 1) : frame.firstSeq + frame.items.length - 1;
      if (last > this.#transmittedSeq) this.#transmittedSeq = last;
      if (frame.fragment) {
        this.#transmittedBytes += frame.fragment.data.byteLength;
        if (last === frame.firstSeq) this.#transmittedItems++;
      } else {
        this.#transmittedItems += frame.items.length;
        for (const data of frame.items) this.#transmittedBytes += data.byteLength;
      }
      if (frame.cursor.byteLength > 0) this.#transmittedCursor = frame.cursor;
    }
    return frame;
  }

  /** Whether pollEvent() has an event. */
  get hasEvent(): boolean {
    return this.#events.length > 0;
  }

  /** The next event for the driver, if any. */
  pollEvent(): SenderEvent | undefined {
    return this.#events.shift();
  }

  /** The earliest time handleTimeout has work, if any (the driver asks after every input). */
  pollTimeout(): number | undefined {
    return this.#timers.nextTimeout();
  }

  // ---- internals -------------------------------------------------------------

  #apply(frame: ClientFrame, now: number): void {
    switch (frame.type) {
      case "open": {
        // Recorded before validation: a refused Open is still logged under its stream.
        this.#open = frame;
        const accepted = acceptOpen(frame, this.limits, this.#options.defaultWindow);
        this.#window = accepted.window;
        (this as { limits: Limits }).limits = accepted.limits;
        this.#state = "accepting";
        this.#events.push({ type: "open", open: frame, window: accepted.window });
        return;
      }
      case "credit":
        return this.#applyCredit(frame.maxSeq, frame.maxBytes, now);
      case "ack": {
        if (frame.seq > this.#emittedSeq) {
          throw new SluiceError("protocol_violation", `ack ${frame.seq} is beyond the last sent seq ${this.#emittedSeq}`, { blame: "remote" });
        }
        if (frame.seq > this.#ackedSeq) {
          this.#ackedSeq = frame.seq;
          this.#replay?.ack(frame.seq);
          this.counters.acks++;
          this.#events.push({ type: "acked", seq: frame.seq });
        }
        return;
      }
      case "heartbeat": {
        this.counters.heartbeatsReceived++;
        if (frame.ping !== 0) {
          if (frame.pong !== 0 && this.#heartbeat) {
            // A ping that rode on a pong is answered with our next ping, at
            // most an interval away, its wait in pong_delay_us (§6): one
            // message each way a round, where an answer at once made it three.
            // A pong still held from before goes now.
            if (this.#heldPong) this.#control.push({ type: "heartbeat", ping: 0, ...heldPong(this.#heldPong, now) });
            this.#heldPong = { id: frame.ping, at: now };
          } else this.#control.push({ type: "heartbeat", ping: 0, pong: frame.ping });
        }
        if (frame.pong !== 0) {
          const rttMs = this.#heartbeat?.onPong(frame.pong, now, (frame.pongDelayUs ?? 0) / 1000);
          if (rttMs !== undefined) this.#events.push({ type: "rtt", rttMs });
        }
        return;
      }
      case "cancel": {
        this.#pending = undefined;
        this.#assembler.discard();
        this.#data.clear();
        // Only what was sent counts: the discarded items never reach the client.
        this.#data.push({ type: "end", lastSeq: this.#transmittedSeq, cursor: this.#transmittedCursor, sessionItems: this.#transmittedItems, sessionBytes: this.#transmittedBytes });
        this.#events.push({ type: "cancelled", reason: frame.reason });
        this.#close(undefined);
        return;
      }
    }
  }

  #applyCredit(maxSeq: number, maxBytes: number, now: number): void {
    if (!this.#credit) return;
    const grew = this.#credit.grant({ maxSeq, maxBytes }, this.#nextSeq - 1, this.#sessionBytes + (this.#pending?.data.byteLength ?? 0));
    this.counters.creditFrames++;
    if (!grew) return;
    const pending = this.#pending;
    if (pending && this.#credit.allows(pending.seq, this.#sessionBytes, pending.data.byteLength)) {
      this.#pending = undefined;
      this.#emit(pending.seq, pending.data, pending.cursor, now, pending.priority, pending.subject);
    }
    if (this.#state === "ending") {
      this.#finishIfDrained(now);
      return;
    }
    if (this.demand > 0) {
      if (this.#stalledSince !== undefined) {
        this.counters.creditStallMs += now - this.#stalledSince;
        this.#stalledSince = undefined;
        this.#timers.stop(Timer.stall);
      }
      this.#idleSince = now;
      this.#armYield();
      this.#events.push({ type: "credit" });
    } else {
      this.#creditExhausted(now);
    }
  }

  #emit(seq: number, data: Uint8Array, cursor: Uint8Array, now: number, priority: Priority, subject: string | undefined): void {
    this.#assembler.add(seq, data, cursor, now, priority, subject);
    this.#emittedSeq = seq;
    this.#sessionBytes += data.byteLength;
    this.#sessionItems++;
    this.counters.itemsSent++;
    this.counters.bytesSent += data.byteLength;
    if (cursor.byteLength > 0) this.#lastCursor = cursor;
    this.#replay?.append({ seq, data, cursor });
    this.#moveChunks();
  }

  /** Credit ran out: flush the open chunk now (nothing more can join it). */
  #creditExhausted(now: number): void {
    this.#assembler.close();
    this.#moveChunks();
    if (this.#stalledSince === undefined && this.#state === "streaming") {
      this.#stalledSince = now;
      this.counters.creditStalls++;
      const { stallTimeoutMs = 0 } = this.#options;
      if (stallTimeoutMs > 0) this.#timers.set(Timer.stall, now + stallTimeoutMs);
    }
  }

  #finishIfDrained(now: number): void {
    if (this.#state !== "ending" || this.#pending) {
      if (this.#pending) this.#creditExhausted(now);
      return;
    }
    this.#assembler.close();
    this.#moveChunks();
    this.#data.push(this.#endFrame(this.#endCursor ?? EMPTY_BYTES, this.#emittedSeq));
    this.#close(undefined);
  }

  #endFrame(cursor: Uint8Array, lastSeq: number): ServerFrame {
    return {
      type: "end",
      lastSeq,
      cursor,
      sessionItems: this.#sessionItems,
      sessionBytes: this.#sessionBytes,
    };
  }

  /** Queues the chunks the assembler closed; the flush timer follows the chunk left open. */
  #moveChunks(): void {
    for (let chunk = this.#assembler.take(); chunk; chunk = this.#assembler.take()) {
      this.#data.push(chunk);
    }
    this.#armFlush();
  }

  #armFlush(): void {
    this.#timers.set(Timer.flush, this.#assembler.deadline);
  }

  #armHeartbeat(): void {
    const heartbeat = this.#heartbeat!;
    this.#timers.set(Timer.ping, heartbeat.pingAt);
    this.#timers.set(Timer.heartbeatTimeout, heartbeat.timeoutAt);
  }

  /** The yield timer runs while the caller may push (demand > 0) and the source yields nothing (§4.9). */
  #armYield(): void {
    const { yieldTimeoutMs = 0 } = this.#options;
    this.#timers.set(Timer.yield, yieldTimeoutMs > 0 && this.demand > 0 ? this.#idleSince + yieldTimeoutMs : undefined);
  }

  #close(error: SluiceError | undefined): void {
    this.#state = "closed";
    this.#error = error;
    this.#timers.stopAll();
    this.#events.push(error ? { type: "closed", error } : { type: "closed" });
  }
}

/** A ping whose pong waits for our next ping: its id, and when it came. */
interface HeldPong {
  readonly id: number;
  readonly at: number;
}

/** The pong fields answering `held` at `now`: its id, and how long it waited (omitted when it did not). */
function heldPong(held: HeldPong, now: number): { pong: number; pongDelayUs?: number } {
  const delayUs = Math.round((now - held.at) * 1000);
  return delayUs > 0 ? { pong: held.id, pongDelayUs: delayUs } : { pong: held.id };
}
