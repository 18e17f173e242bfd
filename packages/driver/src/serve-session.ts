/**
 * Runs one StreamSender over a frame pipe: the server half of a
 * subscription. It owns the async parts and nothing else: it pulls the source
 * only while the sender has demand (a slow consumer stops the source, not the
 * server's memory), sends with the transport's backpressure, fires the
 * sender's deadlines, and stops the source (its return()/finally) on cancel,
 * error or disconnect.
 */
import { DEFAULT_CHUNK_OPTIONS, EMPTY_BYTES, LatencySampler, SluiceError, StreamSender, type ChunkFrame, type ChunkOptions, type ClientFrame, type GapReason, type Limits, type OpenFrame, type ResumeResult, type SenderEvent, type ServerFrame, type StreamCounters, type StreamSenderOptions, type Window } from "@sluice/core";
import { systemClock, type Clock } from "./clock.js";
import { consumeFrames, type FramePipe, type FrameSink } from "./frame-pipe.js";
import { Pump, type PumpOptions } from "./pump.js";
import { OnceSignal, type SessionSignal } from "./once-signal.js";

/**
 * What a source yields: an item (with the cursor after it), or a gap of
 * dropped items. `producedAt` (the clock's scale: performance.now() with the
 * system clock) is when the item came into being, for a source that holds
 * items before yielding them (a topic's queue); latency samples start there
 * instead of at the yield.
 */
export type SourceYield =
  | {
      /** The item's payload. */
      readonly data: Uint8Array;
      /** The source position after this item (absent or empty: none). */
      readonly cursor?: Uint8Array;
      /** When the item came into being, on the session's clock (default: when it was yielded). */
      readonly producedAt?: number;
      /** The subject it was published to, for a filtered stream (PROTOCOL.md §7.10); the chunk carries it. */
      readonly subject?: string;
    }
  | {
      /** How many items were dropped here; they become a gap of as many seqs. */
      readonly gap: number;
      /** Why they were dropped. */
      readonly reason: GapReason;
    };

/**
 * A source's items read without waiting, where it has them in memory (a
 * topic's queue). A session reads these instead of iterating, so an idle
 * one holds no pending `next()` (an async frame and a promise each side)
 * and a busy one allocates no iterator result per item.
 */
export interface PolledItems {
  /**
   * The next item or gap; undefined when none is ready now (the open chunk
   * then goes out at the end of this turn, as with `ready`); null once the
   * items ended. Throws what the source failed with.
   */
  take(): SourceYield | null | undefined;
  /** Calls `wake` once, when take() has something again (an item, the end or a failure); a later call replaces it. */
  whenReady(wake: () => void): void;
  /** Whether take() would give something now (an item, a gap, the end or a failure). */
  ready(): boolean;
}

/** What the server resolved an Open to. */
export interface ResolvedStream {
  /** The source: items and gaps from `nextSeq` on. Its return() runs when the session ends. */
  readonly items: AsyncIterable<SourceYield>;
  /**
   * Whether `items` has an item or gap ready now, without waiting (a
   * topic's queue). When it has none, the open chunk goes out at the end of
   * this turn of the event loop rather than at its flush deadline.
   */
  readonly ready?: () => boolean;
  /**
   * The same items, read without waiting: used instead of iterating
   * `items` once a skip is done (`items`' return() still ends both).
   */
  readonly polled?: PolledItems;
  /** Seq of the first item `items` yields (announced in Opened). */
  readonly nextSeq: number;
  /** MIME type of the items, announced in Opened. */
  readonly contentType: string;
  /** How the resume went, when the Open resumed (Opened.resume). */
  readonly resume?: ResumeResult;
  /**
   * Seqs to drop from the start of `items` before the first one is sent: a
   * source reopened at a cursor before the resume position. They are read
   * before Opened (so `resume.replayed` is what was re-read), in slices that
   * yield to the event loop; a source that ends first means the position is
   * beyond the stream's end, and the Open is refused.
   */
  readonly skip?: number;
  /**
   * The source cursor at seq nextSeq − 1 − skip (where `items` begins), when
   * known: Opened carries it, or the cursor of the last skipped item, as
   * the client's first checkpoint (PROTOCOL.md §7.3).
   */
  readonly startCursor?: Uint8Array;
  /** The new session's id (unique per session). */
  readonly sessionId: string;
  /** The session's unpredictable secret, for half-duplex Control calls. */
  readonly sessionSecret: Uint8Array;
  /** The stream's chunk thresholds, over the server's. */
  readonly chunk?: Partial<ChunkOptions>;
  /** The stream's stall timeout (0 disables), over the server's. */
  readonly stallTimeoutMs?: number;
  /** The stream's yield timeout (0 disables), over the server's. */
  readonly yieldTimeoutMs?: number;
  /** The stream's limits and default window (see AcceptArgs). */
  readonly limits?: Partial<Limits>;
  /** The stream's default window, for an Open that names none. */
  readonly defaultWindow?: Window;
}

/**
 * What {@link serveSession} runs: the transport, how to resolve an Open, and the
 * hooks a server uses for budgets and metrics.
 */
export interface ServeSessionOptions {
  /** The session's transport: client frames in, server frames out. */
  readonly pipe: FramePipe<ClientFrame, ServerFrame>;
  /** Authorise and open the source. Throw a SluiceError (not found, bad params, ...) to refuse. */
  /** `ended` fires when the session is over: what the source holds for it can go. */
  resolve(open: OpenFrame, ended: SessionSignal): Promise<ResolvedStream>;
  /** The server-wide sender settings (limits, default window, chunks, timeouts, replay). */
  readonly sender?: StreamSenderOptions;
  /** Time and timers (default systemClock; tests pass a virtual clock). */
  readonly clock?: Clock;
  /** Aborting ends the session with `unavailable` (server draining). */
  readonly signal?: SessionSignal;
  /** Aborted when the client's call is gone (it disconnected or was cancelled): ends the session as a disconnect. */
  readonly callSignal?: SessionSignal;
  /** Called once the session has its sender: live counters for metrics. */
  readonly onStart?: (view: SessionView) => void;
  /** A heartbeat round trip was measured. */
  readonly onRtt?: (rttMs: number) => void;
  /**
   * False pauses pulling from the source (a memory budget is spent); it is
   * asked before each pull, and again every 50 ms while it says no.
   */
  readonly mayPull?: () => boolean;
  /** An item of this many payload bytes was pulled (lets a cached budget sum grow between its refreshes). */
  readonly onPulled?: (bytes: number) => void;
  /**
   * Item latency, sampled (at most one item per 10 ms per stage), from the
   * source yielding an item until "sent": its chunk was handed to the
   * transport (flush delay, credit waits, transport backpressure), and until
   * "acked": the client acked it (plus the network, the client's queue and
   * up to its ack delay, 50 ms by default; a stream that ends inside one
   * window is never acked). See LatencySampler.
   */
  readonly onItemLatency?: (stage: "sent" | "acked", latencyMs: number) => void;
}

/** A running session, for metrics and budgets: its stream (once Open arrived), live counters and what it holds. */
export interface SessionView {
  /** The stream the Open asked for ("" until it arrived). */
  readonly stream: string;
  /** The sender's live counters. */
  readonly counters: Readonly<StreamCounters>;
  /** Payload sent or queued that the client has not consumed (at most the window): what the session may hold in memory. */
  readonly bufferedBytes: number;
}

/** How a session ended, once {@link serveSession} returns: what it sent and why it stopped. */
export interface SessionOutcome {
  /** The stream the Open asked for (also when it was refused; "" when no Open arrived). */
  readonly stream: string;
  /** The id announced in Opened ("" if the session never opened). */
  readonly sessionId: string;
  /** Open.client_info: who the client says it is (for logs). */
  readonly clientInfo: string;
  /** The Open carried a resume position. */
  readonly resumed: boolean;
  /** Whole items the session sent. */
  readonly items: number;
  /** Payload bytes the session sent. */
  readonly bytes: number;
  /** The sender's counters (credit stalls, heartbeats, resumes, ...). */
  readonly counters: Readonly<StreamCounters>;
  /** The error the session ended with, if it failed. */
  readonly error?: SluiceError;
  /** The client cancelled (the session ended with End). */
  readonly cancelled: boolean;
  /** The client went away without End or Error. */
  readonly disconnected: boolean;
}

/** Turns anything a source throws into a SluiceError (source_failed unless it is one already). */
export function sourceError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SluiceError("source_failed", `source failed: ${message}`, { cause: error });
}

/**
 * Serves one session over `options.pipe` until End, Error, a cancel or a
 * disconnect, and reports how it ended. A refused Open, a failing source or a
 * broken rule ends the session with an Error frame, reported in the outcome.
 */
export function serveSession(options: ServeSessionOptions): Promise<SessionOutcome> {
  return new ServedSession(options).run();
}

/**
 * Work one session does before it lets the event loop serve others (issue
 * 14): pulling from a source that never waits runs as microtasks, which
 * starved timers, I/O and every other session (a 50/s topic published
 * 15/s next to eight bulk streams, /healthz took 250 ms).
 */
const TURN_ITEMS = 256;
const TURN_MS = 1;
/** At most one idle flush a millisecond: a busy topic that catches up every turn still sends chunks of some size. */
const IDLE_FLUSH_INTERVAL_MS = 1;
/** How long a pull waits when the memory budget says no, before it asks again. */
const BUDGET_RETRY_MS = 50;
/** Chunks of items a session pulls ahead of a transport whose write is pending (see ServedSession.#writePending). */
const PULL_AHEAD_CHUNKS = 4;

/**
 * One served session: the pump's options, the inbound frames' sink and the
 * server's view of it in one object. A class, not a function of closures:
 * an idle session is held for as long as its client stays, and its state
 * as fields of one object (methods on the prototype) took about a third of
 * the heap the closures and their contexts did (BENCHMARKS.md, idle
 * sessions).
 */
class ServedSession implements PumpOptions<ServerFrame, SenderEvent>, FrameSink<ClientFrame>, SessionView {
  readonly #options: ServeSessionOptions;
  readonly clock: Clock;
  readonly #pipe: FramePipe<ClientFrame, ServerFrame>;
  readonly #sender: StreamSender;
  readonly machine: StreamSender;
  readonly #sentLatency: LatencySampler | undefined;
  readonly #ackedLatency: LatencySampler | undefined;
  /** Fires when the session is over: the signal resolve() gets. */
  readonly #ended = new OnceSignal();
  readonly #pump: Pump<ServerFrame, SenderEvent>;
  /**
   * The client's call is gone (reset, connection lost, a transport error).
   * A client that only half-closed its request has nothing more to send; the
   * session goes on within the credit it has, until End, Error or the
   * heartbeat timeout (PROTOCOL.md §3.2).
   */
  #callGone = false;
  #iterator: AsyncIterator<SourceYield> | undefined;
  /** The part of a gap that straddled the resume point: sent before the next item. */
  #carriedGap: { readonly gap: number; readonly reason: GapReason } | undefined;
  #pulling = false;
  #sessionId = "";
  #cancelled = false;
  /**
   * A source that says it has nothing ready (a topic caught up) gets its
   * open chunk flushed at the end of this turn of the event loop instead of
   * at the flush deadline: what arrives within the turn (a publisher's
   * whole batch) still joins the chunk, and nothing waits 5 ms for company
   * that is not coming.
   */
  #sourceReady: (() => boolean) | undefined;
  #polled: PolledItems | undefined;
  #flushScheduled = false;
  #lastIdleFlush = -Infinity;
  #budgetRetry: (() => void) | undefined;
  /**
   * The transport has not taken the last frame yet (its write is pending):
   * the source is pulled only until PULL_AHEAD_CHUNKS chunks' worth waits
   * behind it (enough to keep a transport whose every write is a promise,
   * as WebSocket's is, streaming at full speed). The
   * window's credit says what the client will buffer, not that the server
   * should: against a client that stopped reading, the rest of the window
   * stays in the source (for a topic, in its queue) instead of in this
   * session as items of their own.
   */
  #writePending = false;
  #pullAheadBytes = PULL_AHEAD_CHUNKS * DEFAULT_CHUNK_OPTIONS.maxBytes;

  constructor(options: ServeSessionOptions) {
    this.#options = options;
    this.clock = options.clock ?? systemClock;
    this.#pipe = options.pipe;
    this.machine = this.#sender = new StreamSender(options.sender);
    if (options.onItemLatency) {
      this.#sentLatency = new LatencySampler();
      this.#ackedLatency = new LatencySampler();
    }
    this.#pump = new Pump<ServerFrame, SenderEvent>(this);
  }

  // SessionView: what the server's metrics and budgets read.
  get stream(): string {
    return this.#sender.open?.stream ?? "";
  }

  get counters(): Readonly<StreamCounters> {
    return this.#sender.counters;
  }

  get bufferedBytes(): number {
    return this.#sender.bufferedBytes;
  }

  /** Runs the session; resolves with how it ended. Not an async function: an idle session would hold its suspended frame. */
  run(): Promise<SessionOutcome> {
    const options = this.#options;
    try {
      options.onStart?.(this);
      options.signal?.addEventListener("abort", this.#onDrain, { once: true });
      if (options.signal?.aborted) this.#onDrain();
      options.callSignal?.addEventListener("abort", this.#onCallGone, { once: true });
      if (options.callSignal?.aborted) this.#onCallGone();
      consumeFrames(this.#pipe.inbound, this);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#pump.run().then(
      () => this.#end(),
      (error: unknown) => {
        this.#end();
        throw error;
      },
    );
  }

  /** The pump stopped: lets go of everything the session holds, and says how it ended. */
  #end(): SessionOutcome {
    const options = this.#options;
    const sender = this.#sender;
    this.#pump.stop(); // the session is over: late input must not arm its timer again
    this.#budgetRetry?.();
    options.signal?.removeEventListener("abort", this.#onDrain);
    options.callSignal?.removeEventListener("abort", this.#onCallGone);
    this.#ended.abort();
    // Stop the source: its finally runs now (or when its pending next() settles).
    void this.#iterator?.return?.()?.catch(() => undefined);
    const closing = sender.state === "closed";
    this.#pipe.close(closing ? undefined : new SluiceError("cancelled", "client went away"));
    const error = sender.error;
    const open = sender.open;
    return {
      stream: open?.stream ?? "",
      sessionId: this.#sessionId,
      clientInfo: open?.clientInfo ?? "",
      resumed: open?.resume !== undefined,
      items: sender.counters.itemsSent,
      bytes: sender.counters.bytesSent,
      counters: sender.counters,
      ...(error ? { error } : {}),
      cancelled: this.#cancelled,
      disconnected: this.#callGone && sender.error === undefined,
    };
  }

  // PumpOptions: the pump runs the sender with these.
  onEvent(event: SenderEvent): void {
    if (event.type === "open") void this.#resolve(event.open);
    else if (event.type === "credit") this.#maybePull();
    else if (event.type === "cancelled") this.#cancelled = true;
    else if (event.type === "rtt") this.#options.onRtt?.(event.rttMs);
    else if (event.type === "acked" && this.#ackedLatency) this.#ackedLatency.acked(event.seq, this.clock.now(), this.#reportAcked);
  }

  send(frame: ServerFrame): void | Promise<void> {
    const pending = this.#pipe.send(frame);
    if (pending) this.#writePending = true;
    return pending;
  }

  afterSend(frame: ServerFrame): void {
    if (this.#writePending) {
      this.#writePending = false;
      this.#maybePull();
    }
    if (this.#sentLatency && frame.type === "chunk") this.#sentLatency.acked(chunkLastSeq(frame), this.clock.now(), this.#reportSent);
  }

  done(): boolean {
    // Closed, or the client half-closed / the connection died without Cancel.
    return this.#sender.state === "closed" || this.#callGone;
  }

  // FrameSink: the client's frames.
  frame(frame: ClientFrame): void {
    this.#sender.handleFrame(frame, this.clock.now());
    this.#pump.afterInput();
  }

  end(error?: unknown): void {
    const sender = this.#sender;
    if (error === undefined) {
      // Half-closed before any Open: there is nothing to serve, and no
      // heartbeat runs before Opened to end it later.
      if (sender.state === "awaiting_open") sender.fail(new SluiceError("protocol_violation", "the request ended before its Open", { blame: "remote" }), this.clock.now());
    } else {
      // A frame that failed to decode is the client's fault: tell it why.
      // Anything else is the transport failing: the call is gone.
      if (error instanceof SluiceError && error.blame === "remote") sender.fail(error, this.clock.now());
      else this.#callGone = true;
    }
    this.#pump.afterInput();
    this.#pump.wake();
  }

  readonly #reportSent = (ms: number) => this.#options.onItemLatency!("sent", ms);
  readonly #reportAcked = (ms: number) => this.#options.onItemLatency!("acked", ms);

  readonly #onDrain = () => {
    this.#sender.fail(new SluiceError("unavailable", "server is draining; resume elsewhere", { retryAfterMs: 0 }), this.clock.now());
    this.#pump.afterInput();
  };

  readonly #onCallGone = () => {
    this.#callGone = true;
    this.#pump.wake();
  };

  readonly #idleFlush = () => {
    this.#flushScheduled = false;
    const sender = this.#sender;
    const ready = this.#polled ? this.#polled.ready() : this.#sourceReady?.();
    if (ready === false && sender.state === "streaming") {
      this.#lastIdleFlush = this.clock.now();
      sender.flush(this.#lastIdleFlush);
      this.#pump.afterInput();
    }
  };

  readonly #onSourceReady = () => this.#maybePull();

  #flushAtTurnEnd(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    const at = this.#lastIdleFlush + IDLE_FLUSH_INTERVAL_MS;
    if (this.clock.now() >= at) void this.clock.yield().then(this.#idleFlush);
    else this.clock.schedule(at, this.#idleFlush);
  }

  async #pull(): Promise<void> {
    const { clock } = this;
    const sender = this.#sender;
    const pump = this.#pump;
    const { mayPull, onPulled } = this.#options;
    const sentLatency = this.#sentLatency;
    this.#pulling = true;
    let turnStart = clock.now();
    let inTurn = 0;
    try {
      const carriedGap = this.#carriedGap;
      if (carriedGap && sender.demand > 0) {
        sender.pushGap(carriedGap.gap, carriedGap.reason, clock.now());
        this.#carriedGap = undefined;
        pump.afterInput();
      }
      for (let iterator = this.#iterator; iterator && sender.demand > 0; iterator = this.#iterator) {
        // afterSend pulls again once the transport took the frame.
        if (this.#writePending && sender.untransmittedBytes >= this.#pullAheadBytes) break;
        if (mayPull && !mayPull()) {
          this.#waitForBudget();
          break;
        }
        if (++inTurn >= TURN_ITEMS || clock.now() - turnStart >= TURN_MS) {
          await clock.yield();
          if (sender.state !== "streaming" || sender.demand <= 0) break;
          inTurn = 0;
          turnStart = clock.now();
        }
        let value: SourceYield | null | undefined;
        const polled = this.#polled;
        if (polled) {
          value = polled.take();
          if (value === undefined) {
            // Nothing ready: the pull ends here, and the source wakes the next one.
            this.#flushAtTurnEnd();
            polled.whenReady(this.#onSourceReady);
            break;
          }
        } else {
          if (this.#sourceReady && !this.#sourceReady()) this.#flushAtTurnEnd();
          const result = await iterator.next();
          if (sender.state !== "streaming") break;
          value = result.done ? null : result.value;
        }
        const now = clock.now();
        if (value === null) {
          sender.end(EMPTY_BYTES, now);
          break;
        }
        if ("gap" in value) sender.pushGap(value.gap, value.reason, now);
        else {
          sender.push(value.data, value.cursor ?? EMPTY_BYTES, now, undefined, value.subject);
          onPulled?.(value.data.length);
          if (sentLatency) {
            const at = value.producedAt !== undefined && value.producedAt < now ? value.producedAt : now;
            sentLatency.pushed(sender.nextSeq - 1, at);
            this.#ackedLatency!.pushed(sender.nextSeq - 1, at);
          }
        }
        // Every item may open a chunk whose flush deadline must be armed now:
        // the source may not yield again for a long time (a live feed).
        pump.afterInput();
      }
    } catch (error) {
      sender.fail(sourceError(error), clock.now());
    } finally {
      this.#pulling = false;
      pump.afterInput();
    }
  }

  /** Pulls from the source while there is demand (credit) and the budget allows, one pull loop at a time. */
  #maybePull(): void {
    if (this.#pulling || !this.#iterator || this.#sender.demand <= 0 || this.#budgetRetry) return;
    if (this.#writePending && this.#sender.untransmittedBytes >= this.#pullAheadBytes) return;
    const mayPull = this.#options.mayPull;
    if (mayPull && !mayPull()) return this.#waitForBudget();
    void this.#pull();
  }

  #waitForBudget(): void {
    this.#budgetRetry = this.clock.schedule(this.clock.now() + BUDGET_RETRY_MS, () => {
      this.#budgetRetry = undefined;
      this.#maybePull();
    });
  }

  async #resolve(open: OpenFrame): Promise<void> {
    const { clock } = this;
    const sender = this.#sender;
    try {
      const resolved = await this.#options.resolve(open, this.#ended);
      this.#sessionId = resolved.sessionId;
      const items = resolved.items[Symbol.asyncIterator]();
      let resume = resolved.resume;
      let startCursor = resolved.startCursor;
      if (resolved.skip && resolved.skip > 0) {
        const skipped = await skipSeqs(items, resolved.skip, clock, () => sender.state === "closed");
        if (skipped.ended) {
          void items.return?.();
          const requested = resume?.requestedSeq ?? resolved.nextSeq - 1;
          throw new SluiceError("invalid_argument", `resume.seq: ${requested} is beyond the end of the stream (it ends after seq ${requested - resolved.skip + skipped.seqs})`, { field: "resume.seq", blame: "remote" });
        }
        this.#carriedGap = skipped.gap;
        // After a skipped gap the position is unknown; after an item, it is the item's cursor.
        if (skipped.sawGap) startCursor = undefined;
        else if (skipped.cursor) startCursor = skipped.cursor;
        if (resume) resume = { ...resume, replayed: skipped.seqs };
      }
      const accepted = sender.accept(
        {
          sessionId: resolved.sessionId,
          sessionSecret: resolved.sessionSecret,
          nextSeq: resolved.nextSeq,
          contentType: resolved.contentType,
          ...(resume ? { resume } : {}),
          // A gap carried past the skip starts before next_seq: the skipped items' cursor is not the position at next_seq − 1.
          ...(startCursor && !this.#carriedGap ? { cursor: startCursor } : {}),
          ...(resolved.chunk ? { chunk: resolved.chunk } : {}),
          ...(resolved.stallTimeoutMs !== undefined ? { stallTimeoutMs: resolved.stallTimeoutMs } : {}),
          ...(resolved.yieldTimeoutMs !== undefined ? { yieldTimeoutMs: resolved.yieldTimeoutMs } : {}),
          ...(resolved.limits ? { limits: resolved.limits } : {}),
          ...(resolved.defaultWindow ? { defaultWindow: resolved.defaultWindow } : {}),
        },
        clock.now(),
      );
      this.#iterator = items;
      if (resolved.chunk?.maxBytes) this.#pullAheadBytes = PULL_AHEAD_CHUNKS * resolved.chunk.maxBytes;
      this.#sourceReady = resolved.ready;
      this.#polled = resolved.polled;
      if (!accepted) void items.return?.();
      else this.#maybePull();
    } catch (error) {
      sender.fail(error instanceof SluiceError ? error : sourceError(error), clock.now());
    }
    this.#pump.afterInput();
    this.#pump.wake();
  }
}

/** Items read per slice while skipping, and the most time a slice may take, before yielding to the event loop. */
const SKIP_SLICE_ITEMS = 1_024;
const SKIP_SLICE_MS = 5;

/**
 * Reads and drops the first `count` seqs of `items` (items and gaps; a gap
 * straddling the end is split, its rest returned), yielding to the event
 * loop between slices so a long skip never starves other sessions.
 */
async function skipSeqs(items: AsyncIterator<SourceYield>, count: number, clock: Clock, cancelled: () => boolean): Promise<{ seqs: number; ended: boolean; gap?: { gap: number; reason: GapReason }; cursor?: Uint8Array; sawGap?: boolean }> {
  let seqs = 0;
  let cursor: Uint8Array | undefined;
  let sawGap = false;
  let sliceStart = clock.now();
  let inSlice = 0;
  while (seqs < count) {
    if (++inSlice >= SKIP_SLICE_ITEMS || clock.now() - sliceStart >= SKIP_SLICE_MS) {
      await clock.yield();
      if (cancelled()) return { seqs, ended: false };
      inSlice = 0;
      sliceStart = clock.now();
    }
    const result = await items.next();
    if (result.done) return { seqs, ended: true };
    const value = result.value;
    if ("gap" in value) {
      const left = count - seqs;
      if (value.gap > left) return { seqs: count, ended: false, gap: { gap: value.gap - left, reason: value.reason } };
      seqs += value.gap;
      sawGap = true;
    } else {
      seqs++;
      cursor = value.cursor;
    }
  }
  return { seqs, ended: false, sawGap, ...(cursor ? { cursor } : {}) };
}

/** The last whole item a chunk carries (a fragment completes its item only at the end). */
function chunkLastSeq(frame: ChunkFrame): number {
  const fragment = frame.fragment;
  if (fragment) return fragment.offset + fragment.data.byteLength === fragment.totalBytes ? frame.firstSeq : frame.firstSeq - 1;
  return frame.firstSeq + frame.items.length - 1;
}
