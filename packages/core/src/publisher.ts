/**
 * The publishing side of one stream (the client's half of ingest), across
 * all the sessions it takes, sans-IO: the mirror of StreamReceiver.
 *
 * It keeps what must survive a reconnect: the outbound queue (a
 * BoundedPriorityQueue of four levels with its overflow policy), the items
 * sent and not yet acked with their seqs, and the last acked seq. Each
 * `connect()` starts a PublishSender session; when the server's Opened says
 * where the numbering continues, the unacked items from there are sent again
 * (the server deduplicates by publisher id and seq), then the queue drains
 * under the server's credit, highest priority first.
 *
 * Guarantee (PROTOCOL.md §3.4): every item offered is, exactly once,
 * accepted (acked), dead-lettered with a reason, or rejected to the caller
 * with a reason (dropped by the overflow policy, too big, or the publisher
 * failed or was closed before it was sent).
 */
import type { ChunkOptions } from "./chunk-assembler.js";
import { SluiceError } from "./errors.js";
import type { DeadLetter, IngestFrame, OpenedFrame, PublishFrame, PublishThrottle } from "./frames.js";
import { checkItemSize } from "./limits.js";
import { BoundedPriorityQueue, type OverflowPolicy, type Priority } from "./priority-queue.js";
import { PublishSender, type PublishSenderEvent } from "./publish-sender.js";
import { Queue } from "./queue.js";

/** What a {@link Publisher} publishes into, as whom, and how it queues. */
export interface PublisherOptions {
  /** The stream to publish into. */
  readonly stream: string;
  /** Who publishes; the server deduplicates by (publisher id, seq). */
  readonly publisherId: string;
  /** The outbound queue: most items waiting to be sent, and what a full queue does. */
  readonly queue: {
    /** Most items waiting (not yet sent), over all levels. */
    readonly capacity: number;
    /** What an offer to a full queue does. */
    readonly overflow: OverflowPolicy;
    /** Round-robin turns per level (default 8:4:2:1). */
    readonly weights?: readonly [number, number, number, number];
  };
  /** When a chunk closes (the batch: max items, max bytes, linger). */
  readonly chunk?: Partial<ChunkOptions>;
  /** Heartbeat interval to ask for; 0 lets the server choose. */
  readonly heartbeatIntervalMs?: number;
  /** How long a session waits for Opened before it counts as lost. */
  readonly openTimeoutMs?: number;
}

/** What became of one offered item, and of the publisher; drained with pollEvent(); told apart by `type`. */
export type PublisherEvent<T> =
  /** The server accepted the item: it is in the stream. */
  | {
      /** Tells the events apart. */
      readonly type: "accepted";
      /** The token the item was offered with. */
      readonly token: T;
      /** The item's seq. */
      readonly seq: number;
    }
  /** The server refused the item into the stream and parked it as a dead letter. */
  | {
      /** Tells the events apart. */
      readonly type: "dead_lettered";
      /** The token the item was offered with. */
      readonly token: T;
      /** The item's seq. */
      readonly seq: number;
      /** Why. */
      readonly reason: string;
      /** Where it was parked ("" when nowhere). */
      readonly deadLetterTopic: string;
    }
  /** The item never reached the stream: the overflow policy evicted it, it was too big, the publisher ended first, or the server's ingest queue dropped it. */
  | {
      /** Tells the events apart. */
      readonly type: "rejected";
      /** The token the item was offered with. */
      readonly token: T;
      /** Why. */
      readonly error: SluiceError;
    }
  /** The queue has room again (for offers that were blocked). */
  | {
      /** Tells the events apart. */
      readonly type: "space";
    }
  /** A session opened. */
  | {
      /** Tells the events apart. */
      readonly type: "opened";
      /** The server's Opened. */
      readonly opened: OpenedFrame;
      /** Unacked items sent again in this session (the server drops any it already had). */
      readonly resent: number;
    }
  /** The session broke but publishing may go on: wait (backoff, retryAfterMs) and connect() again. */
  | {
      /** Tells the events apart. */
      readonly type: "session_lost";
      /** Why (retryable). */
      readonly error: SluiceError;
    }
  /** Nothing more will happen: closed cleanly (everything acked) or failed for good (`error`; every item left was rejected). */
  | {
      /** Tells the events apart. */
      readonly type: "finished";
      /** Why it failed; absent after a clean close. */
      readonly error?: SluiceError;
    };

/** Counters of a {@link Publisher}, for stats. */
export interface PublisherCounters {
  /** Items accepted by the server. */
  accepted: number;
  /** Items dead-lettered by the server. */
  deadLettered: number;
  /** Items dropped per priority level: rejected before they reached the server (the queue's overflow policy, too big, closed) or dropped by the server's ingest queue. */
  droppedByLevel: [number, number, number, number];
  /** Items sent again after a reconnect. */
  resent: number;
  /** Sessions opened. */
  sessions: number;
  /** The stream's throttle as the last ack reported it (undefined: the stream has none, or no ack came yet). */
  throttle: PublishThrottle | undefined;
  /** Acks whose batch the throttle delayed. */
  throttledAcks: number;
  /** Changes of the throttle's state or level seen in acks. */
  throttleAdjustments: number;
}

interface Sent<T> {
  readonly seq: number;
  readonly data: Uint8Array;
  readonly token: T;
  readonly priority: Priority;
}

interface Waiting<T> {
  readonly data: Uint8Array;
  readonly token: T;
  readonly priority: Priority;
}

/** What {@link Publisher.offer} did: queued, or why not. */
export type PublisherOffer = "queued" | "blocked" | "rejected";

/**
 * The publishing side of one stream as a sans-IO state machine, across its
 * sessions: offer items, connect, feed it the server's frames and the time,
 * drain frames, events and deadlines. The driver's Publication runs it.
 */
export class Publisher<T = unknown> {
  /** The options it was created with. */
  readonly options: PublisherOptions;
  /** What it did, across its sessions. */
  readonly counters: PublisherCounters = { accepted: 0, deadLettered: 0, droppedByLevel: [0, 0, 0, 0], resent: 0, sessions: 0, throttle: undefined, throttledAcks: 0, throttleAdjustments: 0 };
  readonly #queue: BoundedPriorityQueue<Waiting<T>>;
  /** Sent, not yet acked; seqs ascending and contiguous. */
  readonly #unacked = new Queue<Sent<T>>();
  /** Unacked items still to send again in this session, oldest first (an index into #unacked). */
  #resendFrom = 0;
  #session: PublishSender | undefined;
  readonly #events = new Queue<PublisherEvent<T>>();
  /** Last seq the server acked (across sessions). */
  #ackedSeq = 0;
  /** Last seq given to an item. */
  #lastSeq = 0;
  #closing = false;
  #finished = false;
  #wasFull = false;

  constructor(options: PublisherOptions) {
    this.options = options;
    this.#queue = new BoundedPriorityQueue({ capacity: options.queue.capacity, policy: options.queue.overflow, ...(options.queue.weights ? { weights: options.queue.weights } : {}) });
  }

  /** Items waiting to be sent. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Items waiting at one level. */
  queuedAt(priority: Priority): number {
    return this.#queue.sizeOf(priority);
  }

  /** Items sent and not yet acked. */
  get inFlight(): number {
    return this.#unacked.length;
  }

  /** The last seq the server acked. */
  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  /** The current session, if one is open or opening. */
  get session(): PublishSender | undefined {
    return this.#session;
  }

  /** Whether the publisher is done (closed or failed). */
  get finished(): boolean {
    return this.#finished;
  }

  // ---- inputs ----------------------------------------------------------------

  /**
   * Offers an item. "queued": it will be sent (its fate comes as an event);
   * "blocked": the queue is full under the `block` policy, offer again after
   * a "space" event; "rejected": dropped now (a "rejected" event says why).
   * An item evicted to make room is rejected with an event too.
   */
  offer(data: Uint8Array, token: T, priority: Priority, now: number): PublisherOffer {
    if (this.#finished || this.#closing) {
      this.#reject({ data, token, priority }, new SluiceError("cancelled", "the publisher is closed"));
      return "rejected";
    }
    const limit = this.#session?.opened?.limits.maxItemBytes;
    if (limit !== undefined && data.byteLength > limit) {
      this.#reject({ data, token, priority }, new SluiceError("limit_exceeded", `item of ${data.byteLength} bytes is over the stream's max item size ${limit}`));
      return "rejected";
    }
    let result;
    try {
      result = this.#queue.offer({ data, token, priority }, priority);
    } catch (error) {
      // The `error` overflow policy: the caller is told at once.
      this.#reject({ data, token, priority }, error instanceof SluiceError ? error : new SluiceError("limit_exceeded", String(error)));
      return "rejected";
    }
    switch (result.kind) {
      case "accepted":
        break;
      case "accepted_evicted":
        this.#reject(result.evicted, new SluiceError("limit_exceeded", `dropped by the queue's drop_oldest policy (capacity ${this.options.queue.capacity}) for a newer item`));
        break;
      case "dropped":
        this.#reject({ data, token, priority }, new SluiceError("limit_exceeded", `dropped by the queue's ${this.options.queue.overflow} policy: the queue is full (capacity ${this.options.queue.capacity})`));
        return "rejected";
      case "blocked":
        this.#wasFull = true;
        return "blocked";
    }
    this.#fill(now);
    return "queued";
  }

  /** Starts a session: PublishOpen with the last acked seq. */
  connect(now: number): void {
    if (this.#finished) throw new Error("connect() after the publisher finished");
    if (this.#session && this.#session.state !== "closed") throw new Error(`connect() while a session is ${this.#session.state}`);
    this.#session = new PublishSender({
      stream: this.options.stream,
      publisherId: this.options.publisherId,
      resumeAfterSeq: this.#ackedSeq,
      ...(this.options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: this.options.heartbeatIntervalMs } : {}),
      ...(this.options.chunk ? { chunk: this.options.chunk } : {}),
      ...(this.options.openTimeoutMs !== undefined ? { openTimeoutMs: this.options.openTimeoutMs } : {}),
    });
    this.#session.connect(now);
  }

  /** A frame from the server. */
  handleFrame(frame: IngestFrame, now: number): void {
    this.#session?.handleFrame(frame, now);
    this.#drain(now);
  }

  /** The transport failed. */
  connectionLost(error: SluiceError, now: number): void {
    this.#session?.connectionLost(error, now);
    this.#drain(now);
  }

  /** Deadlines due. */
  handleTimeout(now: number): void {
    this.#session?.handleTimeout(now);
    this.#drain(now);
  }

  /** Sends what is queued, then ends: "finished" once the server acked everything. */
  close(now: number): void {
    if (this.#finished) return;
    this.#closing = true;
    this.#fill(now);
    this.#maybeEnd(now);
  }

  /** Gives up at once: every item not yet acked is rejected. */
  cancel(reason: string, now: number): void {
    if (this.#finished) return;
    this.#session?.cancel(reason, now);
    this.#fail(new SluiceError("cancelled", reason));
  }

  /** Fails for good (the caller's reconnect policy gave up): every item not yet acked is rejected with `error`. */
  fail(error: SluiceError, now: number): void {
    if (this.#finished) return;
    this.#session?.cancel(error.message, now);
    this.#fail(error);
  }

  // ---- outputs ---------------------------------------------------------------

  /** The next frame to send, if any. */
  pollTransmit(): PublishFrame | undefined {
    return this.#session?.pollTransmit();
  }

  /** Whether pollTransmit() has a frame. */
  get hasTransmit(): boolean {
    return this.#session?.hasTransmit ?? false;
  }

  /** The next event, if any. */
  pollEvent(): PublisherEvent<T> | undefined {
    return this.#events.shift();
  }

  /** Whether pollEvent() has an event. */
  get hasEvent(): boolean {
    return this.#events.length > 0;
  }

  /** The earliest deadline, if any. */
  pollTimeout(): number | undefined {
    return this.#session?.pollTimeout();
  }

  // ---- internals -------------------------------------------------------------

  #drain(now: number): void {
    const session = this.#session;
    if (!session) return;
    for (let event = session.pollEvent(); event; event = session.pollEvent()) this.#onSessionEvent(event, now);
    this.#fill(now);
    this.#maybeEnd(now);
  }

  #onSessionEvent(event: PublishSenderEvent, now: number): void {
    switch (event.type) {
      case "opened":
        return this.#onOpened(event.opened, now);
      case "acked":
        if (event.throttle) this.#onThrottle(event.throttle);
        return this.#onAcked(event.seq, event.deadLetters);
      case "closed": {
        this.#resendFrom = 0;
        if (this.#finished) return;
        if (!event.error) {
          if (this.#closing && this.#queue.size === 0 && this.#unacked.length === 0) this.#finish(undefined);
          else this.#events.push({ type: "session_lost", error: new SluiceError("unavailable", "the server ended the publish session", { retryable: true }) });
        } else if (event.error.retryable) this.#events.push({ type: "session_lost", error: event.error });
        else this.#fail(event.error);
        return;
      }
      case "credit":
      case "rtt":
        return;
    }
  }

  /** An Opened that cannot be right: nothing sent in it could be trusted, so the publisher fails. */
  #refuseOpened(message: string, now: number): void {
    this.#session!.cancel(message, now);
    this.#fail(new SluiceError("protocol_violation", message, { blame: "remote" }));
  }

  #onOpened(opened: OpenedFrame, now: number): void {
    this.counters.sessions++;
    const next = opened.nextSeq;
    if (this.#unacked.length === 0 && this.#lastSeq === this.#ackedSeq) {
      // Nothing in flight: the numbering continues where the server says
      // (a publisher id that published before, in another process).
      if (next <= this.#ackedSeq) return this.#refuseOpened(`opened.next_seq ${next} is at or below the acked seq ${this.#ackedSeq}: the server lost items it acked`, now);
      this.#ackedSeq = next - 1;
      this.#lastSeq = next - 1;
    } else {
      if (next <= this.#ackedSeq || next > this.#lastSeq + 1) {
        return this.#refuseOpened(`opened.next_seq ${next} is outside the unacked seqs ${this.#ackedSeq + 1}..${this.#lastSeq + 1}: does another publisher use the id ${JSON.stringify(this.options.publisherId)}?`, now);
      }
      // Items before next_seq reached the server: the session's first ack tells their fate. The rest go again.
    }
    let reached = 0;
    while (reached < this.#unacked.length && this.#unacked.at(reached)!.seq < next) reached++;
    this.#resendFrom = reached;
    const resent = this.#unacked.length - reached;
    this.counters.resent += resent;
    this.#events.push({ type: "opened", opened, resent });
  }

  #onThrottle(throttle: PublishThrottle): void {
    const before = this.counters.throttle;
    if (before && (before.state !== throttle.state || before.level !== throttle.level)) this.counters.throttleAdjustments++;
    if (throttle.delayMs > 0) this.counters.throttledAcks++;
    this.counters.throttle = throttle;
  }

  #onAcked(seq: number, deadLetters: readonly DeadLetter[]): void {
    const dead = new Map(deadLetters.map((d) => [d.seq, d]));
    while (this.#unacked.length > 0 && this.#unacked.peek()!.seq <= seq) {
      const sent = this.#unacked.shift()!;
      if (this.#resendFrom > 0) this.#resendFrom--;
      const letter = dead.get(sent.seq);
      if (letter?.dropped) {
        // The server's ingest queue dropped it (its overflow policy): a drop, like the client queue's, not a dead letter.
        this.#reject(sent, new SluiceError("limit_exceeded", `dropped by the server: ${letter.reason}`));
      } else if (letter) {
        this.counters.deadLettered++;
        this.#events.push({ type: "dead_lettered", token: sent.token, seq: sent.seq, reason: letter.reason, deadLetterTopic: letter.deadLetterTopic });
      } else {
        this.counters.accepted++;
        this.#events.push({ type: "accepted", token: sent.token, seq: sent.seq });
      }
    }
    if (seq > this.#ackedSeq) this.#ackedSeq = seq;
  }

  /** Pushes unacked items again, then queued ones, while the session has demand. */
  #fill(now: number): void {
    const session = this.#session;
    if (!session || session.state !== "streaming") return;
    while (session.demand > 0) {
      if (this.#resendFrom < this.#unacked.length) {
        const sent = this.#unacked.at(this.#resendFrom)!;
        if (sent.seq !== session.nextSeq) throw new Error(`resend of seq ${sent.seq} where the session expects ${session.nextSeq}`);
        session.push(sent.data, now, sent.priority);
        this.#resendFrom++;
        continue;
      }
      const next = this.#queue.poll();
      if (!next) break;
      try {
        checkItemSize(session.nextSeq, next.data.byteLength, session.limits.maxItemBytes);
      } catch (error) {
        this.#reject(next, error as SluiceError);
        continue;
      }
      const seq = session.nextSeq;
      session.push(next.data, now, next.priority);
      this.#lastSeq = seq;
      this.#unacked.push({ seq, data: next.data, token: next.token, priority: next.priority });
      this.#resendFrom = this.#unacked.length;
    }
    if (this.#wasFull && this.#queue.size < this.options.queue.capacity) {
      this.#wasFull = false;
      this.#events.push({ type: "space" });
    }
  }

  /** Closing, and everything is sent: End the session (the server answers End once all is acked). */
  #maybeEnd(now: number): void {
    const session = this.#session;
    if (!this.#closing || this.#finished || !session || session.state !== "streaming") return;
    if (this.#queue.size === 0 && this.#resendFrom >= this.#unacked.length) session.end(now);
  }

  #reject(item: Waiting<T>, error: SluiceError): void {
    this.counters.droppedByLevel[item.priority]++;
    this.#events.push({ type: "rejected", token: item.token, error });
  }

  #fail(error: SluiceError): void {
    if (this.#finished) return;
    for (let sent = this.#unacked.shift(); sent; sent = this.#unacked.shift()) this.#events.push({ type: "rejected", token: sent.token, error });
    for (let waiting = this.#queue.poll(); waiting; waiting = this.#queue.poll()) this.#reject(waiting, error);
    this.#finish(error);
  }

  #finish(error: SluiceError | undefined): void {
    this.#finished = true;
    this.#events.push(error ? { type: "finished", error } : { type: "finished" });
  }
}

