/**
 * The server's half of one publish session (PROTOCOL.md §3.4), sans-IO.
 *
 * Publishing is a subscription with the roles swapped, so this runs a
 * {@link StreamReceiver} for every rule of receiving (seq order, fragment
 * reassembly under the max item size, credit granted as items are taken,
 * credit violations, ack coalescing, heartbeats, End checked against what
 * arrived) and translates only the handshake: PublishOpen goes to the
 * driver, which resolves the stream and the publisher's next seq and calls
 * accept(); the receiver is then opened with the same Opened the publisher
 * gets. Acks mean "accepted by the sink": the driver takes items with read()
 * (which is what grants credit, so credit follows the sink's capacity) and
 * reports each one accepted or dead-lettered.
 */
import { SluiceError } from "./errors.js";
import { EMPTY_BYTES, type DeadLetter, type IngestFrame, type Limits, type OpenedFrame, type PublishFrame, type PublishOpenFrame, type PublishThrottle, type Window } from "./frames.js";
import { acceptOpen, DEFAULT_LIMITS, DEFAULT_WINDOW } from "./limits.js";
import { Priority } from "./priority-queue.js";
import { Queue } from "./queue.js";
import { StreamReceiver } from "./stream-receiver.js";

/** Server-wide settings of an {@link IngestReceiver}. */
export interface IngestReceiverOptions {
  /** The limits Opened announces (default DEFAULT_LIMITS). */
  readonly limits?: Limits;
  /** The window the server grants a publisher (default DEFAULT_WINDOW), clamped to the limits. */
  readonly window?: Window;
  /** Send a PublishAck once this many items are accepted and unacked (default window/4). */
  readonly ackEveryItems?: number;
  /** ... or once the oldest of them has waited this long (default 5 ms: a publisher waits on acks). */
  readonly ackDelayMs?: number;
}

/** What accept() needs once the driver resolved the PublishOpen. */
export interface IngestAcceptArgs {
  /** The session's id (unique per session). */
  readonly sessionId: string;
  /** The publisher's next seq: one after the last it had accepted (deduplication, §3.4). */
  readonly nextSeq: number;
  /** The stream's window for publishers, over the constructor's. */
  readonly window?: Window;
  /** The stream's limits, over the constructor's. */
  readonly limits?: Partial<Limits>;
  /**
   * The publisher's dead letters after its resume_after_seq and before
   * `nextSeq`: their acks may have been lost with the last connection, so
   * the first PublishAck of this session reports them again (§3.4).
   */
  readonly deadLetters?: readonly DeadLetter[];
}

/** What the ingest tells its driver; told apart by `type`. */
export type IngestEvent =
  /** PublishOpen arrived: resolve the stream and the publisher, then accept() or fail(). */
  | {
      /** Tells the events apart. */
      readonly type: "open";
      /** The PublishOpen as received. */
      readonly open: PublishOpenFrame;
    }
  /** A pong answered a ping: a round-trip sample. */
  | {
      /** Tells the events apart. */
      readonly type: "rtt";
      /** The round trip, in milliseconds. */
      readonly rttMs: number;
    }
  /** The session is over; once the frames queued are transmitted, close the call. */
  | {
      /** Tells the events apart. */
      readonly type: "closed";
      /** Why, when it did not end with the publisher's End. */
      readonly error?: SluiceError;
    };

/** One item for the sink, or the publisher's End once every item before it was taken. */
export type IngestDelivery =
  | {
      /** Tells the deliveries apart. */
      readonly kind: "item";
      /** The publisher's seq of the item. */
      readonly seq: number;
      /** The item's payload. */
      readonly data: Uint8Array;
      /** The item's priority, from its chunk (§3.4 rule 10). */
      readonly priority: Priority;
    }
  | {
      /** Tells the deliveries apart. */
      readonly kind: "end";
      /** The publisher's last seq. */
      readonly lastSeq: number;
    };

/** Where a publish session is on the server. */
export type IngestState = "awaiting_open" | "accepting" | "streaming" | "closed";

/**
 * One publish session on the server as a sans-IO state machine: feed it the
 * publisher's frames and the time, take items for the sink, report them
 * accepted or dead-lettered, drain frames, events and deadlines.
 */
export class IngestReceiver {
  /** The options it was created with. */
  readonly options: IngestReceiverOptions;
  #state: IngestState = "awaiting_open";
  #open: PublishOpenFrame | undefined;
  #receiver: StreamReceiver | undefined;
  #opened: OpenedFrame | undefined;
  /** Dead letters waiting for the ack that covers them. */
  readonly #deadLetters = new Queue<DeadLetter>();
  /** The stream's throttle as it stood for the latest batch (undefined: the stream has none). */
  #throttle: PublishThrottle | undefined;
  readonly #transmit = new Queue<IngestFrame>();
  readonly #events = new Queue<IngestEvent>();
  /** Last seq accepted or dead-lettered (what acks report). */
  #doneSeq = 0;
  /** Items taken by read() and not yet reported. */
  #takenSeq = 0;
  /** The highest PublishAck sent. */
  #ackSentSeq = 0;
  /** Where the chunks' priority changed, by first seq, not yet read past (empty while all are NORMAL). */
  readonly #priorityRuns = new Queue<{ readonly fromSeq: number; readonly priority: Priority }>();
  #lastPriority: Priority = Priority.NORMAL;
  #endSeq: number | undefined;

  constructor(options: IngestReceiverOptions = {}) {
    this.options = options;
  }

  /** Where the session is. */
  get state(): IngestState {
    return this.#state;
  }

  /** The PublishOpen, once it arrived. */
  get open(): PublishOpenFrame | undefined {
    return this.#open;
  }

  /** The Opened sent, once accepted. */
  get opened(): OpenedFrame | undefined {
    return this.#opened;
  }

  /** The last seq accepted or dead-lettered in this session (or before it: next_seq - 1). */
  get doneSeq(): number {
    return this.#doneSeq;
  }

  /** Items that arrived and wait to be taken. */
  get buffered(): number {
    return this.#receiver?.buffered ?? 0;
  }

  /** Payload bytes that arrived and wait to be taken. */
  get bufferedBytes(): number {
    return this.#receiver?.bufferedBytes ?? 0;
  }

  /** The latest round trip, once measured. */
  get rttMs(): number | undefined {
    return this.#receiver?.rttMs;
  }

  // ---- inputs ----------------------------------------------------------------

  /** Applies a frame from the publisher; a frame that breaks a rule fails the session with an Error frame. */
  handleFrame(frame: PublishFrame, now: number): void {
    if (this.#state === "closed") return;
    try {
      this.#apply(frame, now);
    } catch (error) {
      if (!(error instanceof SluiceError)) throw error;
      this.fail(error, now);
      return;
    }
    this.#drainReceiver(now);
  }

  /** The stream and publisher are resolved: Opened, and credit for the window. */
  accept(args: IngestAcceptArgs, now: number): boolean {
    if (this.#state === "closed") return false;
    if (this.#state !== "accepting") throw new Error(`accept() while ${this.#state}`);
    const open = this.#open!;
    const limits = { ...(this.options.limits ?? DEFAULT_LIMITS), ...args.limits };
    // The publisher's heartbeat ask is negotiated as a subscriber's is; the window is the server's.
    const accepted = acceptOpen({ type: "open", stream: open.stream, params: {}, window: args.window ?? this.options.window ?? DEFAULT_WINDOW, heartbeatIntervalMs: open.heartbeatIntervalMs, clientInfo: "" }, limits);
    const opened: OpenedFrame = { type: "opened", sessionId: args.sessionId, sessionSecret: EMPTY_BYTES, nextSeq: args.nextSeq, limits: accepted.limits, contentType: "", window: accepted.window };
    const receiver = new StreamReceiver({
      stream: open.stream,
      window: accepted.window,
      peer: "publisher",
      ackDelayMs: this.options.ackDelayMs ?? 5,
      ...(this.options.ackEveryItems !== undefined ? { ackEveryItems: this.options.ackEveryItems } : {}),
    });
    receiver.connect(now);
    receiver.pollTransmit(); // the receiver's Open: the publisher sent PublishOpen
    // The publisher is the data sender here: its PublishOpen says whether it signals held items (§4.5 rule 2).
    receiver.handleFrame(open.signalsHeld ? { ...opened, signalsHeld: true } : opened, now);
    receiver.pollEvent(); // "opened"
    this.#receiver = receiver;
    this.#opened = opened;
    this.#doneSeq = args.nextSeq - 1;
    this.#takenSeq = args.nextSeq - 1;
    this.#ackSentSeq = open.resumeAfterSeq;
    this.#state = "streaming";
    this.#transmit.push(opened);
    // What the publisher may not know: items it sent before that were accepted or dead-lettered.
    if (args.nextSeq - 1 > open.resumeAfterSeq) {
      const deadLetters = (args.deadLetters ?? []).filter((d) => d.seq > open.resumeAfterSeq && d.seq < args.nextSeq);
      this.#transmit.push({ type: "publish_ack", seq: args.nextSeq - 1, deadLetters, afterSeq: open.resumeAfterSeq });
      this.#ackSentSeq = args.nextSeq - 1;
    }
    this.#drainReceiver(now);
    return true;
  }

  /**
   * The next item for the sink, or the publisher's End once every item was
   * taken; undefined when none has arrived. Taking an item grants credit.
   */
  read(now: number): IngestDelivery | undefined {
    const receiver = this.#receiver;
    if (!receiver) return undefined;
    const delivery = receiver.read(now);
    this.#drainReceiver(now);
    if (!delivery) return undefined;
    if (delivery.kind === "item") {
      this.#takenSeq = delivery.seq;
      return { kind: "item", seq: delivery.seq, data: delivery.data, priority: this.#priorityOf(delivery.seq) };
    }
    if (delivery.kind === "end") {
      this.#endSeq = delivery.end.lastSeq;
      this.#finishIfDone();
      return { kind: "end", lastSeq: delivery.end.lastSeq };
    }
    // Gaps never come from a publisher (refused in #apply); an error was already sent as the session's Error.
    return undefined;
  }

  /** The sink accepted every item up to `seq` (taken with read()). */
  accepted(seq: number, now: number): void {
    if (seq > this.#takenSeq) throw new RangeError(`accepted(${seq}) beyond the last item taken ${this.#takenSeq}`);
    if (seq <= this.#doneSeq) return;
    this.#doneSeq = seq;
    this.#receiver?.ack(seq, now);
    this.#drainReceiver(now);
    this.#finishIfDone();
  }

  /** The stream's throttle for the batch being written; every ack from now on carries it (until the next). */
  throttled(throttle: PublishThrottle): void {
    this.#throttle = throttle;
  }

  /** The item `seq` (the next one not yet reported) was refused into the stream; it travels in the next ack. */
  deadLettered(seq: number, reason: string, deadLetterTopic: string, now: number, dropped = false): void {
    if (seq !== this.#doneSeq + 1) throw new RangeError(`deadLettered(${seq}) out of order: the next unreported seq is ${this.#doneSeq + 1}`);
    this.#deadLetters.push(dropped ? { seq, reason, deadLetterTopic: "", dropped } : { seq, reason, deadLetterTopic });
    this.accepted(seq, now);
  }

  /**
   * Ends the session with an error (refused Open, sink failure, drain),
   * after an ack for everything reported so far: the publisher must not
   * send again what the sink already has.
   */
  fail(error: SluiceError, _now: number): void {
    if (this.#state === "closed") return;
    if (this.#state === "streaming" && (this.#doneSeq > this.#ackSentSeq || this.#deadLetters.length > 0)) this.#pushAck(this.#doneSeq);
    this.#transmit.push(error.toFrame());
    this.#close(error);
  }

  /** Handles the deadlines due at `now`. */
  handleTimeout(now: number): void {
    this.#receiver?.handleTimeout(now);
    this.#drainReceiver(now);
  }

  // ---- outputs ---------------------------------------------------------------

  /** The next frame to send, if any. */
  pollTransmit(): IngestFrame | undefined {
    return this.#transmit.shift();
  }

  /** Whether pollTransmit() has a frame. */
  get hasTransmit(): boolean {
    return this.#transmit.length > 0;
  }

  /** The next event, if any. */
  pollEvent(): IngestEvent | undefined {
    return this.#events.shift();
  }

  /** Whether pollEvent() has an event. */
  get hasEvent(): boolean {
    return this.#events.length > 0;
  }

  /** The earliest deadline, if any. */
  pollTimeout(): number | undefined {
    return this.#state === "streaming" ? this.#receiver?.pollTimeout() : undefined;
  }

  // ---- internals -------------------------------------------------------------

  #apply(frame: PublishFrame, now: number): void {
    if (this.#state === "awaiting_open") {
      if (frame.type !== "publish_open") throw new SluiceError("protocol_violation", `${frame.type} before PublishOpen`, { blame: "remote" });
      this.#open = frame;
      this.#state = "accepting";
      this.#events.push({ type: "open", open: frame });
      return;
    }
    switch (frame.type) {
      case "publish_open":
        throw new SluiceError("protocol_violation", "second PublishOpen in one session", { blame: "remote" });
      case "cancel":
        // The publisher gave up: nothing more is acked, nothing is sent back.
        this.#close(undefined);
        return;
      case "chunk":
        if (frame.gap) throw new SluiceError("protocol_violation", `chunk at seq ${frame.firstSeq} carries a gap: a publisher has none to report`, { blame: "remote" });
        if (this.#state !== "streaming") throw new SluiceError("protocol_violation", "chunk before Opened", { blame: "remote" });
        if ((frame.priority ?? Priority.NORMAL) !== this.#lastPriority) {
          this.#lastPriority = frame.priority ?? Priority.NORMAL;
          this.#priorityRuns.push({ fromSeq: frame.firstSeq, priority: this.#lastPriority });
        }
        this.#receiver!.handleFrame(frame, now);
        return;
      case "heartbeat":
        if (this.#state === "streaming") this.#receiver!.handleFrame(frame, now);
        else if (frame.ping !== 0) this.#transmit.push({ type: "heartbeat", ping: 0, pong: frame.ping });
        return;
      case "end":
        if (this.#state !== "streaming") throw new SluiceError("protocol_violation", "end before Opened", { blame: "remote" });
        this.#receiver!.handleFrame(frame, now);
        return;
    }
  }

  /** Moves the receiver's frames and events out, translated to the ingest direction. */
  #drainReceiver(now: number): void {
    const receiver = this.#receiver;
    if (!receiver || this.#state === "closed") return;
    for (let frame = receiver.pollTransmit(); frame; frame = receiver.pollTransmit()) {
      if (frame.type === "credit" || frame.type === "heartbeat") this.#transmit.push(frame);
      else if (frame.type === "ack") this.#pushAck(frame.seq);
    }
    for (let event = receiver.pollEvent(); event; event = receiver.pollEvent()) {
      if (event.type === "rtt") this.#events.push({ type: "rtt", rttMs: event.rttMs });
      // The publisher broke a rule or went silent: a publisher resumes by opening a new session.
      else if (event.type === "session_lost") this.fail(event.error, now);
      else if (event.type === "finished" && event.error) this.fail(event.error, now);
    }
  }

  /** The priority of item `seq`, read in seq order. */
  #priorityOf(seq: number): Priority {
    const runs = this.#priorityRuns;
    if (runs.length === 0) return Priority.NORMAL;
    while (runs.length > 1 && runs.at(1)!.fromSeq <= seq) runs.shift();
    const run = runs.peek()!;
    return run.fromSeq <= seq ? run.priority : Priority.NORMAL;
  }

  #pushAck(seq: number): void {
    const afterSeq = this.#ackSentSeq;
    this.#ackSentSeq = Math.max(this.#ackSentSeq, seq);
    const deadLetters: DeadLetter[] = [];
    while (this.#deadLetters.length > 0 && this.#deadLetters.peek()!.seq <= seq) deadLetters.push(this.#deadLetters.shift()!);
    this.#transmit.push({ type: "publish_ack", seq, deadLetters, afterSeq, ...(this.#throttle ? { throttle: this.#throttle } : {}) });
  }

  /** The publisher ended and every item is reported: the last ack, then End. */
  #finishIfDone(): void {
    if (this.#state !== "streaming" || this.#endSeq === undefined || this.#doneSeq < this.#endSeq) return;
    this.#pushAck(this.#doneSeq);
    this.#transmit.push({ type: "end", lastSeq: this.#endSeq, cursor: EMPTY_BYTES, sessionItems: 0, sessionBytes: 0 });
    this.#close(undefined);
  }

  #close(error: SluiceError | undefined): void {
    this.#state = "closed";
    this.#events.push(error ? { type: "closed", error } : { type: "closed" });
  }
}
