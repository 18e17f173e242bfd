/**
 * Runs one StreamReceiver across as many connections as it takes: the client
 * half of a subscription. The app iterates; pulling is what grants credit,
 * finishing an iteration step acks the item (or the app acks by hand);
 * reconnects use exponential backoff with full jitter and resume after the
 * last acked seq, and the app sees every item once, in order, with explicit
 * gap events where the server's policy dropped items.
 */
import { Backoff, SluiceError, StreamReceiver, type BackoffOptions, type ClientFrame, type Gap, type JsonObject, type ReceiverEvent, type ResumeResult, type ServerFrame, type Window } from "@sluice/core";
import { systemClock, type Clock } from "./clock.js";
import type { FramePipe } from "./frame-pipe.js";
import { Pump } from "./pump.js";
import { asSluiceError, readInbound, sleep, transportNameOf, type FailedState, type ReconnectingState } from "./reconnect.js";
import { WakeSignal } from "./wake-signal.js";

/** What a {@link Subscription} subscribes to, how it connects and decodes, and how it retries. */
export interface SubscriptionOptions<T = Uint8Array> {
  /** Turns item bytes into the value the app sees (default: the bytes). */
  readonly decode?: (data: Uint8Array) => T;
  /** Name of the stream on the server. */
  readonly stream: string;
  /** The stream's parameters (default none). */
  readonly params?: JsonObject;
  /** The window to ask for; absent: the stream's default, which Opened announces. */
  readonly window?: Window;
  /** Heartbeat interval to ask the server for; 0 or absent lets it choose. */
  readonly heartbeatIntervalMs?: number;
  /** Start after this seq (and the source's cursor for it, if known) instead of wherever the stream is: the first Open resumes there. */
  readonly startAfter?: {
    /** The last seq taken as processed; the first Open resumes after it. */
    readonly seq: number;
    /** The source's cursor at or before `seq`, if the app kept one. */
    readonly cursor?: Uint8Array;
    /** The seq `cursor` belongs to (default `seq`). */
    readonly cursorSeq?: number;
  };
  /** Opens one connection (a fresh call) and returns its frame pipe. */
  connect(signal: AbortSignal): Promise<FramePipe<ServerFrame, ClientFrame>>;
  /** Ack each item when the app asks for the next one (default), or only via item.ack(). */
  readonly autoAck?: boolean;
  /** Reconnect delays (default 100 ms doubling to 10 s, attempts unlimited). */
  readonly backoff?: Partial<Omit<BackoffOptions, "random">>;
  /** Uniform in [0, 1) for the backoff's jitter (default Math.random; tests pass a seeded one). */
  readonly random?: () => number;
  /** Time and timers (default systemClock; tests pass a virtual clock). */
  readonly clock?: Clock;
  /** Aborting cancels the subscription. */
  readonly signal?: AbortSignal;
  /**
   * Called once when the subscription is over: its iteration ended (end,
   * error, cancel), or it was cancelled before it was iterated. Clients use
   * it to forget subscriptions they track.
   */
  readonly onFinished?: () => void;
  /** Told every change of `state` (see SubscriptionState); more listeners with onStateChange(). */
  readonly onState?: (state: SubscriptionState) => void;
  /** Local cap on an item's size; the server's limit applies too. */
  readonly maxItemBytes?: number;
  /** Sent in Open for the server's logs (default "sluice-driver"). */
  readonly clientInfo?: string;
  /** Name of the transport in use, for stats. */
  readonly transportName?: string | (() => string);
}

/** One item as the app sees it. A class, not a literal with a closure: one allocation per item. */
export class SubscriptionItem<T = Uint8Array> {
  /** Tells items from gaps. */
  readonly kind = "item" as const;
  /** The item's position in the stream. */
  readonly seq: number;
  /** The item's payload as received. */
  readonly data: Uint8Array;
  /** The payload decoded (the bytes themselves without a decoder). */
  readonly value: T;
  /** The subject it was published to, on a stream named by a subject pattern (`sensors.*.temp`, PROTOCOL.md §7.10); undefined otherwise. */
  readonly subject: string | undefined;
  readonly #owner: Subscription<T>;

  constructor(owner: Subscription<T>, seq: number, data: Uint8Array, value: T, subject?: string) {
    this.#owner = owner;
    this.seq = seq;
    this.data = data;
    this.value = value;
    this.subject = subject;
  }

  /** Marks this item (and everything before it) processed. */
  ack(): void {
    this.#owner.ack(this.seq);
  }
}

/** Seqs [fromSeq, fromSeq + count) were dropped by the server's policy. */
export interface SubscriptionGap {
  /** Tells gaps from items. */
  readonly kind: "gap";
  /** First dropped seq. */
  readonly fromSeq: number;
  /** How many consecutive seqs were dropped. */
  readonly count: number;
  /** Why the server dropped them. */
  readonly reason: Gap["reason"];
}

/** What iterating a subscription yields, in seq order: an item or a gap. */
export type SubscriptionEvent<T = Uint8Array> = SubscriptionItem<T> | SubscriptionGap;

/**
 * Where a subscription's connection stands, as Socket.IO's connection events
 * tell it: `connecting` (a call is being opened; `attempt` counts the tries
 * since the last session that delivered, 1 the first), `open` (the server's
 * Opened came), `resumed` (an Opened after a reconnect, with how the resume
 * went), `reconnecting` (the session was lost: which retry comes next, 1 the
 * first, the backoff delay before it and the error that ended the session),
 * `failed` (final: the error iteration throws) and `closed` (the stream
 * ended, or was cancelled).
 */
export type SubscriptionState =
  /** Not iterated yet: no call has been made. */
  | {
      /** Tells the states apart. */
      readonly state: "idle";
    }
  /** A call is being opened. */
  | {
      /** Tells the states apart. */
      readonly state: "connecting";
      /** Tries since the last session that delivered (1 the first). */
      readonly attempt: number;
      /** The transport the call goes over. */
      readonly transport: string;
    }
  /** The server's Opened came. */
  | {
      /** Tells the states apart. */
      readonly state: "open";
      /** The new session's id. */
      readonly sessionId: string;
      /** The transport the session runs over. */
      readonly transport: string;
    }
  /** An Opened after a reconnect. */
  | {
      /** Tells the states apart. */
      readonly state: "resumed";
      /** The new session's id. */
      readonly sessionId: string;
      /** The transport the session runs over. */
      readonly transport: string;
      /** How the resume went (Opened.resume). */
      readonly resume: ResumeResult;
    }
  /** The session was lost; a retry follows after the delay. */
  | ReconnectingState
  /** Final: the stream failed. */
  | FailedState
  /** Final: the stream ended, or was cancelled. */
  | {
      /** Tells the states apart. */
      readonly state: "closed";
      /** Which of the two. */
      readonly reason: "ended" | "cancelled";
    };

/** What a subscription did so far, across its sessions: kept current as it runs. */
export interface SubscriptionStats {
  /** Items delivered to the app. */
  items: number;
  /** Payload bytes of those items. */
  bytes: number;
  /** Gaps delivered to the app. */
  gaps: number;
  /** Seqs those gaps covered. */
  itemsSkippedByGaps: number;
  /** Reconnects after a lost session. */
  reconnects: number;
  /** Sessions started (calls made). */
  sessions: number;
  /** The latest heartbeat round trip, in milliseconds; undefined until one was measured. */
  rttMs: number | undefined;
  /** Times the app had nothing to read while the stream was open (waiting on the network). */
  waits: number;
  /** Times the receive window filled up, so the server had to stop (the app was the bottleneck). */
  creditStalls: number;
  /** Credit frames sent, all sessions (PROTOCOL.md §4.5): at the grant threshold, or on a drain the sender asked for. */
  readonly creditsSent: number;
  /** Ack frames sent, all sessions (§7.2). */
  readonly acksSent: number;
  /** Total time the window was full, in ms. */
  creditStallMs: number;
  /** The last error that ended a session, as "code: message"; undefined until one did. */
  lastError: string | undefined;
  /** The transport in use (see `transportName`). */
  transport: string;
  /** The window in force (announced by the server in Opened); undefined until the first session opens. */
  window: Window | undefined;
  /**
   * How the last resume went (Opened.resume, PROTOCOL.md §7.7): the seq asked
   * for, the first seq of the new session, how many items the server re-read
   * or re-sent to honour it, and the gap it could not fill, if any.
   * Undefined until a session has resumed.
   */
  lastResume: ResumeResult | undefined;
  /** Sessions opened with a resume position. */
  resumes: number;
}

/**
 * The client half of one subscription: iterate it for items and gaps in order.
 * It connects, grants credit as the app pulls, acks, and resumes after the last
 * acked seq when a session is lost.
 */
export class Subscription<T = Uint8Array> implements AsyncIterable<SubscriptionEvent<T>> {
  /** Live statistics, updated as the subscription runs. */
  readonly stats: SubscriptionStats;
  readonly #options: SubscriptionOptions<T>;
  readonly #decode: (data: Uint8Array) => T;
  readonly #clock: Clock;
  readonly #receiver: StreamReceiver;
  readonly #wakeApp = new WakeSignal();
  readonly #abort = new AbortController();
  #started = false;
  #terminal: SluiceError | undefined;
  #runnerDone = false;
  #pendingAck = 0;
  #stalledSince: number | undefined;
  #wakeBackoff: (() => void) | undefined;
  readonly #autoAck: boolean;
  readonly #pump: Pump<ClientFrame, ReceiverEvent>;
  /** The current session's pipe, and what ended it. */
  #pipe: FramePipe<ServerFrame, ClientFrame> | undefined;
  #lost: SluiceError | undefined;
  #inboundEnded = false;
  #state: SubscriptionState = { state: "idle" };
  readonly #stateListeners = new Set<(state: SubscriptionState) => void>();
  #cancelled = false;

  constructor(options: SubscriptionOptions<T>) {
    this.#options = options;
    this.#decode = options.decode ?? ((data) => data as T);
    this.#autoAck = options.autoAck ?? true;
    this.#clock = options.clock ?? systemClock;
    this.#receiver = new StreamReceiver({
      stream: options.stream,
      params: options.params ?? {},
      // No window: the server's default for the stream (PROTOCOL.md §4.1).
      window: options.window,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 0,
      ...(options.maxItemBytes ? { maxItemBytes: options.maxItemBytes } : {}),
      clientInfo: options.clientInfo ?? "sluice-driver",
      ...(options.startAfter ? { startAfter: options.startAfter } : {}),
    });
    const receiver = this.#receiver;
    this.#pump = new Pump<ClientFrame, ReceiverEvent>({
      machine: receiver,
      clock: this.#clock,
      onEvent: (event) => {
        if (event.type === "rtt") this.stats.rttMs = event.rttMs;
        else if (event.type === "opened") {
          this.stats.window = receiver.window;
          const { sessionId, resume } = event.opened;
          if (resume) {
            this.stats.lastResume = resume;
            this.stats.resumes++;
          }
          const transport = this.stats.transport;
          // "resumed" is a reconnect's Opened; a first session opened at a position is just open.
          this.#setState(resume && this.stats.sessions > 1 ? { state: "resumed", sessionId, transport, resume } : { state: "open", sessionId, transport });
        }
        else if (event.type === "session_lost") this.#lost = event.error;
        else if (event.type === "finished" && event.error) this.#setState({ state: "failed", error: event.error });
      },
      // Frames queued while no connection is up are dropped: the next session starts with Open.
      send: (frame) => this.#pipe?.send(frame),
      done: () => {
        this.#wakeApp.notify();
        if (this.#lost || receiver.finished || receiver.state === "idle") return true;
        return this.#inboundEnded && receiver.state === "cancelling";
      },
    });
    const counters = receiver.counters;
    this.stats = {
      items: 0,
      bytes: 0,
      gaps: 0,
      itemsSkippedByGaps: 0,
      reconnects: 0,
      sessions: 0,
      rttMs: undefined,
      waits: 0,
      creditStalls: 0,
      get creditsSent() {
        return counters.creditFrames;
      },
      get acksSent() {
        return counters.acks;
      },
      creditStallMs: 0,
      lastError: undefined,
      transport: transportNameOf(options.transportName),
      window: undefined,
      lastResume: undefined,
      resumes: 0,
    };
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) this.cancel("aborted");
      else signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  readonly #onAbort = () => this.cancel("aborted");
  #finished = false;

  /** Once: lets go of the caller's signal (one signal may serve many subscriptions) and tells onFinished. */
  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#state.state !== "failed") this.#setState({ state: "closed", reason: this.#cancelled ? "cancelled" : "ended" });
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
    this.#options.onFinished?.();
  }

  /** Last seq acked (processed). */
  get ackedSeq(): number {
    return this.#receiver.ackedSeq;
  }

  /** Where the connection stands now (see SubscriptionState). */
  get state(): SubscriptionState {
    return this.#state;
  }

  /** Calls `listener` at every change of `state`; returns the function that stops it. */
  onStateChange(listener: (state: SubscriptionState) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  #setState(state: SubscriptionState): void {
    this.#state = state;
    // A listener that throws must not break the stream.
    try {
      this.#options.onState?.(state);
    } catch {
      /* the app's bug, not the stream's */
    }
    for (const listener of this.#stateListeners) {
      try {
        listener(state);
      } catch {
        /* as above */
      }
    }
  }

  /**
   * Ends a reconnect backoff now (e.g. the browser came back online). No-op
   * while a session is up.
   */
  reconnectNow(): void {
    const wake = this.#wakeBackoff;
    this.#wakeBackoff = undefined;
    wake?.();
  }

  /** Stops the stream: the server stops its source. Iteration ends. */
  cancel(reason = "cancelled by the application"): void {
    this.#cancelled = true;
    this.#receiver.cancel(reason, this.#clock.now());
    this.#pump.afterInput();
    this.#wakeApp.notify();
    // Give the Cancel frame a moment to leave, then tear the call down.
    const at = this.#clock.now() + 1_000;
    this.#clock.schedule(at, () => this.#abort.abort());
    // Never iterated: there is no run to end, so it is over now.
    if (!this.#started) this.#finish();
  }

  /**
   * A hand-written iterator rather than an async generator: when items are
   * buffered, next() resolves at once without the generator's extra promise
   * hops, which is most of the per-item cost at a million items per second.
   */
  [Symbol.asyncIterator](): AsyncIterator<SubscriptionEvent<T>> {
    if (this.#started) throw new Error("a Subscription can be iterated once");
    this.#started = true;
    // A bug in the loop must fail this subscription, never the process (an unhandled rejection).
    void this.#run().catch((error: unknown) => {
      this.#terminal = new SluiceError("internal", `the subscription's loop failed: ${(error as Error).message}`, { cause: error });
      this.#setState({ state: "failed", error: this.#terminal });
      this.#wakeApp.notify();
    });
    return {
      next: () => this.#tryNext() ?? this.#nextSlow(),
      return: async () => {
        this.#stop(false);
        return { done: true, value: undefined };
      },
    };
  }

  /** Marks everything up to `seq` processed. */
  ack(seq: number): void {
    if (seq > this.#receiver.ackedSeq && seq <= this.#receiver.deliveredSeq) {
      this.#receiver.ack(seq, this.#clock.now());
      // Acks are coalesced: sent now if one is due, else at the ack deadline the pump arms.
      this.#pump.afterInput();
    }
  }

  /** The next event if one is ready (or the end), else undefined. */
  #tryNext(): Promise<IteratorResult<SubscriptionEvent<T>>> | undefined {
    if (this.#autoAck && this.#pendingAck > 0) {
      this.ack(this.#pendingAck);
      this.#pendingAck = 0;
    }
    const delivery = this.#receiver.read(this.#clock.now());
    if (!delivery) {
      if (this.#terminal) {
        this.#stop(true);
        return Promise.reject(this.#terminal);
      }
      if (this.#receiver.finished || this.#runnerDone) {
        this.#stop(true);
        return Promise.resolve({ done: true, value: undefined });
      }
      return undefined;
    }
    this.#pump.afterInput(); // a credit or ack to send, or an ack deadline
    if (this.#stalledSince !== undefined) this.#trackStall();
    switch (delivery.kind) {
      case "item": {
        this.stats.items++;
        this.stats.bytes += delivery.data.byteLength;
        if (this.#autoAck) this.#pendingAck = delivery.seq;
        return Promise.resolve({ done: false, value: new SubscriptionItem(this, delivery.seq, delivery.data, this.#decode(delivery.data), delivery.subject) });
      }
      case "gap": {
        const gap = delivery.gap;
        this.stats.gaps++;
        this.stats.itemsSkippedByGaps += gap.count;
        return Promise.resolve({ done: false, value: { kind: "gap", fromSeq: gap.fromSeq, count: gap.count, reason: gap.reason } });
      }
      case "end":
        this.#stop(true);
        return Promise.resolve({ done: true, value: undefined });
      case "error":
        this.#stop(true);
        return Promise.reject(delivery.error);
    }
  }

  /** Credit-stall bookkeeping: starts when the window fills, ends at the next grant. */
  #trackStall(): void {
    const full = this.#receiver.windowFull;
    if (full && this.#stalledSince === undefined) {
      this.#stalledSince = this.#clock.now();
      this.stats.creditStalls++;
    } else if (!full && this.#stalledSince !== undefined) {
      this.stats.creditStallMs += this.#clock.now() - this.#stalledSince;
      this.#stalledSince = undefined;
    }
  }

  async #nextSlow(): Promise<IteratorResult<SubscriptionEvent<T>>> {
    for (;;) {
      this.stats.waits++;
      await this.#wakeApp.wait();
      const result = this.#tryNext();
      if (result) return result;
    }
  }

  /** Ends iteration: a normal end tears the call down, an early stop cancels the stream. */
  #stop(completed: boolean): void {
    if (!completed && !this.#receiver.finished) this.cancel("iteration stopped");
    else this.#abort.abort();
    // The app has seen the end: the state says so now, not once the runner
    // has wound down (a transport that delivers the end sooner made the
    // difference visible).
    if (completed) this.#finish();
  }

  async #run(): Promise<void> {
    const clock = this.#clock;
    const receiver = this.#receiver;
    const backoff = new Backoff({ ...this.#options.backoff, random: this.#options.random ?? Math.random });
    try {
      while (!receiver.finished && !this.#abort.signal.aborted) {
        if (receiver.state === "opening" || receiver.state === "streaming") {
          // A session the machine still holds while the last one ended: seen
          // once under load with endpoint lists and instances killed and
          // drained (cause not found yet). It is lost, and the loop goes on,
          // rather than connect() throwing out of the subscription.
          receiver.connectionLost(new SluiceError("unavailable", "the previous session ended without a cause"), clock.now());
          for (let event = receiver.pollEvent(); event !== undefined; event = receiver.pollEvent()) if (event.type === "session_lost") this.stats.lastError = `${event.error.code}: ${event.error.message}`;
        }
        receiver.connect(clock.now());
        this.stats.sessions++;
        this.#setState({ state: "connecting", attempt: backoff.attempt + 1, transport: this.stats.transport });
        const deliveredAtStart = receiver.deliveredSeq;
        this.#lost = undefined;
        this.#inboundEnded = false;
        let pipe: FramePipe<ServerFrame, ClientFrame> | undefined;
        try {
          pipe = await this.#options.connect(this.#abort.signal);
          // The connect function may have switched transports (fallback).
          this.stats.transport = transportNameOf(this.#options.transportName);
        } catch (error) {
          receiver.connectionLost(asSluiceError(error), clock.now());
        }
        this.#pipe = pipe;
        if (pipe?.ackDelayMs !== undefined) receiver.paceAcks(pipe.ackDelayMs);
        if (pipe) this.#readInbound(pipe);
        // Drive this session until it ends.
        await this.#pump.run();
        this.#pipe = undefined;
        const lost = this.#lost as SluiceError | undefined;
        // The loss goes to the pipe: one that died of silence takes its
        // connection with it (PROTOCOL.md §6), so the next session dials anew.
        pipe?.close(lost);
        if (!lost) continue;
        this.stats.lastError = `${lost.code}: ${lost.message}`;
        if (!lost.retryable) {
          this.#terminal = lost;
          this.#setState({ state: "failed", error: lost });
          break;
        }
        // Only a session that got the stream further counts as a success: a
        // source that fails right after every Open must not retry forever at
        // the initial delay.
        if (receiver.deliveredSeq > deliveredAtStart) backoff.reset();
        const delay = backoff.next(lost.retryAfterMs);
        if (delay === undefined) {
          this.#terminal = new SluiceError(lost.code, `gave up after ${backoff.attempt} attempts: ${lost.message}`, { retryable: false });
          this.#setState({ state: "failed", error: this.#terminal });
          break;
        }
        this.stats.reconnects++;
        this.#setState({ state: "reconnecting", attempt: backoff.attempt, delayMs: delay, error: lost });
        await new Promise<void>((resolve) => {
          this.#wakeBackoff = resolve;
          void sleep(clock, delay, this.#abort.signal).then(resolve);
        });
        this.#wakeBackoff = undefined;
      }
    } finally {
      this.#pump.stop();
      this.#runnerDone = true;
      this.#wakeApp.notify();
      this.#finish();
    }
  }

  /** Feeds one session's inbound frames to the receiver until the pipe ends or is replaced. */
  #readInbound(pipe: FramePipe<ServerFrame, ClientFrame>): void {
    const receiver = this.#receiver;
    const clock = this.#clock;
    readInbound(pipe.inbound, {
      current: () => this.#pipe === pipe,
      frame: (frame) => {
        receiver.handleFrame(frame, clock.now());
        this.#trackStall();
        this.#pump.afterInput();
        // A heartbeat brings the app nothing to read (a session it breaks is the runner's to resume): waking the
        // app's reader for each would cost every idle subscription a wake-up per interval.
        if (frame.type !== "heartbeat") this.#wakeApp.notify();
      },
      lost: (error) => receiver.connectionLost(error, clock.now()),
      ended: () => {
        this.#inboundEnded = true;
        this.#pump.afterInput();
        this.#pump.wake();
        this.#wakeApp.notify();
      },
    });
  }
}
