/**
 * Runs one Publisher across as many connections as it takes: the client
 * half of publishing (PROTOCOL.md §3.4). The app calls send(); each returns
 * a promise settled by the item's fate (accepted, dead-lettered, or rejected
 * with the reason). Reconnects use exponential backoff with full jitter, and
 * a circuit breaker stops reconnect storms against a failing server; every
 * unacked item is sent again in the next session, and the server's
 * deduplication by (publisher id, seq) makes that harmless.
 */
import { Backoff, CircuitBreaker, Priority, Publisher, Queue, SluiceError, type BackoffOptions, type CircuitBreakerOptions, type CircuitState, type IngestFrame, type OverflowPolicy, type PublisherEvent, type PublishFrame, type PublishThrottle } from "@sluice/core";
import { systemClock, type Clock } from "./clock.js";
import type { FramePipe } from "./frame-pipe.js";
import { Pump } from "./pump.js";
import { asSluiceError, readInbound, sleep, transportNameOf, type FailedState, type ReconnectingState } from "./reconnect.js";

/** A priority level by name: critical goes first, low is never starved. */
export type PriorityName = "critical" | "high" | "normal" | "low";

const PRIORITY_OF: Record<PriorityName, Priority> = { critical: Priority.CRITICAL, high: Priority.HIGH, normal: Priority.NORMAL, low: Priority.LOW };
const PRIORITY_NAMES: readonly PriorityName[] = ["critical", "high", "normal", "low"];

/** What a {@link Publication} publishes into, how it queues, batches, connects and retries. */
export interface PublicationOptions<T = Uint8Array> {
  /** The stream to publish into. */
  readonly stream: string;
  /** Who publishes (default: a random id per Publication); the server deduplicates by (publisher id, seq). */
  readonly publisherId?: string;
  /** Turns a value into item bytes (default: the value must be a Uint8Array). */
  readonly encode?: (value: T) => Uint8Array;
  /** The outbound queue (default 10 000 items, `block`: send() waits for room). */
  readonly queue?: PublishQueueOptions;
  /** Batching: a chunk goes out at maxItems, maxBytes, or lingerMs after its first item (default 8 192 items, 512 KiB, 1 ms; at most half the server's max frame size). */
  readonly batch?: PublishBatchOptions;
  /** Opens one connection (a fresh Publish call) and returns its frame pipe. */
  connect(signal: AbortSignal): Promise<FramePipe<IngestFrame, PublishFrame>>;
  /** Heartbeat interval to ask for; 0 or absent lets the server choose. */
  readonly heartbeatIntervalMs?: number;
  /** Reconnect delays (default 100 ms doubling to 10 s, attempts unlimited). */
  readonly backoff?: Partial<Omit<BackoffOptions, "random">>;
  /** The circuit breaker around connecting (default DEFAULT_CIRCUIT_BREAKER). */
  readonly breaker?: Partial<CircuitBreakerOptions>;
  /** Uniform in [0, 1) for jitter (default Math.random). */
  readonly random?: () => number;
  /** Time and timers (default systemClock). */
  readonly clock?: Clock;
  /** Aborting cancels the publication: unacked items are rejected. */
  readonly signal?: AbortSignal;
  /** Name of the transport in use, for stats. */
  readonly transportName?: string | (() => string);
}

/** What a send() resolves with: the item is in the stream. */
export interface PublishReceipt {
  /** The item's seq in the publisher's numbering. */
  readonly seq: number;
}

/** Why a send() was rejected. */
export type PublishFailure =
  /** The outbound queue's overflow policy dropped it, or the server's ingest queue's did, or it was over the stream's max item size. */
  | "dropped"
  /** The server refused it into the stream and parked it as a dead letter. */
  | "dead_lettered"
  /** The publication failed (not permitted, unknown stream, gave up reconnecting). */
  | "failed"
  /** The publication was closed or cancelled before the item was accepted. */
  | "closed";

/** The error a send() rejects with: a SluiceError with what became of the item. */
export class PublishError extends SluiceError {
  override readonly name: string = "PublishError";
  /** What became of the item. */
  readonly failure: PublishFailure;
  /** The item's seq, when it was sent (dead letters). */
  readonly seq: number | undefined;
  /** Where a dead letter was parked ("" when nowhere). */
  readonly deadLetterTopic: string;

  constructor(failure: PublishFailure, cause: SluiceError, details: { seq?: number; deadLetterTopic?: string } = {}) {
    super(cause.code, cause.message, { retryable: false, field: cause.field, blame: cause.blame, cause });
    this.failure = failure;
    this.seq = details.seq;
    this.deadLetterTopic = details.deadLetterTopic ?? "";
  }
}

/** Where a publication's connection stands (as a subscription's does); told apart by `state`. */
export type PublicationState =
  /** A Publish call is being opened. */
  | {
      /** Tells the states apart. */
      readonly state: "connecting";
      /** Tries since the last session that got an ack (1 the first). */
      readonly attempt: number;
    }
  /** The server's Opened came. */
  | {
      /** Tells the states apart. */
      readonly state: "open";
      /** The session's id. */
      readonly sessionId: string;
      /** Unacked items sent again in this session. */
      readonly resent: number;
    }
  /** The session was lost; the next try comes after `delayMs`. */
  | ReconnectingState
  /** Final: the publication failed; unacked items were rejected with this error. */
  | FailedState
  /** Final: closed (every item has its fate) or cancelled. */
  | {
      /** Tells the states apart. */
      readonly state: "closed";
    };

/** A publisher's outbound queue: items waiting for credit. */
export interface PublishQueueOptions {
  /** Most items waiting to be sent, over all priorities. */
  readonly capacity?: number;
  /** A full queue: `block` (send waits), `drop_oldest` / `drop_newest` (the dropped send rejects), `error` (send rejects at once). */
  readonly overflow?: OverflowPolicy;
}

/** How a publisher batches items into chunks. */
export interface PublishBatchOptions {
  /** Most items per chunk. */
  readonly maxItems?: number;
  /** Most payload bytes per chunk. */
  readonly maxBytes?: number;
  /** How long the first item of a chunk waits for company. */
  readonly lingerMs?: number;
}

/** The stream's lag throttle as a publisher saw it in its acks. */
export interface PublicationThrottle extends PublishThrottle {
  /** Acks whose batch the throttle delayed. */
  readonly throttledAcks: number;
  /** Changes of state or level seen. */
  readonly adjustments: number;
}

/** Live counters of a {@link Publication}. */
export interface PublicationStats {
  /** Items waiting to be sent, per level. */
  readonly queued: Record<PriorityName, number>;
  /** Items dropped, per level: rejected before they reached the server, or dropped by the server's ingest queue (its overflow policy). */
  readonly dropped: Record<PriorityName, number>;
  /** Items sent and not yet acked. */
  readonly inFlight: number;
  /** Items the server accepted. */
  readonly acked: number;
  /** Items the server dead-lettered. */
  readonly deadLettered: number;
  /** Items sent again after a reconnect. */
  readonly retries: number;
  /** Sessions opened. */
  readonly sessions: number;
  /** Reconnects after a lost session. */
  readonly reconnects: number;
  /**
   * The stream's lag-based throttle as the server's last ack reported it
   * (undefined: the stream has none): its state, backoff level and the
   * last batch's delay; `throttledAcks` counts acks of delayed batches and
   * `adjustments` the changes of state or level seen.
   */
  readonly throttle: PublicationThrottle | undefined;
  /** The circuit breaker around connecting. */
  readonly breaker: CircuitState["kind"];
  /** The last error that ended a session. */
  readonly lastError: string | undefined;
  /** The transport in use. */
  readonly transport: string;
}

interface Pending {
  resolve(receipt: PublishReceipt): void;
  reject(error: PublishError): void;
}

interface Blocked {
  readonly data: Uint8Array;
  readonly priority: Priority;
  readonly pending: Pending;
}

let publisherCount = 0;

/** A random publisher id: 16 bytes, hex, from the platform's crypto (Node and browsers). */
function randomPublisherId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return `p-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}-${++publisherCount}`;
}

/**
 * Publishes into one stream over as many sessions as it takes; send()
 * resolves when the server accepted the item.
 */
export class Publication<T = Uint8Array> {
  /** Who publishes: the id the server deduplicates by. */
  readonly publisherId: string;
  readonly #options: PublicationOptions<T>;
  readonly #clock: Clock;
  readonly #publisher: Publisher<Pending>;
  readonly #pump: Pump<PublishFrame, PublisherEvent<Pending>>;
  readonly #breaker: CircuitBreaker;
  readonly #abort = new AbortController();
  readonly #encode: (value: T) => Uint8Array;
  /** send()s waiting for room under the block policy, in order. */
  readonly #blocked = new Queue<Blocked>();
  #pipe: FramePipe<IngestFrame, PublishFrame> | undefined;
  #lost: SluiceError | undefined;
  #reconnects = 0;
  #lastError: string | undefined;
  #state: PublicationState = { state: "connecting", attempt: 1 };
  readonly #listeners = new Set<(state: PublicationState) => void>();
  #closed: Promise<void> | undefined;
  #finishedResolve!: () => void;
  readonly #finished = new Promise<void>((resolve) => (this.#finishedResolve = resolve));
  #terminal: SluiceError | undefined;
  #flushWaiters: { seq: number; resolve: () => void; reject: (error: SluiceError) => void }[] = [];
  #lastSeqOffered = 0;
  #wakeBackoff: (() => void) | undefined;
  /** send()s waiting for room, per level (for stats). */
  readonly #blockedAt = [0, 0, 0, 0];

  constructor(options: PublicationOptions<T>) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.publisherId = options.publisherId ?? randomPublisherId();
    this.#encode = options.encode ?? ((value: T) => {
      if (!(value instanceof Uint8Array)) throw new TypeError("send() needs a Uint8Array without an encode option (or a codec)");
      return value;
    });
    this.#breaker = new CircuitBreaker(options.breaker);
    const batch = options.batch ?? {};
    this.#publisher = new Publisher<Pending>({
      stream: options.stream,
      publisherId: this.publisherId,
      queue: { capacity: options.queue?.capacity ?? 10_000, overflow: options.queue?.overflow ?? "block" },
      // 512 KiB: a 16 KiB item rides 32 to a chunk (at core's 32 KiB, two), which
      // measured 1.5-2x the items/s; the session caps it to the server's frames.
      chunk: { maxItems: batch.maxItems ?? 8_192, maxBytes: batch.maxBytes ?? 512 * 1024, flushDelayMs: batch.lingerMs ?? 1 },
      ...(options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
    });
    const publisher = this.#publisher;
    this.#pump = new Pump<PublishFrame, PublisherEvent<Pending>>({
      machine: publisher,
      clock: this.#clock,
      onEvent: (event) => this.#onEvent(event),
      send: (frame) => this.#pipe?.send(frame),
      done: () => this.#lost !== undefined || publisher.finished || publisher.session?.state === "closed",
    });
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) queueMicrotask(() => this.cancel("aborted"));
      else signal.addEventListener("abort", () => this.cancel("aborted"), { once: true });
    }
    void this.#run();
  }

  /** Where the connection stands. */
  get state(): PublicationState {
    return this.#state;
  }

  /** Calls `listener` at every change of `state`; returns the function that stops it. */
  onStateChange(listener: (state: PublicationState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Live counters. */
  get stats(): PublicationStats {
    const publisher = this.#publisher;
    const counters = publisher.counters;
    const perLevel = (of: (priority: Priority) => number) => Object.fromEntries(PRIORITY_NAMES.map((name) => [name, of(PRIORITY_OF[name])])) as Record<PriorityName, number>;
    return {
      queued: perLevel((p) => publisher.queuedAt(p) + this.#blockedAt[p]!),
      dropped: perLevel((p) => counters.droppedByLevel[p]),
      inFlight: publisher.inFlight,
      acked: counters.accepted,
      deadLettered: counters.deadLettered,
      retries: counters.resent,
      sessions: counters.sessions,
      reconnects: this.#reconnects,
      throttle: counters.throttle ? { ...counters.throttle, throttledAcks: counters.throttledAcks, adjustments: counters.throttleAdjustments } : undefined,
      breaker: this.#breaker.state(this.#clock.now()).kind,
      lastError: this.#lastError,
      transport: transportNameOf(this.#options.transportName),
    };
  }

  /**
   * Publishes one item: resolves once the server accepted it (its seq),
   * rejects with a PublishError saying what became of it. Under the `block`
   * policy a full queue makes it wait for room first.
   */
  send(value: T, options: { priority?: PriorityName } = {}): Promise<PublishReceipt> {
    if (this.#publisher.finished) return Promise.reject(new PublishError(this.#terminal ? "failed" : "closed", this.#terminal ?? new SluiceError("cancelled", "the publisher is closed")));
    const priority = PRIORITY_OF[options.priority ?? "normal"];
    if (priority === undefined) return Promise.reject(new TypeError(`priority must be one of ${PRIORITY_NAMES.join(", ")}, got ${JSON.stringify(options.priority)}`));
    let data: Uint8Array;
    try {
      data = this.#encode(value);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<PublishReceipt>((resolve, reject) => {
      const pending: Pending = { resolve, reject };
      this.#lastSeqOffered++;
      if (this.#blocked.length > 0) this.#block({ data, priority, pending });
      else this.#offer({ data, priority, pending });
    });
  }

  /** Resolves once every item sent so far has its fate (accepted, dead-lettered or rejected). */
  flush(): Promise<void> {
    if (this.#terminal) return Promise.reject(this.#terminal);
    const publisher = this.#publisher;
    if (publisher.queued === 0 && publisher.inFlight === 0 && this.#blocked.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.#flushWaiters.push({ seq: this.#lastSeqOffered, resolve, reject }));
  }

  /** Sends what is queued, waits for every fate, then ends the session. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.flush().catch(() => undefined);
      this.#publisher.close(this.#clock.now());
      this.#pump.afterInput();
      this.#pump.wake();
      // A publisher with nothing in flight ends at once; one whose session is down ends with it.
      if (!this.#pipe) this.#publisher.cancel("closed", this.#clock.now());
      await this.#finished;
    })();
    return this.#closed;
  }

  /** Gives up now: every item without a fate is rejected as closed. */
  cancel(reason = "cancelled by the application"): void {
    this.#publisher.cancel(reason, this.#clock.now());
    this.#rejectBlocked(new SluiceError("cancelled", reason));
    this.#pump.afterInput();
    this.#pump.wake();
    const at = this.#clock.now() + 1_000;
    this.#clock.schedule(at, () => this.#abort.abort());
  }

  /** Ends a reconnect backoff now. */
  reconnectNow(): void {
    const wake = this.#wakeBackoff;
    this.#wakeBackoff = undefined;
    wake?.();
  }

  #offer(item: Blocked): void {
    const result = this.#publisher.offer(item.data, item.pending, item.priority, this.#clock.now());
    if (result === "blocked") this.#block(item);
    this.#pump.afterInput();
  }

  #block(item: Blocked): void {
    this.#blocked.push(item);
    this.#blockedAt[item.priority]!++;
  }

  #rejectBlocked(error: SluiceError): void {
    for (let blocked = this.#blocked.shift(); blocked; blocked = this.#blocked.shift()) {
      this.#blockedAt[blocked.priority]!--;
      blocked.pending.reject(new PublishError("closed", error));
    }
  }

  #onEvent(event: PublisherEvent<Pending>): void {
    switch (event.type) {
      case "accepted":
        event.token.resolve({ seq: event.seq });
        break;
      case "dead_lettered":
        event.token.reject(new PublishError("dead_lettered", new SluiceError("invalid_argument", `dead-lettered: ${event.reason}`, { blame: "remote" }), { seq: event.seq, deadLetterTopic: event.deadLetterTopic }));
        break;
      case "rejected": {
        const failure: PublishFailure = event.error.code === "limit_exceeded" ? "dropped" : event.error.code === "cancelled" ? "closed" : "failed";
        event.token.reject(new PublishError(failure, event.error));
        break;
      }
      case "space":
        // The waiting send()s go in order, as long as there is room.
        while (this.#blocked.length > 0) {
          const next = this.#blocked.peek()!;
          if (this.#publisher.offer(next.data, next.pending, next.priority, this.#clock.now()) === "blocked") break;
          this.#blocked.shift();
          this.#blockedAt[next.priority]!--;
        }
        break;
      case "opened":
        this.#breaker.onSuccess(this.#clock.now());
        this.#setState({ state: "open", sessionId: event.opened.sessionId, resent: event.resent });
        break;
      case "session_lost":
        this.#lost = event.error;
        break;
      case "finished":
        if (event.error) this.#terminal = event.error;
        break;
    }
    this.#settleFlushes();
  }

  #settleFlushes(): void {
    if (this.#flushWaiters.length === 0) return;
    const publisher = this.#publisher;
    const idle = publisher.queued === 0 && publisher.inFlight === 0 && this.#blocked.length === 0;
    if (!idle && !publisher.finished) return;
    for (const waiter of this.#flushWaiters.splice(0)) {
      if (this.#terminal) waiter.reject(this.#terminal);
      else waiter.resolve();
    }
  }

  #setState(state: PublicationState): void {
    this.#state = state;
    for (const listener of this.#listeners) {
      try {
        listener(state);
      } catch {
        /* the app's bug, not the publication's */
      }
    }
  }

  async #run(): Promise<void> {
    const clock = this.#clock;
    const publisher = this.#publisher;
    const backoff = new Backoff({ ...this.#options.backoff, random: this.#options.random ?? Math.random });
    try {
      while (!publisher.finished && !this.#abort.signal.aborted) {
        // The breaker stops reconnect storms: while open, wait for its cool-down.
        if (!this.#breaker.tryAcquire(clock.now())) {
          const state = this.#breaker.state(clock.now());
          const wait = state.kind === "open" ? Math.max(1, state.until - clock.now()) : 100;
          await sleep(clock, wait, this.#abort.signal);
          continue;
        }
        this.#lost = undefined;
        publisher.connect(clock.now());
        this.#setState({ state: "connecting", attempt: backoff.attempt + 1 });
        let pipe: FramePipe<IngestFrame, PublishFrame> | undefined;
        try {
          pipe = await this.#options.connect(this.#abort.signal);
        } catch (error) {
          publisher.connectionLost(asSluiceError(error), clock.now());
        }
        this.#pipe = pipe;
        if (pipe) this.#readInbound(pipe);
        const ackedAtStart = publisher.ackedSeq;
        await this.#pump.run();
        this.#pipe = undefined;
        const lost = this.#lost as SluiceError | undefined;
        pipe?.close(lost);
        if (publisher.finished) break;
        if (!lost) continue;
        this.#lastError = `${lost.code}: ${lost.message}`;
        this.#breaker.onFailure(clock.now());
        if (publisher.ackedSeq > ackedAtStart) backoff.reset();
        const delay = backoff.next(lost.retryAfterMs);
        if (delay === undefined) {
          publisher.fail(new SluiceError(lost.code, `gave up after ${backoff.attempt} attempts: ${lost.message}`, { retryable: false }), clock.now());
          break;
        }
        this.#reconnects++;
        this.#setState({ state: "reconnecting", attempt: backoff.attempt, delayMs: delay, error: lost });
        await new Promise<void>((resolve) => {
          this.#wakeBackoff = resolve;
          void sleep(clock, delay, this.#abort.signal).then(resolve);
        });
        this.#wakeBackoff = undefined;
      }
    } finally {
      this.#pump.stop();
      // Drain the last events (rejections of a failed publisher).
      for (let event = publisher.pollEvent(); event; event = publisher.pollEvent()) this.#onEvent(event);
      this.#rejectBlocked(this.#terminal ?? new SluiceError("cancelled", "the publication ended"));
      this.#setState(this.#terminal ? { state: "failed", error: this.#terminal } : { state: "closed" });
      this.#settleFlushes();
      this.#finishedResolve();
    }
  }

  /** Feeds one session's inbound frames to the publisher until the pipe ends or is replaced. */
  #readInbound(pipe: FramePipe<IngestFrame, PublishFrame>): void {
    const publisher = this.#publisher;
    const clock = this.#clock;
    readInbound(pipe.inbound, {
      current: () => this.#pipe === pipe,
      frame: (frame) => {
        publisher.handleFrame(frame, clock.now());
        this.#pump.afterInput();
      },
      lost: (error) => publisher.connectionLost(error, clock.now()),
      ended: () => {
        this.#pump.afterInput();
        this.#pump.wake();
      },
    });
  }
}
