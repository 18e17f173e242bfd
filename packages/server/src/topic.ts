/**
 * The in-memory topic engine (one TopicEngine; see topic-engine.ts):
 * publish once, fan out to many subscribers, each with its own bounded
 * queue (core's SubscriberQueue) behind its own credit window. A subscriber
 * that falls behind gets the topic's overflow policy, and every drop reaches
 * it as a gap (never silent). A history bounded by count, bytes and age lets
 * a subscriber resume by seq; a position older than the history fails with
 * resume_position_lost. Publishes with an idempotence key are deduplicated
 * within a window (2 minutes by default, as JetStream's).
 *
 * A topic lives in one process, so a restart loses it. Its seqs must not
 * start again at 1 then: a subscriber at seq 246 of the old topic would
 * resume into seq 247 of the new one as if nothing happened. So a topic
 * numbers from a base taken from the clock (milliseconds since 1970 × 1 000,
 * about 1.8e15, below 2^53 until the year 2255): every seq of an earlier
 * incarnation is below it, as long as that one published under a million
 * items per second on average over its life. A resume position below the
 * base is from before the restart (the topic's epoch), and the
 * resumeExpired policy decides: resume_position_lost, or a gap with reason
 * "restarted".
 */
import { patternProblem, patternUnder, SluiceError, SubjectFilter, subjectProblem, SubscriberQueue, type Gap, type SubscriberOverflowPolicy } from "@sluice/core";
import type { PolledItems, SessionSignal, SourceYield } from "@sluice/driver";
import { indexCursor } from "./source.js";
import { TopicHistory } from "./topic-history.js";
import type { HistoryBounds, PublishAck, RetainedRange, PublishOptions, TopicEngine, TopicStats, TopicSubscribeOptions, TopicSubscription } from "./topic-engine.js";

/** What a {@link Topic} does to a subscriber that falls behind (core's SubscriberOverflowPolicy). */
export type TopicOverflowPolicy = SubscriberOverflowPolicy;

/** A {@link Topic}'s history, subscriber queues, resume policy, deduplication and clock. */
export interface TopicOptions {
  /** Items kept for resume (0: none). Default 10 000. */
  readonly historyItems?: number;
  /** Payload bytes kept for resume. Default: unbounded (the item count bounds it). */
  readonly historyBytes?: number;
  /** How long an item stays in the history, in milliseconds. Default: unbounded. */
  readonly historyMaxAgeMs?: number;
  /** Items queued per subscriber beyond its window before the policy applies. Default 1 024. */
  readonly subscriberQueueItems?: number;
  /** What a subscriber that falls behind gets. Default "drop_oldest". */
  readonly overflow?: TopicOverflowPolicy;
  /**
   * A resume position older than the retained history: "fail" (default)
   * with resume_position_lost, or "gap": resume at the oldest retained item
   * and report the lost seqs as a history_expired gap in the ResumeResult.
   */
  readonly resumeExpired?: "fail" | "gap";
  /**
   * The first item's seq. Default: Date.now() × 1 000, so that seqs never
   * repeat across restarts (see above). Set it only where nothing outlives
   * the process (tests that want small seqs).
   */
  readonly firstSeq?: number;
  /** How long an idempotence key is remembered, in milliseconds. Default 120 000. */
  readonly dedupeWindowMs?: number;
  /** The most idempotence keys remembered at once (the oldest are forgotten first). Default 100 000. */
  readonly maxDedupeKeys?: number;
  /** Milliseconds on a monotonic clock (history age, dedupe window, item latency). Default performance.now. */
  readonly now?: () => number;
}

/**
 * A published item (one object, shared by every subscriber's queue; the
 * history keeps its bytes apart); `at` is the clock at publish. A class,
 * not a literal, for the reason core's SubscriberQueue gives: a literal's
 * site gets pretenured after a burst, and then every item is born old.
 */
class Published {
  constructor(
    readonly seq: number,
    readonly data: Uint8Array,
    readonly at: number,
    readonly subject: string,
  ) {}
}

/** Checks that `subject` is the topic's name or a subject under it (publish), naming what is wrong. */
export function checkTopicSubject(topic: string, subject: string): void {
  const problem = subjectProblem(subject);
  if (problem) throw new SluiceError("invalid_argument", `subject ${JSON.stringify(subject)}: ${problem}`, { field: "subject", blame: "remote" });
  if (!patternUnder(subject, topic)) throw new SluiceError("invalid_argument", `subject ${JSON.stringify(subject)} is not under topic ${topic} (it must be ${topic} or start with "${topic}.")`, { field: "subject", blame: "remote" });
}

/** Checks that `pattern` is a pattern under the topic (subscribe), naming what is wrong. */
export function checkTopicPattern(topic: string, pattern: string): SubjectFilter {
  const problem = patternProblem(pattern);
  if (problem) throw new SluiceError("invalid_argument", `subject pattern ${JSON.stringify(pattern)}: ${problem}`, { field: "open.stream", blame: "remote" });
  if (!patternUnder(pattern, topic)) throw new SluiceError("invalid_argument", `subject pattern ${JSON.stringify(pattern)} is not under topic ${topic}`, { field: "open.stream", blame: "remote" });
  return new SubjectFilter(pattern);
}

/**
 * One subscription: its queue, and the items both as PolledItems (what a
 * session reads) and as an async iterator over them (what anything else
 * reads). One object, not closures around it: an idle subscription's heap
 * is what it holds (BENCHMARKS.md, idle sessions).
 */
class TopicSubscriber implements PolledItems, AsyncIterator<SourceYield>, AsyncIterable<SourceYield> {
  readonly queue: SubscriberQueue<Published>;
  wake: (() => void) | undefined;
  failed: SluiceError | undefined;
  closed = false;
  /** The last seq its session took (items and gaps): where the subscriber is, for consumerLag(). */
  taken = 0;
  /**
   * With a filter, the queue numbers the subscriber's matching items 1, 2, …
   * (so drops count matching items); without, it uses the topic's seqs.
   */
  matched = 0;

  constructor(
    capacity: number,
    policy: TopicOverflowPolicy,
    /** Its name, for consumerLag(consumers). */
    readonly consumer: string | undefined,
    /** Only items of matching subjects reach it (undefined: all). */
    readonly filter: SubjectFilter | undefined,
    /** Takes it out of its topic (one function per topic). */
    readonly unsubscribe: (sub: TopicSubscriber) => void,
  ) {
    this.queue = new SubscriberQueue(capacity, policy);
  }

  /** Ends it: out of the topic, and a waiting reader wakes to the end. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe(this);
    this.notify();
  }

  /** The session's signal fired. */
  readonly onAbort = (): void => this.close();

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  // PolledItems: what its session reads.
  take(): SourceYield | null | undefined {
    if (this.failed) throw this.failed;
    const entry = this.queue.shift();
    if (entry) {
      if ("gapFrom" in entry) {
        // A filtered queue's gap counts matching items, not topic seqs: where it ends is the next item's business.
        if (!this.filter) this.taken = entry.gapFrom + entry.count - 1;
        return { gap: entry.count, reason: entry.reason };
      }
      const item = entry.item;
      this.taken = item.seq;
      // A filtered stream tells each item's subject (PROTOCOL.md §7.10); the whole topic does not.
      return this.filter ? { data: item.data, cursor: indexCursor(item.seq), producedAt: item.at, subject: item.subject } : { data: item.data, cursor: indexCursor(item.seq), producedAt: item.at };
    }
    return this.closed ? null : undefined;
  }

  whenReady(wake: () => void): void {
    this.wake = wake;
  }

  ready(): boolean {
    return this.queue.size > 0 || this.failed !== undefined || this.closed;
  }

  // AsyncIterator: the same items, waiting when none is ready.
  async next(): Promise<IteratorResult<SourceYield>> {
    for (;;) {
      const value = this.take();
      if (value) return { done: false, value };
      if (value === null) return { done: true, value: undefined };
      await new Promise<void>((resolve) => this.whenReady(resolve));
    }
  }

  /** Ends a waiting next() at once: cancelling an idle topic stream must not hang. */
  async return(): Promise<IteratorResult<SourceYield>> {
    this.close();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): AsyncIterator<SourceYield> {
    return this;
  }
}

/**
 * The in-memory topic engine: publish once, fan out to every subscriber through
 * its own bounded queue, and keep a bounded history to resume from. Lives in
 * one process; its seqs never repeat across restarts.
 */
export class Topic implements TopicEngine {
  /** The topic's name (logs, errors). */
  readonly name: string;
  /** How much history it keeps for resume. */
  readonly history: HistoryBounds;
  readonly queueItems: number;
  /** What a subscriber that falls behind gets. */
  readonly overflow: TopicOverflowPolicy;
  /** What a resume older than the history gets (see TopicOptions.resumeExpired). */
  readonly resumeExpired: "fail" | "gap";
  /** Live counters. */
  readonly stats: TopicStats = { published: 0, subscribers: 0, dropped: 0, disconnected: 0, maxQueued: 0 };
  readonly #history: TopicHistory;
  #nextSeq: number;
  /** The first seq this incarnation of the topic numbers (its epoch): anything below is from before a restart. */
  readonly firstSeq: number;
  readonly #subscribers = new Set<TopicSubscriber>();
  readonly #unsubscribe = (sub: TopicSubscriber): void => {
    this.#subscribers.delete(sub);
    this.stats.subscribers = this.#subscribers.size;
  };
  readonly #now: () => number;
  readonly #dedupeWindowMs: number;
  readonly #maxDedupeKeys: number;
  /** Idempotence key → the seq and time of its first publish, oldest first (Map keeps insertion order). */
  readonly #keys = new Map<string, { seq: number; at: number }>();

  constructor(name: string, options: TopicOptions = {}) {
    this.name = name;
    const bound = (what: string, value: number | undefined, fallback: number, min = 1) => {
      const v = value ?? fallback;
      if (!(v >= min)) throw new RangeError(`topic ${name}: ${what} must be at least ${min}, got ${v}`);
      return v;
    };
    this.history = {
      // 0: no history (a subscriber can only resume at the head).
      maxItems: bound("historyItems", options.historyItems, 10_000, 0),
      maxBytes: bound("historyBytes", options.historyBytes, Infinity),
      maxAgeMs: bound("historyMaxAgeMs", options.historyMaxAgeMs, Infinity),
    };
    this.#history = new TopicHistory(this.history, name);
    this.queueItems = bound("subscriberQueueItems", options.subscriberQueueItems, 1_024);
    this.overflow = options.overflow ?? "drop_oldest";
    this.resumeExpired = options.resumeExpired ?? "fail";
    this.#now = options.now ?? (() => performance.now());
    this.#dedupeWindowMs = options.dedupeWindowMs ?? 120_000;
    this.#maxDedupeKeys = options.maxDedupeKeys ?? 100_000;
    const firstSeq = options.firstSeq ?? Date.now() * 1_000;
    if (!Number.isSafeInteger(firstSeq) || firstSeq < 1) throw new RangeError(`topic ${name}: firstSeq must be a safe integer ≥ 1, got ${firstSeq}`);
    this.firstSeq = firstSeq;
    this.#nextSeq = firstSeq;
  }

  /** Items kept for resume (history.maxItems). */
  get historyItems(): number {
    return this.history.maxItems;
  }

  /** Seq the next published item gets. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Oldest seq still retained for resume (nextSeq when the history is empty). */
  get oldestRetained(): number {
    this.#history.trim(this.#now());
    return this.#history.oldestSeq ?? this.#nextSeq;
  }

  /** The oldest retained seq and the next seq (TopicEngine.retainedRange). */
  retainedRange(): RetainedRange {
    return { oldestSeq: this.oldestRetained, nextSeq: this.#nextSeq };
  }

  /** Items and payload bytes retained for resume now. */
  get retained(): {
    /** Items retained. */
    items: number;
    /** Their payload bytes. */
    bytes: number;
  } {
    this.#history.trim(this.#now());
    return { items: this.#history.length, bytes: this.#history.bytes };
  }

  /**
   * Publishes one item to every subscriber and the history; a key already seen
   * within the dedupe window publishes nothing and answers the first seq.
   */
  publish(data: Uint8Array, options: PublishOptions = {}): PublishAck {
    const subject = options.subject ?? this.name;
    if (subject !== this.name) checkTopicSubject(this.name, subject);
    const at = this.#now();
    if (options.key !== undefined) {
      this.#forgetKeys(at);
      const first = this.#keys.get(options.key);
      if (first) return { seq: first.seq, duplicate: true };
    }
    const seq = this.#nextSeq++;
    if (options.key !== undefined) {
      // Room for the new key: the oldest is forgotten first.
      if (this.#keys.size >= this.#maxDedupeKeys) this.#keys.delete(this.#keys.keys().next().value!);
      this.#keys.set(options.key, { seq, at });
    }
    this.stats.published++;
    // The history keeps a copy of the bytes; this object lives only until every subscriber's session took it.
    this.#history.push(seq, data, at, subject);
    const entry = new Published(seq, data, at, subject);
    for (const sub of this.#subscribers) this.#deliver(sub, entry);
    return { seq, duplicate: false };
  }

  /**
   * Opens a subscription after `afterSeq` (undefined: from now on). Items
   * still in history are replayed; older positions fail, or continue with a
   * gap under resumeExpired "gap".
   */
  subscribe(afterSeq: number | undefined, signal?: SessionSignal, options: TopicSubscribeOptions = {}): TopicSubscription {
    const filter = options.filter !== undefined && options.filter !== this.name ? checkTopicPattern(this.name, options.filter) : undefined;
    const sub = new TopicSubscriber(this.queueItems, this.overflow, options.consumer, filter, this.#unsubscribe);
    let nextSeq = this.#nextSeq;
    sub.taken = this.#nextSeq - 1;
    if (afterSeq !== undefined && afterSeq >= this.#nextSeq) {
      // The client has seqs this topic never published: it followed another
      // topic (another process, or a clock that went back). Continuing would reuse seqs.
      throw new SluiceError("resume_position_lost", `topic ${this.name}: resume after seq ${afterSeq} but the topic is at seq ${this.#nextSeq - 1}: not the topic this position is from`);
    }
    let gap: Gap | undefined;
    let replayed = 0;
    if (afterSeq !== undefined && afterSeq + 1 < this.#nextSeq) {
      let from = afterSeq;
      const oldest = this.oldestRetained;
      if (afterSeq + 1 < oldest) {
        // The position is from before this topic began (it restarted), or older than its history.
        const restarted = afterSeq + 1 < this.firstSeq;
        if (this.resumeExpired === "fail") {
          throw new SluiceError(
            "resume_position_lost",
            restarted
              ? `topic ${this.name} restarted: resume after seq ${afterSeq} is from before the restart (it numbers from ${this.firstSeq} now), and what was published after it is lost`
              : `topic ${this.name}: resume after seq ${afterSeq} is older than the retained history (oldest ${oldest})`,
          );
        }
        // The policy accepts the loss: continue at the oldest retained item and say what was lost.
        gap = { fromSeq: afterSeq + 1, count: oldest - afterSeq - 1, reason: restarted ? "restarted" : "history_expired" };
        from = oldest - 1;
      }
      nextSeq = from + 1;
      sub.taken = from;
      this.#history.forEachAfter(from, filter && ((subject) => filter.matches(subject)), (entry) => {
        sub.queue.replay(filter ? ++sub.matched : entry.seq, entry);
        replayed++;
      });
    }
    this.#subscribers.add(sub);
    this.stats.subscribers = this.#subscribers.size;
    signal?.addEventListener("abort", sub.onAbort, { once: true });
    return { nextSeq, replayed, ...(gap ? { gap } : {}), items: sub, polled: sub };
  }

  /**
   * How far the slowest subscriber is behind the newest item: the newest seq
   * minus the last one its session took from the topic (a session takes
   * only as its client's credit allows, so this is the client's position
   * within its window). Dropped items count as taken: they are gaps. With
   * `consumers`, only the subscribers of those names count.
   */
  consumerLag(consumers?: ReadonlySet<string>): number {
    let slowest = this.#nextSeq - 1;
    for (const sub of this.#subscribers) {
      if (consumers && (sub.consumer === undefined || !consumers.has(sub.consumer))) continue;
      if (!sub.failed && !sub.closed && sub.taken < slowest) slowest = sub.taken;
    }
    return this.#nextSeq - 1 - slowest;
  }

  #deliver(sub: TopicSubscriber, entry: Published): void {
    if (sub.failed || sub.closed) return;
    if (sub.filter && !sub.filter.matches(entry.subject)) {
      // Not its subject: a caught-up subscriber is at the newest seq all the same (consumerLag).
      if (sub.queue.size === 0) sub.taken = entry.seq;
      return;
    }
    const outcome = sub.queue.offer(sub.filter ? ++sub.matched : entry.seq, entry);
    if (sub.queue.maxQueued > this.stats.maxQueued) this.stats.maxQueued = sub.queue.maxQueued;
    if (outcome === "dropped") this.stats.dropped++;
    else if (outcome === "overflowed") {
      this.stats.dropped++;
      sub.failed = new SluiceError("slow_consumer", `topic ${this.name}: subscriber fell more than ${this.queueItems} items behind`, { retryAfterMs: 1_000 });
      this.stats.disconnected++;
    }
    sub.notify();
  }

  /** Forgets keys older than the dedupe window (oldest first, so the walk stops at the first young one). */
  #forgetKeys(now: number): void {
    for (const [key, first] of this.#keys) {
      if (now - first.at <= this.#dedupeWindowMs) break;
      this.#keys.delete(key);
    }
  }
}
