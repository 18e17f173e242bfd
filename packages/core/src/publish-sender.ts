/**
 * The publisher's half of one publish session (PROTOCOL.md §3.4), sans-IO.
 *
 * Publishing is a subscription with the roles swapped: the publisher sends
 * items under the server's credit, the server grants credit and acks. So
 * this runs a {@link StreamSender} for every rule of sending (credit and the
 * byte rule, chunking and fragments, the flush deadline, heartbeats, End
 * after the last credited item) and only translates the handshake: the
 * server's Opened, which says where the publisher's numbering continues and
 * which window the server grants, becomes the sender's Open and accept().
 * The sender's own Opened is never sent.
 */
import { DEFAULT_CHUNK_OPTIONS, type ChunkOptions } from "./chunk-assembler.js";
import { SluiceError } from "./errors.js";
import { EMPTY_BYTES, type DeadLetter, type IngestFrame, type Limits, type OpenedFrame, type PublishFrame, type PublishThrottle } from "./frames.js";
import { DEFAULT_HEARTBEAT } from "./heartbeat-tracker.js";
import { DEFAULT_LIMITS } from "./limits.js";
import { Priority } from "./priority-queue.js";
import { Queue } from "./queue.js";
import { StreamSender } from "./stream-sender.js";
import { Timer, TimerTable } from "./timers.js";

/** What one publish session opens with, and how it chunks. */
export interface PublishSenderOptions {
  /** The stream to publish into (PublishOpen.stream). */
  readonly stream: string;
  /** Who publishes (PublishOpen.publisher_id). */
  readonly publisherId: string;
  /** The last seq this publisher knows was accepted (PublishOpen.resume_after_seq). */
  readonly resumeAfterSeq: number;
  /** Heartbeat interval to ask for; 0 lets the server choose. */
  readonly heartbeatIntervalMs?: number;
  /** When a chunk closes (default DEFAULT_CHUNK_OPTIONS). */
  readonly chunk?: Partial<ChunkOptions>;
  /** How long to wait for Opened before the session counts as lost (default DEFAULT_HEARTBEAT.timeoutMs). */
  readonly openTimeoutMs?: number;
}

/** What a {@link PublishSender} tells its publisher, drained with pollEvent(); told apart by `type`. */
export type PublishSenderEvent =
  /** The server opened the session: items continue at `opened.nextSeq`. */
  | {
      /** Tells the events apart. */
      readonly type: "opened";
      /** The server's Opened. */
      readonly opened: OpenedFrame;
    }
  /** Credit grew: demand may be positive again. */
  | {
      /** Tells the events apart. */
      readonly type: "credit";
    }
  /** The server acked further: everything up to `seq` is accepted or dead-lettered. */
  | {
      /** Tells the events apart. */
      readonly type: "acked";
      /** The new cumulative ack. */
      readonly seq: number;
      /** The items up to `seq` that were dead-lettered, each reported once. */
      readonly deadLetters: readonly DeadLetter[];
      /** The stream's throttle as the ack reported it (absent: the stream has none). */
      readonly throttle?: PublishThrottle;
    }
  /** A pong answered a ping: a round-trip sample. */
  | {
      /** Tells the events apart. */
      readonly type: "rtt";
      /** The round trip, in milliseconds. */
      readonly rttMs: number;
    }
  /** The session is over: End (everything acked) without `error`; a retryable error means publish again in a new session. */
  | {
      /** Tells the events apart. */
      readonly type: "closed";
      /** Why, when it was not a clean End. */
      readonly error?: SluiceError;
    };

/** Where a publish session is: opening (PublishOpen sent), streaming, ending (End queued), closed. */
export type PublishSenderState = "idle" | "opening" | "streaming" | "ending" | "closed";

/**
 * One publish session as a sans-IO state machine: connect(), feed it the
 * server's frames and the time, push items while there is demand, drain
 * frames, events and deadlines. The Publisher runs one per connection.
 */
export class PublishSender {
  /** The options it was created with. */
  readonly options: PublishSenderOptions;
  #state: PublishSenderState = "idle";
  #sender: StreamSender | undefined;
  #opened: OpenedFrame | undefined;
  /** The server's cumulative ack (the sender stops counting once its End is queued; acks go on until the server's End). */
  #ackedSeq = 0;
  readonly #transmit = new Queue<PublishFrame>();
  readonly #events = new Queue<PublishSenderEvent>();
  /** The open timeout, until Opened arrives; the sender's own deadlines after. */
  readonly #timers = new TimerTable();

  constructor(options: PublishSenderOptions) {
    this.options = options;
  }

  /** Where the session is. */
  get state(): PublishSenderState {
    return this.#state;
  }

  /** The server's Opened, once it arrived. */
  get opened(): OpenedFrame | undefined {
    return this.#opened;
  }

  /** The limits the server announced (DEFAULT_LIMITS before Opened). */
  get limits(): Limits {
    return this.#opened?.limits ?? DEFAULT_LIMITS;
  }

  /** How many items may be pushed now. */
  get demand(): number {
    return this.#state === "streaming" ? this.#sender!.demand : 0;
  }

  /** The seq the next pushed item gets. */
  get nextSeq(): number {
    return this.#sender?.nextSeq ?? this.#opened?.nextSeq ?? this.options.resumeAfterSeq + 1;
  }

  /** The highest seq the server has acked in this session. */
  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  /** The latest heartbeat round trip, once one was measured. */
  get rttMs(): number | undefined {
    return this.#sender?.rttMs;
  }

  // ---- inputs ----------------------------------------------------------------

  /** Queues PublishOpen. */
  connect(now: number): void {
    if (this.#state !== "idle") throw new Error(`connect() while ${this.#state}`);
    this.#state = "opening";
    const { stream, publisherId, resumeAfterSeq, heartbeatIntervalMs = 0, openTimeoutMs = DEFAULT_HEARTBEAT.timeoutMs } = this.options;
    this.#transmit.push({ type: "publish_open", stream, publisherId, resumeAfterSeq, heartbeatIntervalMs, signalsHeld: true });
    this.#timers.set(Timer.heartbeatTimeout, now + openTimeoutMs);
  }

  /** Applies a frame from the server; a frame that breaks a rule closes the session with an error instead of throwing. */
  handleFrame(frame: IngestFrame, now: number): void {
    if (this.#state === "idle" || this.#state === "closed") return;
    // After End the sender is done; the wait for the last acks has its own timeout.
    if (this.#state === "ending") this.#timers.set(Timer.heartbeatTimeout, now + this.limits.heartbeatTimeoutMs);
    try {
      this.#apply(frame, now);
    } catch (error) {
      if (!(error instanceof SluiceError)) throw error;
      this.#giveUp(error);
    }
    this.#drainSender();
  }

  /** Hands over the next item; only while demand > 0. Its seq is `nextSeq`; its chunk carries its priority (§3.4 rule 10). */
  push(data: Uint8Array, now: number, priority: Priority = Priority.NORMAL): void {
    if (this.#state !== "streaming") throw new Error(`push() while ${this.#state}`);
    this.#sender!.push(data, EMPTY_BYTES, now, priority);
    this.#drainSender();
  }

  /** No more items: End follows the last one, and the server answers End once it has acked everything. */
  end(now: number): void {
    if (this.#state !== "streaming") return;
    this.#state = "ending";
    this.#sender!.end(EMPTY_BYTES, now);
    this.#timers.set(Timer.heartbeatTimeout, now + this.limits.heartbeatTimeoutMs);
    this.#drainSender();
  }

  /** Gives up the session: Cancel, and nothing more is acked. */
  cancel(reason: string, _now: number): void {
    if (this.#state === "idle" || this.#state === "closed") return;
    this.#transmit.push({ type: "cancel", reason });
    this.#close(undefined);
  }

  /** The transport failed: the session is lost (retryable). */
  connectionLost(error: SluiceError, _now: number): void {
    if (this.#state === "idle" || this.#state === "closed") return;
    this.#close(error.retryable ? error : new SluiceError(error.code, error.message, { retryable: true, cause: error }));
  }

  /** Handles the deadlines due at `now`. */
  handleTimeout(now: number): void {
    if ((this.#timers.get(Timer.heartbeatTimeout) ?? Infinity) <= now) {
      const waited = this.#state === "opening" ? `no Opened from the server within ${this.options.openTimeoutMs ?? DEFAULT_HEARTBEAT.timeoutMs} ms` : `no ack or End from the server within ${this.limits.heartbeatTimeoutMs} ms after End`;
      this.#giveUp(new SluiceError("heartbeat_timeout", waited, { retryable: true }));
      return;
    }
    this.#sender?.handleTimeout(now);
    this.#drainSender();
  }

  // ---- outputs ---------------------------------------------------------------

  /** The next frame to send, if any. */
  pollTransmit(): PublishFrame | undefined {
    return this.#transmit.shift();
  }

  /** Whether pollTransmit() has a frame. */
  get hasTransmit(): boolean {
    return this.#transmit.length > 0;
  }

  /** The next event, if any. */
  pollEvent(): PublishSenderEvent | undefined {
    return this.#events.shift();
  }

  /** The earliest deadline, if any. */
  pollTimeout(): number | undefined {
    if (this.#state === "opening") return this.#timers.nextTimeout();
    const own = this.#timers.nextTimeout();
    const sender = this.#sender?.pollTimeout();
    return own === undefined ? sender : sender === undefined ? own : Math.min(own, sender);
  }

  // ---- internals -------------------------------------------------------------

  #apply(frame: IngestFrame, now: number): void {
    if (this.#state === "opening" && frame.type !== "opened" && frame.type !== "error") {
      throw new SluiceError("protocol_violation", `${frame.type} before Opened`, { blame: "remote", retryable: true });
    }
    switch (frame.type) {
      case "opened":
        if (this.#state !== "opening") {
          if (frame.sessionId === this.#opened?.sessionId) return;
          throw new SluiceError("protocol_violation", `second Opened (session ${frame.sessionId}) on session ${this.#opened?.sessionId}`, { blame: "remote" });
        }
        return this.#onOpened(frame, now);
      case "credit":
        return this.#sender!.handleFrame(frame, now);
      case "publish_ack": {
        const before = this.#ackedSeq;
        const sent = this.#sender!.nextSeq - 1;
        if (frame.seq > sent) throw new SluiceError("protocol_violation", `ack ${frame.seq} is beyond the last sent seq ${sent}`, { blame: "remote" });
        for (const dead of frame.deadLetters) {
          if (dead.seq > frame.seq) throw new SluiceError("protocol_violation", `dead letter for seq ${dead.seq} beyond its ack ${frame.seq}`, { blame: "remote" });
        }
        if (frame.seq <= before) {
          // A repeated ack: its dead letters were reported with it. It is still a frame from the server: liveness (§6).
          if (this.#state === "streaming") this.#sender!.handleFrame({ type: "ack", seq: before }, now);
          return;
        }
        // An ack that does not follow the last one here: one was lost or overtaken, and with it dead
        // letters. The session is broken; the next one resumes after the last ack that arrived, and
        // the server reports the dead letters above it again (§3.4 rules 5 and 6).
        if (frame.afterSeq !== undefined && frame.afterSeq !== before) {
          throw new SluiceError("protocol_violation", `ack ${frame.seq} follows ack ${frame.afterSeq}, but the last ack that arrived was ${before}: an ack was lost`, { blame: "remote", retryable: true });
        }
        if (this.#state === "streaming") this.#sender!.handleFrame({ type: "ack", seq: frame.seq }, now);
        this.#ackedSeq = frame.seq;
        this.#events.push({ type: "acked", seq: frame.seq, deadLetters: frame.deadLetters.filter((dead) => dead.seq > before), ...(frame.throttle ? { throttle: frame.throttle } : {}) });
        return;
      }
      case "heartbeat":
        return this.#sender!.handleFrame(frame, now);
      case "end":
        if (this.#ackedSeq < this.#sender!.nextSeq - 1) {
          // Only a lost ack explains this on a reliable transport: the next session's first ack reports them.
          throw new SluiceError("protocol_violation", `End with seqs ${this.#ackedSeq + 1}..${this.#sender!.nextSeq - 1} unacked`, { blame: "remote", retryable: true });
        }
        return this.#close(undefined);
      case "error":
        return this.#close(SluiceError.fromFrame(frame));
    }
  }

  #onOpened(opened: OpenedFrame, now: number): void {
    if (!opened.window) throw new SluiceError("protocol_violation", "opened.window: required in a publish session (the server grants the window)", { blame: "remote", field: "opened.window" });
    if (opened.nextSeq < 1) throw new SluiceError("protocol_violation", `opened.next_seq must be at least 1, got ${opened.nextSeq}`, { blame: "remote", field: "opened.next_seq" });
    this.#timers.stopAll();
    this.#opened = opened;
    // No stall or yield timeouts: a throttled publisher waits as long as it takes, and an idle one is fine.
    // A chunk must fit the server's frames: at most half of max_frame_bytes of payload leaves room for the framing.
    const maxBytes = Math.max(1, Math.min(this.options.chunk?.maxBytes ?? DEFAULT_CHUNK_OPTIONS.maxBytes, Math.floor(opened.limits.maxFrameBytes / 2)));
    const sender = new StreamSender({ limits: opened.limits, chunk: { ...this.options.chunk, maxBytes }, stallTimeoutMs: 0, yieldTimeoutMs: 0, peer: "server" });
    sender.handleFrame({ type: "open", stream: this.options.stream, params: {}, window: opened.window, heartbeatIntervalMs: opened.limits.heartbeatIntervalMs, clientInfo: "" }, now);
    if (sender.state !== "accepting") throw sender.error ?? new SluiceError("protocol_violation", "opened: the window or limits are unusable", { blame: "remote" });
    sender.pollEvent(); // "open": resolved by the server already
    sender.accept({ sessionId: opened.sessionId, sessionSecret: opened.sessionSecret, nextSeq: opened.nextSeq, contentType: opened.contentType }, now);
    sender.pollTransmit(); // the sender's own Opened: the server sent the real one
    this.#sender = sender;
    // Items before next_seq reached the server; the first ack (right after Opened) tells each one's fate.
    this.#ackedSeq = Math.min(this.options.resumeAfterSeq, opened.nextSeq - 1);
    this.#state = "streaming";
    this.#events.push({ type: "opened", opened });
  }

  /** Moves the sender's frames and events out, translated to the publish direction. */
  #drainSender(): void {
    const sender = this.#sender;
    if (!sender) return;
    for (let frame = sender.pollTransmit(); frame; frame = sender.pollTransmit()) {
      if (frame.type === "chunk" || frame.type === "heartbeat" || frame.type === "end") this.#transmit.push(frame);
      // The sender failed by itself (the server went silent): a publisher cannot send Error, it cancels.
      else if (frame.type === "error") this.#transmit.push({ type: "cancel", reason: frame.message });
    }
    for (let event = sender.pollEvent(); event; event = sender.pollEvent()) {
      if (event.type === "credit") this.#events.push({ type: "credit" });
      else if (event.type === "rtt") this.#events.push({ type: "rtt", rttMs: event.rttMs });
      else if (event.type === "closed" && event.error && this.#state !== "closed") {
        this.#close(event.error);
      }
    }
  }

  /** A broken rule: tell the server (Cancel) and close with the error. */
  #giveUp(error: SluiceError): void {
    if (this.#state === "closed") return;
    this.#transmit.push({ type: "cancel", reason: error.message });
    this.#close(error);
  }

  #close(error: SluiceError | undefined): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#timers.stopAll();
    this.#events.push(error ? { type: "closed", error } : { type: "closed" });
  }
}
