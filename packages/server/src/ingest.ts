/**
 * The Publish RPC (PROTOCOL.md §3.4): publish sessions into a server's
 * streams, each run by the driver's serveIngest. This part resolves a
 * PublishOpen: authorization (action "publish"), the stream and whether it
 * takes publishing, the publisher's position in the PublisherRegistry
 * (fencing an older session of the same publisher), and the sink: the
 * stream's own, or its topic.
 */
import { Backoff, CircuitBreaker, LagThrottle, Priority, SluiceError, type CircuitBreakerOptions, type DeadLetter, type IngestFrame, type LagThrottleOptions, type Limits, type PublishFrame, type PublishOpenFrame, type PublishThrottle, type Window } from "@sluice/core";
import { FrameQueue, serveIngest, systemClock, type IngestFate, type IngestItem, type IngestOutcome, type IngestSink, type ResolvedIngest } from "@sluice/driver";
import type { CallInfo } from "./call-context.js";
import { PublisherRegistry, type PublisherRegistryOptions } from "./publishers.js";
import { newSessionKeys } from "./session-keys.js";
import { SinkQueue, type SinkQueueOptions } from "./sink-queue.js";
import { SubjectRouter, type RouteRules } from "./routing.js";
import { checkTopicSubject } from "./topic.js";
import type { PublishAck, TopicEngine } from "./topic-engine.js";

/** How a stream takes publishing: where items go, and how much a publisher may have in flight. */
export interface PublishDefinition {
  /**
   * Where published items go (default: the stream's topic). `write` gets
   * each batch in seq order and answers each item's fate once it is durable;
   * throwing fails the session, and the publisher sends the batch again.
   */
  readonly sink?: PublishSink;
  /**
   * Checks each item before the sink: a reason (a string) refuses the item
   * into the dead letters ("validation: <reason>"); undefined takes it.
   */
  readonly validate?: (data: Uint8Array) => string | undefined;
  /**
   * Items larger than this are dead-lettered, not written. (Items over the
   * wire's limits.maxItemBytes never arrive: the session refuses them with
   * limit_exceeded.)
   */
  readonly maxItemBytes?: number;
  /**
   * The stream (of this server, with a topic) that receives every dead
   * letter as a JSON record: the stream, publisher id, seq, reason,
   * attempts, time and the item's bytes (base64 `data`; `value` too when
   * they are JSON). Without it, dead letters are only reported to their
   * publisher.
   */
  readonly deadLetterStream?: string;
  /**
   * Which subject of the stream's topic each item goes to (PROTOCOL.md
   * §7.10): a mapping table, content rules, a template, a fallback, in
   * that order; an item nothing routes is a dead letter. Without it, items
   * go to the topic's own subject, or to the subject a publisher names as
   * its stream (`sensors.lab.temp`), which always wins.
   */
  readonly route?: RouteRules;
  /**
   * The window granted to each publisher (default 1 024 items / 1 MiB):
   * what a session may have sent that the sink has not taken yet. Unacked
   * items are at most this plus the one batch in the sink.
   */
  readonly window?: Window;
  /** Most items per sink write (default 512). */
  readonly maxBatchItems?: number;
  /**
   * The ingest queue in front of the sink (PROTOCOL.md §3.4 rule 10), one per
   * stream for all its publishers: at most `concurrency` batches in the sink
   * at once (default 4), the rest waiting by priority (weighted 8:4:2:1, so
   * CRITICAL goes first and LOW is never starved), at most `capacity`
   * batches (default 256; a session has one batch here at most) and then
   * the `overflow` policy (default block: the batch, and its publisher's
   * credit, wait). Every drop is counted per level and reported to the
   * publisher, whose send() rejects with the reason.
   */
  readonly queue?: SinkQueueOptions;
  /**
   * A sink write that throws is retried (exponential backoff with full
   * jitter) up to `attempts` more times (default 3, 50 ms to 2 s). A write
   * that still fails with a retryable error (the sink is down) fails the
   * session with source_failed, and the publisher sends the items again
   * later: nothing is dead-lettered for an outage. A write that fails with
   * a permanent error (a SluiceError with retryable false: the data is
   * bad) is tried again item by item, and the items that fail alone are
   * dead-lettered with the error's message. So a write must be atomic or
   * idempotent: it takes all of its items or none.
   */
  readonly retries?: {
    /** Retries after the first try (0: none). */
    readonly attempts?: number;
    /** Ceiling of the first delay. */
    readonly initialMs?: number;
    /** The longest delay. */
    readonly maxMs?: number;
  };
  /**
   * The circuit breaker around the stream's sink (core's CircuitBreaker,
   * one per stream): after `failureThreshold` failed writes in a row it
   * opens for `openMs`, and writes fail at once with source_failed and a
   * retry-after, so publishers back off instead of hammering a sink that is
   * down (default 5 failures, 10 s).
   */
  readonly breaker?: Partial<CircuitBreakerOptions>;
  /**
   * Lag-based throttling (core's LagThrottle, one per stream for all its
   * publishers): before each batch the consumer lag is read — `lag()`, or
   * the topic's consumerLag() — and the batch waits as the throttle says.
   */
  readonly throttle?: Partial<LagThrottleOptions> & {
    /** The consumer lag to throttle on (default: the stream's topic's consumerLag()). */
    readonly lag?: () => number;
    /**
     * Only these subscribers count toward the topic's consumer lag: the
     * principals their sessions were authorized as (needs `authorize`);
     * default: every subscriber.
     */
    readonly consumers?: readonly string[];
  };
}

/** Who published the items of a sink write. */
export interface PublishContext {
  /** The stream published into. */
  readonly stream: string;
  /** The publisher's id (with each item's seq, a key that makes a write idempotent). */
  readonly publisherId: string;
}

/**
 * Where a stream's published items go. `write` gets each batch in seq
 * order and answers one fate per item once the accepted ones are durable:
 * accepted, or refused with a reason (a dead letter).
 */
export interface PublishSink {
  /** Writes `items` (in seq order, from one publisher) and answers one fate per item, in the same order. */
  write(items: readonly IngestItem[], from: PublishContext): readonly IngestFate[] | Promise<readonly IngestFate[]>;
}

/** The window a publisher gets unless its stream sets one. */
export const DEFAULT_PUBLISH_WINDOW: Window = { items: 1_024, bytes: 1024 * 1024 };

/** What {@link Ingest} needs of its server. */
export interface IngestOptions {
  /** The stream's topic and publish settings, by name (undefined: no such stream). */
  readonly streamOf: (name: string) => { readonly topic?: TopicEngine; readonly publish?: PublishDefinition; readonly limits?: Partial<Limits>; readonly subject?: string } | undefined;
  /** The routers of the streams that route (PublishDefinition.route), by definition name, built and checked by the server. */
  readonly routers?: ReadonlyMap<string, SubjectRouter>;
  /** The server's limits (Opened announces them, with the stream's over them). */
  readonly limits: Limits;
  /** The server's authorization hook, asked with action "publish". */
  readonly authorize?: (request: { stream: string; headers: Headers; action: "publish" }) => string | Promise<string>;
  /** The deduplication window and bounds. */
  readonly publishers?: PublisherRegistryOptions;
  /** Called when a publish session ends (metrics, logs). */
  readonly onEnd?: (outcome: IngestOutcome) => void;
  /** Called after every sink write with how many items it accepted and dead-lettered (live metrics). */
  readonly onPublished?: (stream: string, accepted: number, deadLettered: number) => void;
}

/** The publish sessions of one server. */
export class Ingest {
  readonly #options: IngestOptions;
  readonly #registry: PublisherRegistry;
  readonly #active = new Set<{ readonly drain: AbortController; readonly ended: Promise<IngestOutcome> }>();
  #draining = false;
  /** One circuit breaker per stream with a sink, shared by its publishers, with the failure that last counted. */
  readonly #breakers = new Map<string, SinkBreaker>();
  /** One throttle per stream that asks for one, shared by its publishers. */
  readonly #throttles = new Map<string, { readonly throttle: LagThrottle; readonly lag: () => number }>();
  /** One ingest queue per stream with publishers, in front of its sink. */
  readonly #queues = new Map<string, SinkQueue>();

  constructor(options: IngestOptions) {
    this.#options = options;
    this.#registry = new PublisherRegistry(options.publishers);
  }

  /** Publish sessions open now. */
  get activeSessions(): number {
    return this.#active.size;
  }

  /** The throttles of the streams that have one (created with their first publisher), for metrics. */
  get throttles(): ReadonlyMap<string, LagThrottle> {
    return new Map([...this.#throttles].map(([stream, { throttle }]) => [stream, throttle]));
  }

  /** The ingest queues of the streams that had publishers (created with their first), for metrics. */
  get queues(): ReadonlyMap<string, SinkQueue> {
    return this.#queues;
  }

  /** Tells every publisher to go elsewhere (unavailable) and resolves when their sessions have ended. */
  async drain(): Promise<void> {
    this.#draining = true;
    for (const session of this.#active) session.drain.abort();
    await Promise.allSettled([...this.#active].map((session) => session.ended));
  }

  /** One publish session over decoded frames; yields the frames to send and ends with the session. */
  async *frames(inbound: AsyncIterable<PublishFrame>, call: CallInfo): AsyncIterable<IngestFrame> {
    const outbound = new FrameQueue<IngestFrame>(32);
    const drain = new AbortController();
    if (this.#draining) drain.abort();
    let settle!: (outcome: IngestOutcome) => void;
    const ended = new Promise<IngestOutcome>((resolve) => (settle = resolve));
    const session = { drain, ended };
    this.#active.add(session);
    const running = serveIngest({
      pipe: { inbound, send: (frame) => outbound.push(frame), close: () => outbound.close() },
      resolve: (open) => this.#resolve(open, call.requestHeader, drain, ended),
      receiver: { limits: this.#options.limits, window: DEFAULT_PUBLISH_WINDOW },
      signal: drain.signal,
      callSignal: call.signal,
    });
    void running.then((outcome) => {
      this.#active.delete(session);
      settle(outcome);
      this.#options.onEnd?.(outcome);
    });
    try {
      for await (const frame of outbound) yield frame;
    } finally {
      outbound.close();
    }
    await running;
  }

  /**
   * One half-duplex batch (PROTOCOL.md §3.4.1): a publish session of one
   * call. It takes the publisher's slot in the registry as a streaming
   * session does (fencing one that is open), so the batches of a publisher
   * apply one at a time, and a retried batch takes nothing twice.
   */
  async batch(request: PublishBatch, call: CallInfo): Promise<PublishBatchResult> {
    if (this.#draining) throw new SluiceError("unavailable", "server is draining; publish elsewhere", { retryAfterMs: 0 });
    const target = await this.#target(request.stream, request.publisherId, call.requestHeader);
    const limits = { ...this.#options.limits, ...target.limits };
    const window = target.publish.window ?? DEFAULT_PUBLISH_WINDOW;
    let bytes = 0;
    for (let i = 0; i < request.items.length; i++) {
      const size = request.items[i]!.byteLength;
      if (size > limits.maxItemBytes) throw new SluiceError("limit_exceeded", `items[${i}]: ${size} bytes, over the max item size ${limits.maxItemBytes}`, { field: `items[${i}]`, blame: "remote" });
      bytes += size;
    }
    if (request.items.length > window.items || bytes > window.bytes) {
      throw new SluiceError("limit_exceeded", `items: ${request.items.length} items / ${bytes} bytes, over the window ${window.items} / ${window.bytes}`, { field: "items", blame: "remote" });
    }
    const fence = new AbortController();
    let settle!: (outcome: IngestOutcome) => void;
    const ended = new Promise<IngestOutcome>((resolve) => (settle = resolve));
    const position = await this.#registry.open(request.stream, request.publisherId, request.resumeAfterSeq, fence, ended);
    let done = position.nextSeq - 1;
    let lastThrottle: PublishThrottle | undefined;
    let accepted = 0;
    let deadLettered = 0;
    let error: SluiceError | undefined;
    try {
      if (request.items.length > 0) {
        if (request.firstSeq < 1) throw new SluiceError("invalid_argument", "first_seq: must be at least 1 when the batch carries items", { field: "first_seq", blame: "remote" });
        if (request.firstSeq > done + 1) throw new SluiceError("invalid_argument", `first_seq: ${request.firstSeq} leaves a gap: the next seq of publisher ${JSON.stringify(request.publisherId)} is ${done + 1}`, { field: "first_seq", blame: "remote" });
        // Items at or below done_seq were taken before (a retried batch): skipped.
        const fresh = request.items.slice(done + 1 - request.firstSeq).map((data, i) => ({ seq: done + 1 + i, data }));
        const step = target.publish.maxBatchItems ?? 512;
        for (let at = 0; at < fresh.length; at += step) {
          const items = fresh.slice(at, at + step);
          const throttled = target.throttle?.(items.length, systemClock.now());
          if (throttled) lastThrottle = throttled;
          const wait = throttled?.delayMs ?? 0;
          if (wait > 0) await new Promise<void>((resolve) => systemClock.schedule(systemClock.now() + wait, resolve));
          let fates;
          try {
            fates = await target.sink.write(items, request.priority ?? Priority.NORMAL);
          } catch (failure) {
            throw failure instanceof SluiceError ? failure : new SluiceError("source_failed", `sink failed: ${failure instanceof Error ? failure.message : String(failure)}`, { cause: failure });
          }
          for (const fate of fates) {
            if (fate.accepted) accepted++;
            else deadLettered++;
          }
          done = items.at(-1)!.seq;
        }
      }
    } catch (failure) {
      error = failure as SluiceError;
      throw failure;
    } finally {
      settle({ stream: request.stream, publisherId: request.publisherId, sessionId: "", accepted, deadLettered, doneSeq: done, ...(error ? { error } : {}), disconnected: false });
    }
    return {
      ackSeq: done,
      deadLetters: this.#registry.deadLettersAfter(request.stream, request.publisherId, request.resumeAfterSeq),
      nextSeq: done + 1,
      limits,
      window,
      ...(lastThrottle ? { throttle: lastThrottle } : {}),
    };
  }

  async #resolve(open: PublishOpenFrame, headers: Headers, fence: AbortController, ended: Promise<IngestOutcome>): Promise<ResolvedIngest> {
    const target = await this.#target(open.stream, open.publisherId, headers);
    const position = await this.#registry.open(open.stream, open.publisherId, open.resumeAfterSeq, fence, ended);
    return {
      sessionId: newSessionKeys().sessionId,
      nextSeq: position.nextSeq,
      deadLetters: position.deadLetters,
      sink: target.sink,
      window: target.publish.window ?? DEFAULT_PUBLISH_WINDOW,
      ...(target.limits ? { limits: target.limits } : {}),
      ...(target.publish.maxBatchItems !== undefined ? { maxBatchItems: target.publish.maxBatchItems } : {}),
      ...(target.throttle ? { throttle: target.throttle } : {}),
    };
  }

  #throttleOf(stream: string, options: NonNullable<PublishDefinition["throttle"]>, topic: TopicEngine | undefined): { throttle: LagThrottle; lag: () => number } {
    let entry = this.#throttles.get(stream);
    if (!entry) {
      const { lag, consumers, ...settings } = options;
      const named = consumers ? new Set(consumers) : undefined;
      const read = lag ?? (topic?.consumerLag ? () => topic.consumerLag!(named) : undefined);
      if (!read) throw new SluiceError("internal", `stream ${stream}: a throttle needs a lag() or a topic that reports its consumer lag`);
      entry = { throttle: new LagThrottle(settings), lag: read };
      this.#throttles.set(stream, entry);
    }
    return entry;
  }

  /** Authorizes a publisher for `stream` and finds where its items go; the sink reports every fate to the registry. */
  async #target(stream: string, publisherId: string, headers: Headers): Promise<{ publish: PublishDefinition; sink: IngestSink; limits?: Partial<Limits>; throttle?: (items: number, now: number) => PublishThrottle }> {
    // Authorization before the lookup, as for subscriptions: an unauthenticated caller learns nothing.
    if (this.#options.authorize) await this.#options.authorize({ stream, headers, action: "publish" });
    const definition = this.#options.streamOf(stream);
    if (!definition) throw new SluiceError("stream_not_found", `stream not configured: ${stream}`, { blame: "remote" });
    const publish = definition.publish;
    if (!publish) throw new SluiceError("permission_denied", `stream ${stream} does not take publishing`, { blame: "remote" });
    if (definition.subject !== undefined && definition.topic) checkTopicSubject(definition.topic.name, definition.subject);
    const router = definition.subject === undefined && definition.topic ? this.#options.routers?.get(stream) : undefined;
    const sink = publish.sink ?? (definition.topic ? topicSink(definition.topic, definition.subject ?? router) : undefined);
    if (!sink) throw new SluiceError("internal", `stream ${stream} takes publishing but has neither a sink nor a topic`);
    const registry = this.#registry;
    const onPublished = this.#options.onPublished;
    const throttled = publish.throttle ? this.#throttleOf(stream, publish.throttle, definition.topic) : undefined;
    let breaker = this.#breakers.get(stream);
    if (!breaker) this.#breakers.set(stream, (breaker = { breaker: new CircuitBreaker(publish.breaker), lastFailure: undefined }));
    const guarded = guardedWrite(stream, sink, breaker, publish.retries);
    const from: PublishContext = { stream, publisherId };
    const deadLetters = publish.deadLetterStream !== undefined ? { name: publish.deadLetterStream, topic: this.#deadLetterTopic(stream, publish.deadLetterStream) } : undefined;
    /** Records one fate: a dead letter goes to the dead-letter stream first, then the registry learns it (so an ack never runs ahead of either). */
    const settle = async (item: IngestItem, fate: IngestFate, attempts: number): Promise<IngestFate> => {
      if (fate.accepted) {
        registry.accepted(stream, publisherId, item.seq);
        return fate;
      }
      const deadLetterTopic = deadLetters?.name ?? fate.deadLetterTopic ?? "";
      if (deadLetters) await deadLetters.topic.publish(deadLetterRecord(stream, publisherId, item, fate.reason, attempts));
      registry.deadLettered(stream, publisherId, { seq: item.seq, reason: fate.reason, deadLetterTopic });
      return { accepted: false, reason: fate.reason, deadLetterTopic };
    };
    const checked = checkItems(publish);
    let queue = this.#queues.get(stream);
    if (!queue) this.#queues.set(stream, (queue = new SinkQueue(stream, publish.queue)));
    const sinkQueue = queue;
    /** One batch through the checks and the guarded sink; every item's fate is settled in seq order. */
    const writeBatch = async (items: readonly IngestItem[]): Promise<readonly IngestFate[]> => {
      const fates: IngestFate[] = [];
      /** Writes a run of items that passed the checks; a permanent failure splits it in halves until the bad items stand alone. */
      const writeRun = async (run: readonly IngestItem[], triedBefore: number): Promise<void> => {
        let tries = 0;
        let written: readonly IngestFate[];
        try {
          written = await guarded(run, from, () => tries++);
        } catch (failure) {
          if (!isPermanent(failure)) throw failure;
          if (run.length === 1) {
            fates.push(await settle(run[0]!, { accepted: false, reason: `sink: ${(failure as Error).message}` }, triedBefore + tries));
            return;
          }
          const half = Math.ceil(run.length / 2);
          await writeRun(run.slice(0, half), triedBefore + tries);
          await writeRun(run.slice(half), triedBefore + tries);
          return;
        }
        if (written.length !== run.length) throw new SluiceError("internal", `the sink reported ${written.length} fates for ${run.length} items`);
        for (let i = 0; i < run.length; i++) fates.push(await settle(run[i]!, written[i]!, triedBefore + tries));
      };
      const refusals = items.map(checked);
      try {
        for (let at = 0; at < items.length; ) {
          const refusal = refusals[at];
          if (refusal !== undefined) {
            fates.push(await settle(items[at]!, { accepted: false, reason: refusal }, 0));
            at++;
            continue;
          }
          let end = at + 1;
          while (end < items.length && refusals[end] === undefined) end++;
          await writeRun(items.slice(at, end), 0);
          at = end;
        }
        return fates;
      } finally {
        const dead = fates.filter((fate) => !fate.accepted).length;
        if (fates.length > 0) onPublished?.(stream, fates.length - dead, dead);
      }
    };
    return {
      publish,
      ...(throttled
        ? {
            throttle: (items: number, now: number): PublishThrottle => {
              const delayMs = throttled.throttle.beforeBatch(throttled.lag(), items, now);
              return { state: throttled.throttle.state, level: throttled.throttle.level, delayMs };
            },
          }
        : {}),
      ...(definition.limits ? { limits: definition.limits } : {}),
      // Fates are settled in seq order, so the registry's position is never
      // past an item whose fate is unknown, and every item written is settled
      // before a failure ends the write (a resend must not write it again).
      sink: {
        async write(items, priority) {
          const queued = await sinkQueue.run(items.length, priority, () => writeBatch(items));
          if (queued.kind === "written") return queued.value;
          // Dropped by the queue's overflow policy: each item is reported to its publisher as a drop, in seq order.
          const fate: IngestFate = { accepted: false, reason: queued.reason, dropped: true };
          for (const item of items) registry.deadLettered(stream, publisherId, { seq: item.seq, reason: queued.reason, deadLetterTopic: "", dropped: true });
          return items.map(() => fate);
        },
      },
    };
  }

  /** The topic of the stream that takes `stream`'s dead letters. */
  #deadLetterTopic(stream: string, name: string): TopicEngine {
    const topic = this.#options.streamOf(name)?.topic;
    if (!topic) throw new SluiceError("internal", `stream ${stream}: its dead-letter stream ${name} is not a stream with a topic`);
    return topic;
  }
}

/** A check of an item before the sink: the reason it is refused, or undefined. */
function checkItems(publish: PublishDefinition): (item: IngestItem) => string | undefined {
  const { maxItemBytes, validate } = publish;
  return (item) => {
    if (maxItemBytes !== undefined && item.data.byteLength > maxItemBytes) return `too large: ${item.data.byteLength} bytes, over the stream's maxItemBytes ${maxItemBytes}`;
    if (validate) {
      let reason: string | undefined;
      try {
        reason = validate(item.data);
      } catch (error) {
        reason = error instanceof Error ? error.message : String(error);
      }
      if (reason !== undefined) return `validation: ${reason}`;
    }
    return undefined;
  };
}

/**
 * A failure that says the data is bad (a retry cannot help), not that the
 * sink is down: a SluiceError that is not retryable, of a code about the
 * data. `internal` (a bug) and the rest fail the session instead, so they
 * never dead-letter good items.
 */
function isPermanent(failure: unknown): boolean {
  return failure instanceof SluiceError && !failure.retryable && (failure.code === "source_failed" || failure.code === "invalid_argument" || failure.code === "limit_exceeded");
}

/** One dead letter as a dead-letter stream holds it: a JSON item of this shape. */
export interface DeadLetterRecord {
  /** The stream the item was published into. */
  readonly stream: string;
  /** Who published it. */
  readonly publisherId: string;
  /** The publisher's seq of it. */
  readonly seq: number;
  /** Why it was refused ("validation: …", "too large: …", "sink: …"). */
  readonly reason: string;
  /** Sink writes that carried it (0: refused before the sink). */
  readonly attempts: number;
  /** When it was refused (ISO 8601). */
  readonly time: string;
  /** The item's exact bytes, base64. */
  readonly data: string;
  /** The item, when its bytes are JSON. */
  readonly value?: unknown;
}

/** One dead letter as the dead-letter stream holds it (JSON). */
function deadLetterRecord(stream: string, publisherId: string, item: IngestItem, reason: string, attempts: number): Uint8Array {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(item.data));
  } catch {
    // Not JSON: the bytes are in `data` alone.
  }
  const record: DeadLetterRecord = { stream, publisherId, seq: item.seq, reason, attempts, time: new Date().toISOString(), data: Buffer.from(item.data).toString("base64"), ...(value !== undefined ? { value } : {}) };
  return new TextEncoder().encode(JSON.stringify(record));
}

/** A half-duplex publish call, decoded. */
export interface PublishBatch {
  /** The stream to publish into. */
  readonly stream: string;
  /** Who publishes. */
  readonly publisherId: string;
  /** The last seq the publisher knows was acked. */
  readonly resumeAfterSeq: number;
  /** The seq of items[0]. */
  readonly firstSeq: number;
  /** The items, whole. */
  readonly items: readonly Uint8Array[];
  /** The priority of every item (absent: NORMAL). */
  readonly priority?: Priority;
}

/** What a half-duplex publish call answers. */
export interface PublishBatchResult {
  /** Every item up to here is accepted or dead-lettered. */
  readonly ackSeq: number;
  /** The dead letters above the request's resume_after_seq. */
  readonly deadLetters: readonly DeadLetter[];
  /** Where the next batch starts. */
  readonly nextSeq: number;
  /** The limits in force. */
  readonly limits: Limits;
  /** The most the next batch may carry. */
  readonly window: Window;
  /** The stream's throttle for this call's last batch (absent: the stream has none, or the call carried no items). */
  readonly throttle?: PublishThrottle;
}

/** A stream's sink breaker, and the failure that last counted toward it (what an open breaker reports). */
interface SinkBreaker {
  readonly breaker: CircuitBreaker;
  lastFailure: SluiceError | undefined;
}

/** A sink write with retries (backoff, full jitter) inside the stream's circuit breaker. */
function guardedWrite(stream: string, sink: PublishSink, guard: SinkBreaker, retries: PublishDefinition["retries"]): (items: readonly IngestItem[], from: PublishContext, onTry: () => void) => Promise<readonly IngestFate[]> {
  const { breaker } = guard;
  return async (items, from, onTry) => {
    const backoff = new Backoff({ initialMs: retries?.initialMs ?? 50, maxMs: retries?.maxMs ?? 2_000, maxAttempts: retries?.attempts ?? 3, random: Math.random });
    for (;;) {
      const now = systemClock.now();
      if (!breaker.tryAcquire(now)) {
        const state = breaker.state(now);
        // The cause, not only the breaker: its code (unavailable for a database that is down) and message.
        const last = guard.lastFailure;
        throw new SluiceError(last?.code ?? "source_failed", `the sink of ${stream} is failing${last ? ` (${last.message})` : ""}: its circuit breaker is open; publish again later`, {
          retryable: true,
          retryAfterMs: state.kind === "open" ? Math.max(1, Math.ceil(state.until - now)) : 1_000,
        });
      }
      onTry();
      try {
        const fates = await sink.write(items, from);
        breaker.onSuccess(systemClock.now());
        return fates;
      } catch (failure) {
        const error = failure instanceof SluiceError ? failure : new SluiceError("source_failed", `sink failed: ${failure instanceof Error ? failure.message : String(failure)}`, { cause: failure });
        // Bad data is no sign of a failing sink: only retryable failures count toward opening the breaker.
        if (error.retryable) {
          breaker.onFailure(systemClock.now());
          guard.lastFailure = error;
        }
        else {
          breaker.onSuccess(systemClock.now());
          throw error;
        }
        const delay = error.retryable ? backoff.next() : undefined;
        if (delay === undefined) throw error;
        await new Promise<void>((resolve) => systemClock.schedule(systemClock.now() + delay, resolve));
      }
    }
  };
}

const ACCEPTED: IngestFate = { accepted: true };

/**
 * A topic as a sink: each item is published (and so visible to subscribers)
 * before its ack. The batch's publishes go out together and are awaited
 * together (an engine keeps their order). An engine shared by several
 * servers gets each item's (stream, publisher id, seq) as its idempotence
 * key, so a batch written again, here or on another instance, lands once.
 */
function topicSink(topic: TopicEngine, route: string | SubjectRouter | undefined): PublishSink {
  return {
    async write(items: readonly IngestItem[], from: PublishContext) {
      const keyed = topic.publishKeys === true;
      const fates: IngestFate[] = new Array<IngestFate>(items.length).fill(ACCEPTED);
      const acks: (PublishAck | Promise<PublishAck>)[] = [];
      for (const [i, item] of items.entries()) {
        let subject = typeof route === "string" ? route : undefined;
        if (route instanceof SubjectRouter) {
          const decision = route.route(item.data);
          if (decision.subject === undefined) {
            fates[i] = { accepted: false, reason: decision.reason };
            continue;
          }
          subject = decision.subject;
        }
        const key = keyed ? `${from.stream}/${from.publisherId}/${item.seq}` : undefined;
        acks.push(topic.publish(item.data, key === undefined && subject === undefined ? undefined : { ...(key !== undefined ? { key } : {}), ...(subject !== undefined ? { subject } : {}) }));
      }
      await Promise.all(acks);
      return fates;
    },
  };
}
