/**
 * A topic engine on NATS JetStream (the server's TopicEngine contract, as
 * the in-memory Topic meets it): the topic is a JetStream stream, so it
 * outlives a server's restart and every server instance on the same NATS
 * serves the same items under the same seqs.
 *
 * - Seq and cursor are the JetStream stream sequence: a subscriber that was
 *   at seq 246 on one instance resumes at 247 on any other.
 * - History is the stream's retention: max_msgs, max_bytes and max_age come
 *   from historyItems, historyBytes and historyMaxAgeMs (discard old). A
 *   resume position older than the first retained message gets the
 *   resumeExpired policy: resume_position_lost, or a history_expired gap and
 *   the oldest retained item next.
 * - Publish is a JetStream publish that waits for its PubAck; an
 *   idempotence key is sent as Nats-Msg-Id, so the stream's duplicate
 *   window (dedupeWindowMs) turns a publish repeated after a failover, on
 *   any instance, into the first one's seq with `duplicate: true`.
 * - Each subscriber reads through an ordered consumer of its own, pulled
 *   only as its session takes items, so its window is its own and JetStream
 *   holds what it has not read yet. When it is more than queueItems behind
 *   the newest item, the overflow policy applies as it does in memory:
 *   drop_oldest skips ahead to the newest queueItems, drop_newest skips what
 *   came after the first queueItems of its backlog, disconnect fails it with
 *   slow_consumer; every skip reaches it as a gap. Items the stream's
 *   retention removed before the subscriber read them are a dropped_oldest
 *   gap too: nothing is ever missing silently.
 */
import { DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Queue, SluiceError, type Gap, type SubscriberOverflowPolicy } from "@sluice/core";
import type { SessionSignal, SourceYield } from "@sluice/driver";
import { checkTopicPattern, checkTopicSubject, indexCursor, type HistoryBounds, type PublishAck, type PublishOptions, type RetainedRange, type TopicEngine, type TopicStats, type TopicSubscribeOptions, type TopicSubscription } from "@sluice/server";

/** A {@link NatsTopic}'s connection, stream, retention, subscriber policy and deduplication window. */
export interface NatsTopicOptions {
  /** The NATS connection (with JetStream); the caller owns it and closes it. */
  readonly connection: NatsConnection;
  /** The JetStream stream's name. Default: "SLUICE_" and the topic's name with every character outside A-Z a-z 0-9 _ - as "_". */
  readonly stream?: string;
  /**
   * The NATS subject the topic's own items are published on (default: the
   * JetStream stream's name, which holds no dot, so that nested topic names
   * such as `orders` and `orders.dlq` get subjects that do not overlap); a
   * Sluice subject under the topic (`sensors.lab.temp` in topic `sensors`)
   * is this subject with the rest appended (`SLUICE_sensors.lab.temp`), and
   * the stream holds `subject` and `subject.>`.
   */
  readonly subject?: string;
  /** Items kept (the stream's max_msgs; 0 is refused: a JetStream topic always keeps what its subscribers read). Default 10 000. */
  readonly historyItems?: number;
  /** Payload bytes kept (max_bytes). Default: unbounded. */
  readonly historyBytes?: number;
  /** How long an item is kept, in milliseconds (max_age). Default: unbounded. */
  readonly historyMaxAgeMs?: number;
  /** How far a subscriber may fall behind the newest item, beyond what its session took, before `overflow` applies. Default 1 024. */
  readonly subscriberQueueItems?: number;
  /** What a subscriber that falls behind gets. Default "drop_oldest". */
  readonly overflow?: SubscriberOverflowPolicy;
  /** A resume position older than the retained history: "fail" (resume_position_lost, default) or "gap" (a history_expired gap, then the oldest retained item). */
  readonly resumeExpired?: "fail" | "gap";
  /** The stream's duplicate window for Nats-Msg-Id, in milliseconds. Default 120 000. */
  readonly dedupeWindowMs?: number;
  /** Where JetStream keeps the items: "file" (default: they survive a NATS restart) or "memory". */
  readonly storage?: "file" | "memory";
  /** Messages each subscriber's own consumer pulls ahead of its session. Default 256. */
  readonly pullAhead?: number;
  /** Messages the shared tail's one consumer pulls ahead (it reads for every subscriber at the head). Default 1 024. */
  readonly tailPullAhead?: number;
  /**
   * How long a subscriber must stay more than subscriberQueueItems behind
   * before the overflow policy applies, in milliseconds. JetStream delivers
   * in pulls, so during a burst a subscriber that reads as fast as it is
   * sent still looks behind for a moment; one that cannot keep up stays
   * behind. Default 1 000.
   */
  readonly overflowGraceMs?: number;
  /** Called with each publish's time from send to JetStream's PubAck, in milliseconds (metrics). */
  readonly onPublishLatency?: (ms: number) => void;
}

const NANOS_PER_MS = 1_000_000;

/** A NATS topic's counters: the engine's, and redeliveries. */
export interface NatsTopicStats extends TopicStats {
  /**
   * Messages JetStream delivered again that this instance had already
   * handed on: an ordered consumer that was reset (a missed heartbeat, a
   * sequence gap, a reconnect to NATS) starts over at its last position,
   * and these are skipped, never sent twice.
   */
  redelivered: number;
  /** Times a subscriber's ordered consumer was recreated by the client library (after missed heartbeats or a NATS reconnect). */
  consumerResets: number;
}

/** The stream name the topic gets unless one is given. */
export function natsStreamName(topic: string): string {
  return `SLUICE_${topic.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

class NatsSubscriber {
  /** The last seq its session took (items and gaps), for consumerLag(). */
  taken: number;
  /** How many items were after the last one read (the consumer's pending), for consumerLag(). */
  pending = 0;
  constructor(
    taken: number,
    readonly consumer: string | undefined,
  ) {
    this.taken = taken;
  }
}

/**
 * A topic kept in a NATS JetStream stream, shared by every server instance
 * on the same NATS: publish waits for JetStream's PubAck, seqs and cursors
 * are stream sequences, and each subscriber reads through its own ordered
 * consumer. Open it with {@link NatsTopic.open}.
 */
export class NatsTopic implements TopicEngine {
  /** The topic's name (logs, errors). */
  readonly name: string;
  /** The JetStream stream that holds it. */
  readonly stream: string;
  /** The subject its items are published on. */
  readonly subject: string;
  /** How much history it keeps for resume (the stream's retention). */
  readonly history: HistoryBounds;
  readonly queueItems: number;
  /** What a subscriber that falls behind gets. */
  readonly overflow: SubscriberOverflowPolicy;
  /** What a resume older than the history gets. */
  readonly resumeExpired: "fail" | "gap";
  /** Publishes from ingest carry (publisher id, seq) keys: other instances' registries cannot see this one's. */
  readonly publishKeys = true;
  /** Live counters of this instance (published: by this instance). */
  readonly stats: NatsTopicStats = { published: 0, subscribers: 0, dropped: 0, disconnected: 0, maxQueued: 0, redelivered: 0, consumerResets: 0 };
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #pullAhead: number;
  readonly #tailPullAhead: number;
  readonly #onPublishLatency: ((ms: number) => void) | undefined;
  /** See NatsTopicOptions.overflowGraceMs. */
  readonly overflowGraceMs: number;
  readonly #subscribers = new Set<NatsSubscriber>();
  /** The newest seq this instance saw (its publishes, its subscribers' reads). */
  #lastSeq = 0;

  private constructor(name: string, options: NatsTopicOptions, jsm: JetStreamManager, history: HistoryBounds) {
    this.name = name;
    this.stream = options.stream ?? natsStreamName(name);
    // The stream's name, not the topic's: topic names nest (`orders` and its
    // dead letters `orders.dlq`), and JetStream refuses two streams whose
    // subjects overlap, as `orders.>` and `orders.dlq` would.
    this.subject = options.subject ?? this.stream;
    this.history = history;
    this.queueItems = options.subscriberQueueItems ?? 1_024;
    this.overflow = options.overflow ?? "drop_oldest";
    this.resumeExpired = options.resumeExpired ?? "fail";
    this.#pullAhead = options.pullAhead ?? 256;
    this.#tailPullAhead = options.tailPullAhead ?? 1_024;
    this.#onPublishLatency = options.onPublishLatency;
    this.overflowGraceMs = options.overflowGraceMs ?? 1_000;
    this.#jsm = jsm;
    this.#js = jetstream(options.connection);
  }

  /**
   * Opens the topic: creates its JetStream stream, or updates the
   * retention of the one that exists (its items stay), and answers the
   * topic. Fails with unavailable when NATS or JetStream does not answer.
   */
  static async open(name: string, options: NatsTopicOptions): Promise<NatsTopic> {
    const bound = (what: string, value: number | undefined, fallback: number, min = 1) => {
      const v = value ?? fallback;
      if (!(v >= min)) throw new RangeError(`topic ${name}: ${what} must be at least ${min}, got ${v}`);
      return v;
    };
    const history: HistoryBounds = {
      maxItems: bound("historyItems", options.historyItems, 10_000),
      maxBytes: bound("historyBytes", options.historyBytes, Infinity),
      maxAgeMs: bound("historyMaxAgeMs", options.historyMaxAgeMs, Infinity),
    };
    bound("subscriberQueueItems", options.subscriberQueueItems, 1_024);
    const dedupeWindowMs = bound("dedupeWindowMs", options.dedupeWindowMs, 120_000);
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(options.connection);
    } catch (error) {
      throw new SluiceError("unavailable", `topic ${name}: JetStream is not available on this NATS connection: ${(error as Error).message}`, { cause: error });
    }
    const topic = new NatsTopic(name, options, jsm, history);
    const config = {
      name: topic.stream,
      // The topic's own subject and every subject under it (PROTOCOL.md §7.10).
      subjects: [topic.subject, `${topic.subject}.>`],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      storage: options.storage === "memory" ? StorageType.Memory : StorageType.File,
      max_msgs: history.maxItems,
      max_bytes: Number.isFinite(history.maxBytes) ? history.maxBytes : -1,
      max_age: Number.isFinite(history.maxAgeMs) ? history.maxAgeMs * NANOS_PER_MS : 0,
      // JetStream refuses a duplicate window longer than max_age: an item cannot be a duplicate of one that is gone.
      duplicate_window: Math.min(dedupeWindowMs, history.maxAgeMs) * NANOS_PER_MS,
    };
    try {
      const existing = await jsm.streams.info(topic.stream).catch(() => undefined);
      if (existing) {
        // Storage cannot change on a live stream; retention and the window can.
        const { storage: _storage, ...update } = config;
        await jsm.streams.update(topic.stream, update);
      } else {
        await jsm.streams.add(config);
      }
      topic.#lastSeq = (await jsm.streams.info(topic.stream)).state.last_seq;
    } catch (error) {
      throw new SluiceError("unavailable", `topic ${name}: could not set up JetStream stream ${topic.stream}: ${(error as Error).message}`, { cause: error });
    }
    return topic;
  }

  /** Publishes one item and waits for JetStream's PubAck; a key already seen within the duplicate window answers the first publish's seq. */
  async publish(data: Uint8Array, options: PublishOptions = {}): Promise<PublishAck> {
    let ack;
    const subject = options.subject === undefined || options.subject === this.name ? this.subject : this.#natsSubject(options.subject);
    const started = performance.now();
    try {
      ack = await this.#js.publish(subject, data, options.key !== undefined ? { msgID: options.key } : undefined);
    } catch (error) {
      throw new SluiceError("unavailable", `topic ${this.name}: JetStream publish failed: ${(error as Error).message}`, { cause: error });
    }
    this.#onPublishLatency?.(performance.now() - started);
    if (!ack.duplicate) this.stats.published++;
    if (ack.seq > this.#lastSeq) this.#lastSeq = ack.seq;
    return { seq: ack.seq, duplicate: ack.duplicate };
  }

  /** The NATS subject of a Sluice subject or pattern under the topic (checked). */
  #natsSubject(subject: string, pattern = false): string {
    if (pattern) checkTopicPattern(this.name, subject);
    else checkTopicSubject(this.name, subject);
    return this.subject + subject.slice(this.name.length);
  }

  #firstSeq: { seq: number; at: number } = { seq: 0, at: -Infinity };
  #firstSeqQuery: { started: number; answer: Promise<number> } | undefined;

  /**
   * The stream's first retained seq, as known at or after `since` (a
   * performance.now() time): one stream info call answers every reader
   * that asked before it began, so readers share the calls.
   */
  async firstSeqSince(since: number): Promise<number> {
    if (this.#firstSeq.at >= since) return this.#firstSeq.seq;
    const running = this.#firstSeqQuery;
    if (running && running.started >= since) return running.answer;
    if (running) await running.answer.catch(() => undefined);
    if (this.#firstSeq.at >= since) return this.#firstSeq.seq;
    const started = performance.now();
    const answer = this.#jsm.streams.info(this.stream).then((info) => {
      const state = info.state;
      const seq = state.messages === 0 ? state.last_seq + 1 : state.first_seq;
      if (started > this.#firstSeq.at) this.#firstSeq = { seq, at: started };
      return seq;
    });
    this.#firstSeqQuery = { started, answer };
    try {
      return await answer;
    } catch (error) {
      throw new SluiceError("unavailable", `topic ${this.name}: JetStream stream ${this.stream} did not answer: ${(error as Error).message}`, { cause: error, retryAfterMs: 500 });
    } finally {
      if (this.#firstSeqQuery?.answer === answer) this.#firstSeqQuery = undefined;
    }
  }

  /** The oldest retained seq and the next seq, from the stream's state. */
  async retainedRange(): Promise<RetainedRange> {
    const state = (await this.#jsm.streams.info(this.stream)).state;
    return { oldestSeq: state.messages === 0 ? state.last_seq + 1 : state.first_seq, nextSeq: state.last_seq + 1 };
  }

  /**
   * Messages of the stream after each of this instance's subscribers' positions
   * (what its session has taken), summed over them: up to the newest seq this
   * instance knows of (its publishes, its subscribers' reads and the pending
   * count their last message carried).
   */
  get consumerPending(): number {
    let pending = 0;
    for (const sub of this.#subscribers) pending += Math.max(this.#lastSeq - sub.taken, sub.pending);
    return pending;
  }

  /** How far the slowest subscriber (of `consumers`, when given) is behind the newest item this instance knows of. */
  consumerLag(consumers?: ReadonlySet<string>): number {
    let lag = 0;
    for (const sub of this.#subscribers) {
      if (consumers && (sub.consumer === undefined || !consumers.has(sub.consumer))) continue;
      lag = Math.max(lag, this.#lastSeq - sub.taken, sub.pending);
    }
    return lag;
  }

  /**
   * A subscription after `afterSeq` (undefined: from the next item on). The
   * retained items after it are replayed; a position older than the
   * stream's first retained message gets the resumeExpired policy, and one
   * beyond its last fails with resume_position_lost (another topic's seq).
   *
   * A subscriber at the head reads from the topic's shared tail (one
   * consumer per subject pattern for the whole instance, see TopicTail); one
   * behind it, or one that falls behind, reads through a consumer of its own
   * until it has caught up, then joins the tail again.
   */
  async subscribe(afterSeq: number | undefined, signal?: SessionSignal, options: TopicSubscribeOptions = {}): Promise<TopicSubscription> {
    const filter = options.filter !== undefined && options.filter !== this.name ? this.#natsSubject(options.filter, true) : undefined;
    const key = filter ?? "";
    const tail = this.#tails.get(key);
    let start: number;
    let gap: Gap | undefined;
    let replayed = 0;
    /** At the head: nothing to read before the tail, which it may start. */
    let atHead = false;
    if (tail && !tail.failed && (afterSeq === undefined || (afterSeq >= tail.coveredFrom && afterSeq <= tail.position))) {
      // The tail has everything after the position: no need to ask the stream (a reconnect storm costs no info calls).
      start = (afterSeq ?? tail.position) + 1;
    } else {
      let state;
      try {
        state = (await this.#jsm.streams.info(this.stream)).state;
      } catch (error) {
        throw new SluiceError("unavailable", `topic ${this.name}: JetStream stream ${this.stream} did not answer: ${(error as Error).message}`, { cause: error });
      }
      const last = state.last_seq;
      if (last > this.#lastSeq) this.#lastSeq = last;
      // An empty stream reports first_seq 0 (never written) or last + 1 (everything expired).
      const first = state.messages === 0 ? last + 1 : state.first_seq;
      start = last + 1;
      atHead = afterSeq === undefined || afterSeq === last;
      if (afterSeq !== undefined) {
        if (afterSeq > last) throw new SluiceError("resume_position_lost", `topic ${this.name}: resume after seq ${afterSeq} but the stream is at seq ${last}: not the topic this position is from`);
        start = afterSeq + 1;
        if (start < first) {
          if (this.resumeExpired === "fail") throw new SluiceError("resume_position_lost", `topic ${this.name}: resume after seq ${afterSeq} is older than the retained history (oldest ${first})`);
          gap = { fromSeq: start, count: first - start, reason: "history_expired" };
          start = first;
        }
        if (filter === undefined) replayed = last - start + 1;
        else if (gap) {
          // From the oldest retained item on, the matching ones: JetStream counts them per subject.
          const info = await this.#jsm.streams.info(this.stream, { subjects_filter: filter });
          replayed = Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0);
        }
        // Otherwise how many matching items follow the position is known only as they are read.
      }
    }
    const sub = new NatsSubscriber(start - 1, options.consumer);
    this.#subscribers.add(sub);
    this.stats.subscribers = this.#subscribers.size;
    const follower = new TailFollower(this, sub, key, filter, start - 1, this.#pullAhead, atHead);
    const remove = () => {
      if (!this.#subscribers.delete(sub)) return;
      this.stats.subscribers = this.#subscribers.size;
      follower.stop();
    };
    signal?.addEventListener("abort", remove, { once: true });
    const iterator: AsyncIterator<SourceYield> = {
      next: async () => {
        try {
          const value = await follower.next();
          if (value === undefined) {
            remove();
            return { done: true, value: undefined };
          }
          return { done: false, value };
        } catch (error) {
          remove();
          throw error;
        }
      },
      return: async () => {
        remove();
        return { done: true, value: undefined };
      },
    };
    return {
      nextSeq: start,
      replayed,
      ...(gap ? { gap } : {}),
      items: { [Symbol.asyncIterator]: () => iterator },
      ready: () => follower.ready(),
    };
  }

  readonly #tails = new Map<string, TopicTail>();

  /** The shared tail for a pattern ("" : the whole stream), if one runs. */
  tailOf(key: string): TopicTail | undefined {
    const tail = this.#tails.get(key);
    return tail && !tail.failed ? tail : undefined;
  }

  /** Starts the shared tail for a pattern at `position` (the seq it has everything after). */
  startTail(key: string, filter: string | undefined, position: number): TopicTail {
    const tail = new TopicTail(this, filter, position, this.#tailPullAhead, () => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    this.#tails.set(key, tail);
    return tail;
  }

  /** For ConsumerReader: the JetStream client and the policy. */
  get js(): JetStreamClient {
    return this.#js;
  }

  /** For ConsumerReader: the newest seq seen. */
  noteSeq(seq: number): void {
    if (seq > this.#lastSeq) this.#lastSeq = seq;
  }
}

/**
 * One subscriber's ordered consumer: read as the session takes items,
 * restarted where the overflow policy skips. With a filter (a subject
 * pattern) JetStream sends only matching messages, so stream seqs jump
 * over other subjects' items: a jump is a loss only when the stream's
 * retention removed seqs the reader had not passed (asked of the stream
 * after the message arrived), and the overflow policy drops by reading
 * and discarding matching messages, which it counts exactly.
 */
class ConsumerReader {
  #messages: ConsumerMessages | undefined;
  #iterator: AsyncIterator<JsMsg> | undefined;
  /** The seq the next item must have; a higher one means the items between are gone. */
  #expected: number;
  /** drop_newest: the last seq of the backlog kept when the subscriber fell behind. */
  #keepUntil: number | undefined;
  /** When the subscriber was first seen more than queueItems behind (undefined: it is not). */
  #behindSince: number | undefined;
  #stopped = false;
  /** Filtered: matching messages still to read and drop (inside a gap already reported). */
  #discard = 0;
  /** Filtered drop_newest: matching messages of the backlog still to hand on before the rest is dropped. */
  #keepCount: number | undefined;

  constructor(
    readonly topic: NatsTopic,
    readonly sub: NatsSubscriber,
    start: number,
    readonly pullAhead: number,
    /** The NATS subject pattern to read (undefined: the whole stream). */
    readonly filter: string | undefined,
    /** Whether the overflow policy applies (a subscriber's reader), or never (the topic's shared tail, which must read everything). */
    readonly applyOverflow = true,
    /** Since when the subscriber is known to be behind (it fell off the tail then): the grace counts from there. */
    behindSince?: number,
  ) {
    this.#expected = start;
    this.#behindSince = behindSince;
  }

  /** The stream seq it has read up to (items and gaps). */
  get position(): number {
    return this.#expected - 1;
  }

  /** The pending count of the last message read: 0 when it has caught up with the stream. */
  get lastPending(): number {
    return this.#lastPending;
  }

  #lastPending = Infinity;

  /** Whether next() has a message buffered (the session may flush its chunk when not). */
  ready(): boolean {
    return (this.#messages?.getPending() ?? 0) > 0;
  }

  stop(): void {
    this.#stopped = true;
    void this.#close();
  }

  /** The next item or gap; undefined once stopped. */
  async next(): Promise<SourceYield | undefined> {
    for (;;) {
      if (this.#stopped) return undefined;
      if (!this.#iterator) await this.#open(this.#expected);
      const result = await this.#iterator!.next();
      if (this.#stopped) return undefined;
      if (result.done) {
        // The consumer ended (connection closed, consumer deleted): the session fails and the client resumes.
        throw new SluiceError("unavailable", `topic ${this.topic.name}: the JetStream consumer ended`, { retryAfterMs: 100 });
      }
      const message = result.value;
      const seq = message.seq;
      const takenAt = performance.now();
      this.#lastPending = message.info.pending;
      if (!this.filter) this.topic.noteSeq(seq + message.info.pending);
      else this.topic.noteSeq(seq);
      this.sub.pending = message.info.pending;
      if (message.info.pending > this.topic.stats.maxQueued) this.topic.stats.maxQueued = message.info.pending;
      if (seq < this.#expected) {
        // A redelivery after a consumer reset: already handed on.
        this.topic.stats.redelivered++;
        continue;
      }
      if (this.filter) {
        const value = await this.#filtered(message, takenAt);
        if (value) return value;
        continue;
      }
      if (seq > this.#expected) {
        // The stream's retention removed items this subscriber had not read: a gap, never silence.
        const count = seq - this.#expected;
        this.topic.stats.dropped += count;
        this.#expected = seq;
        this.#unread(message);
        return { gap: count, reason: "dropped_oldest" };
      }
      const skipped = this.applyOverflow ? this.#overflow(message) : undefined;
      if (skipped) return skipped;
      this.#expected = seq + 1;
      return { data: message.data, cursor: indexCursor(seq), producedAt: performance.now() - (Date.now() - message.info.timestampNanos / NANOS_PER_MS) };
    }
  }

  /**
   * A filtered reader's message: a loss before it (retention), the drop
   * of a discarded one, the overflow policy, or the item; undefined: read on.
   */
  async #filtered(message: JsMsg, takenAt: number): Promise<SourceYield | undefined> {
    const seq = message.seq;
    if (seq > this.#expected) {
      // Other subjects' items, or items retention removed before the reader passed them: the stream's first seq since this message came tells.
      const first = await this.topic.firstSeqSince(takenAt);
      if (this.#stopped) return undefined;
      if (first > this.#expected) {
        const count = Math.min(first, seq) - this.#expected;
        this.topic.stats.dropped += count;
        this.#expected = seq;
        this.#unread(message);
        // Counted in topic seqs: at most that many matching items were lost.
        return { gap: count, reason: "dropped_oldest" };
      }
    }
    this.#expected = seq + 1;
    if (this.#discard > 0) {
      this.#discard--;
      return undefined;
    }
    const pending = message.info.pending;
    const queueItems = this.topic.queueItems;
    if (!this.applyOverflow) return this.#item(message);
    if (this.#keepCount !== undefined && this.#keepCount-- <= 0) {
      // drop_newest: the backlog it kept is read; what came after it while it was behind is dropped.
      this.#keepCount = undefined;
      return this.#drop(pending + 1, "dropped_newest");
    }
    switch (this.#due(pending)) {
      case "drop_oldest":
        // This one and the oldest after it, keeping the newest queueItems.
        return this.#drop(pending - queueItems + 1, "dropped_oldest");
      case "drop_newest":
        this.#keepCount ??= queueItems;
    }
    return this.#item(message);
  }

  /** A filtered reader's item, with its Sluice subject (the topic's name where the NATS subject has the topic's own). */
  #item(message: JsMsg): SourceYield {
    const subject = this.topic.name + message.subject.slice(this.topic.subject.length);
    return { data: message.data, cursor: indexCursor(message.seq), producedAt: performance.now() - (Date.now() - message.info.timestampNanos / NANOS_PER_MS), subject };
  }

  /** Filtered: a gap of `count` matching messages, this one and the next count − 1 (read and discarded). */
  #drop(count: number, reason: "dropped_oldest" | "dropped_newest"): SourceYield {
    this.topic.stats.dropped += count;
    this.#discard = count - 1;
    return { gap: count, reason };
  }

  /** A message read past a gap: handed on by the next call. */
  #unread(message: JsMsg): void {
    const rest = this.#iterator!;
    let first: JsMsg | undefined = message;
    this.#iterator = {
      next: async () => {
        if (first) {
          const value = first;
          first = undefined;
          this.#iterator = rest;
          return { done: false, value };
        }
        return rest.next();
      },
    };
  }

  /** The overflow policy for a subscriber `pending` behind: a gap to skip to (restarting the consumer), a failure, or nothing. */
  #overflow(message: JsMsg): SourceYield | undefined {
    const seq = message.seq;
    const pending = message.info.pending;
    const queueItems = this.topic.queueItems;
    if (this.#keepUntil !== undefined && seq > this.#keepUntil) {
      // drop_newest: the backlog it kept is read; what came after it while it was behind is dropped.
      const newest = seq + pending;
      this.#keepUntil = undefined;
      return this.#skipTo(seq, newest + 1, "dropped_newest");
    }
    switch (this.#due(pending)) {
      case "drop_oldest":
        // Keep the newest queueItems: skip to them.
        return this.#skipTo(seq, seq + pending - queueItems + 1, "dropped_oldest");
      case "drop_newest":
        if (this.#keepUntil === undefined) this.#keepUntil = seq + queueItems;
    }
    return undefined;
  }

  /**
   * The overflow rule, in one place for both readers: a subscriber more than
   * the topic's queue behind for the grace period gets the policy now
   * (disconnect throws slow_consumer); undefined: nothing to do yet.
   */
  #due(pending: number): "drop_oldest" | "drop_newest" | undefined {
    const { queueItems, overflow } = this.topic;
    if (pending <= queueItems) {
      this.#behindSince = undefined;
      return undefined;
    }
    const now = performance.now();
    this.#behindSince ??= now;
    if (now - this.#behindSince < this.topic.overflowGraceMs) return undefined;
    this.#behindSince = undefined;
    if (overflow === "disconnect") {
      this.topic.stats.disconnected++;
      throw new SluiceError("slow_consumer", `topic ${this.topic.name}: the subscriber is ${pending} items behind, over the topic's queue of ${queueItems}`);
    }
    return overflow;
  }

  /** A gap from `from` up to `to` (exclusive), and the consumer restarted at `to`. */
  #skipTo(from: number, to: number, reason: "dropped_oldest" | "dropped_newest"): SourceYield {
    const count = to - from;
    this.topic.stats.dropped += count;
    this.#expected = to;
    void this.#close();
    return { gap: count, reason };
  }

  async #open(start: number): Promise<void> {
    try {
      const consumer = await this.topic.js.consumers.get(this.topic.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start, ...(this.filter ? { filter_subjects: this.filter } : {}) });
      const messages = await consumer.consume({ max_messages: this.pullAhead });
      this.#messages = messages;
      this.#iterator = messages[Symbol.asyncIterator]();
      void (async () => {
        for await (const status of messages.status()) {
          if (status.type === "ordered_consumer_recreated") this.topic.stats.consumerResets++;
          // Deleted under it (an operator, a cleanup): it would wait for ever; ending it lets the reader fail and the session resume.
          else if (status.type === "consumer_deleted") void messages.close().catch(() => undefined);
        }
      })().catch(() => undefined);
    } catch (error) {
      throw new SluiceError("unavailable", `topic ${this.topic.name}: could not read JetStream stream ${this.topic.stream}: ${(error as Error).message}`, { cause: error, retryAfterMs: 500 });
    }
  }

  async #close(): Promise<void> {
    const messages = this.#messages;
    this.#messages = undefined;
    this.#iterator = undefined;
    await messages?.close().catch(() => undefined);
  }
}

/** One entry of a tail's recent items: the item (shared by every follower) and its stream seq. */
interface TailEntry {
  readonly seq: number;
  readonly value: SourceYield;
}

/** A follower attached to a tail: its queue of entries, bounded, and how to wake it. */
interface TailAttachment {
  readonly queue: Queue<TailEntry>;
  wake: (() => void) | undefined;
  /** Fell more than the topic's queue behind: it reads from JetStream again (nothing is lost, the stream has it). */
  detached: boolean;
  /** When it was detached (performance.now()): the overflow grace counts from there. */
  detachedAt: number | undefined;
}

/** How many recent items a tail keeps for followers that join it (a subscriber catching up, a resume just behind the head). */
const TAIL_RING_ITEMS = 4_096;
/** How long a tail without followers keeps reading before it stops (a reconnect storm reuses it). */
const TAIL_LINGER_MS = 5_000;

/**
 * The topic's live head on this instance, for one subject pattern: one
 * ordered consumer read as fast as JetStream delivers, each message decoded
 * once and handed to every follower's queue, as the in-memory topic fans
 * out. A thousand subscribers at the head cost one consumer, not a
 * thousand. A follower that falls more than the topic's queue behind is
 * detached and reads through a consumer of its own (the backlog stays in
 * JetStream, and the overflow policy applies there as before) until it
 * catches up. A gap the tail sees (retention removed what it had not read)
 * reaches every follower.
 */
export class TopicTail {
  /** Every matching message after this seq is in the ring or still to come. */
  coveredFrom: number;
  /** The stream seq the tail has read up to. */
  position: number;
  readonly #ring = new Queue<TailEntry>();
  readonly #attached = new Set<TailAttachment>();
  readonly #reader: ConsumerReader;
  failed: SluiceError | undefined;
  #linger: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly topic: NatsTopic,
    filter: string | undefined,
    position: number,
    pullAhead: number,
    readonly onStop: () => void,
  ) {
    this.coveredFrom = position;
    this.position = position;
    this.#reader = new ConsumerReader(topic, new NatsSubscriber(position, undefined), position + 1, pullAhead, filter, false);
    void this.#run();
  }

  /** Joins the tail after `after`: the ring's entries after it first, then everything new; answers how many were replayed. */
  attach(after: number): { attachment: TailAttachment; replayed: number } {
    const attachment: TailAttachment = { queue: new Queue<TailEntry>(), wake: undefined, detached: false, detachedAt: undefined };
    let replayed = 0;
    for (const entry of this.#ring) {
      if (entry.seq > after) {
        attachment.queue.push(entry);
        replayed++;
      }
    }
    this.#attached.add(attachment);
    clearTimeout(this.#linger);
    this.#linger = undefined;
    return { attachment, replayed };
  }

  detach(attachment: TailAttachment): void {
    this.#attached.delete(attachment);
    if (this.#attached.size === 0 && !this.failed) {
      clearTimeout(this.#linger);
      this.#linger = setTimeout(() => this.stop(), TAIL_LINGER_MS);
      this.#linger.unref?.();
    }
  }

  stop(): void {
    clearTimeout(this.#linger);
    this.failed ??= new SluiceError("unavailable", `topic ${this.topic.name}: the tail stopped`, { retryAfterMs: 100 });
    this.#reader.stop();
    this.onStop();
    for (const attachment of this.#attached) attachment.wake?.();
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        const value = await this.#reader.next();
        if (value === undefined) return;
        const entry: TailEntry = { seq: this.#reader.position, value };
        this.position = entry.seq;
        this.topic.noteSeq(entry.seq);
        this.#ring.push(entry);
        while (this.#ring.length > TAIL_RING_ITEMS) this.coveredFrom = this.#ring.shift()!.seq;
        const capacity = this.topic.queueItems;
        for (const attachment of this.#attached) {
          if (attachment.queue.length >= capacity) {
            // Too far behind for the tail: it goes back to JetStream, where its backlog is.
            attachment.detached = true;
            attachment.detachedAt = performance.now();
            this.#attached.delete(attachment);
          } else {
            attachment.queue.push(entry);
            if (attachment.queue.length > this.topic.stats.maxQueued) this.topic.stats.maxQueued = attachment.queue.length;
          }
          const wake = attachment.wake;
          attachment.wake = undefined;
          wake?.();
        }
      }
    } catch (error) {
      this.failed = error instanceof SluiceError ? error : new SluiceError("unavailable", `topic ${this.topic.name}: the tail failed: ${(error as Error).message}`, { retryAfterMs: 100 });
      this.onStop();
      for (const attachment of this.#attached) attachment.wake?.();
    }
  }
}

/**
 * One subscriber's way through the topic: its own consumer while it is
 * behind, the shared tail once it has caught up (it switches as soon as
 * the tail covers its position, or starts the tail when there is none and
 * its consumer has nothing pending), its own consumer again if it falls
 * behind the tail.
 */
class TailFollower {
  #reader: ConsumerReader | undefined;
  #attachment: TailAttachment | undefined;
  #tail: TopicTail | undefined;
  #stopped = false;

  constructor(
    readonly topic: NatsTopic,
    readonly sub: NatsSubscriber,
    readonly key: string,
    readonly filter: string | undefined,
    /** The stream seq it has everything up to. */
    public position: number,
    readonly pullAhead: number,
    /** Whether the position is the stream's head (it may start the tail). */
    atHead: boolean,
  ) {
    this.#join(atHead);
  }

  ready(): boolean {
    return this.#attachment ? this.#attachment.queue.length > 0 || this.#attachment.detached : (this.#reader?.ready() ?? false);
  }

  stop(): void {
    this.#stopped = true;
    this.#reader?.stop();
    if (this.#attachment && this.#tail) this.#tail.detach(this.#attachment);
    const wake = this.#attachment?.wake;
    if (this.#attachment) this.#attachment.wake = undefined;
    wake?.();
  }

  /**
   * Joins the tail if it covers the position and is near it (at most half
   * the topic's queue ahead, so that a subscriber that fell off the tail
   * does not come straight back with its whole backlog), or starts the tail
   * when there is none and `caughtUp`; answers whether it did.
   */
  #join(caughtUp = false): boolean {
    let tail = this.topic.tailOf(this.key);
    if (tail && tail.coveredFrom <= this.position && this.position <= tail.position && tail.position - this.position <= this.topic.queueItems / 2) {
      // Covered: the ring has what follows the position.
    } else if (!tail && caughtUp) {
      tail = this.topic.startTail(this.key, this.filter, this.position);
    } else return false;
    this.#reader?.stop();
    this.#reader = undefined;
    this.#tail = tail;
    this.#attachment = tail.attach(this.position).attachment;
    return true;
  }

  async next(): Promise<SourceYield | undefined> {
    for (;;) {
      if (this.#stopped) return undefined;
      const attachment = this.#attachment;
      if (attachment) {
        const entry = attachment.queue.shift();
        if (entry) {
          this.position = entry.seq;
          this.#took(entry.value);
          return entry.value;
        }
        const tail = this.#tail!;
        if (attachment.detached || tail.failed) {
          if (tail.failed && !attachment.detached && tail.failed.code !== "unavailable") throw tail.failed;
          // Back to a consumer of its own from where it is (a stopped tail: the next one starts from here).
          tail.detach(attachment);
          this.#attachment = undefined;
          this.#tail = undefined;
          if (!this.#join()) this.#reader = new ConsumerReader(this.topic, this.sub, this.position + 1, this.pullAhead, this.filter, true, attachment.detachedAt);
          continue;
        }
        await new Promise<void>((resolve) => (attachment.wake = resolve));
        continue;
      }
      if (!this.#reader) this.#reader = new ConsumerReader(this.topic, this.sub, this.position + 1, this.pullAhead, this.filter);
      const reader = this.#reader;
      // Caught up already (a fresh subscription, or one the tail covers): join before reading.
      if (this.#join(reader.lastPending === 0)) continue;
      const value = await reader.next();
      if (value === undefined) return undefined;
      this.position = reader.position;
      this.#took(value);
      return value;
    }
  }

  #took(value: SourceYield): void {
    // What its session took, for consumerLag and consumerPending.
    this.sub.taken = this.position;
    if ("gap" in value) return;
    this.sub.pending = this.#reader?.lastPending === Infinity ? 0 : (this.#reader?.lastPending ?? 0);
  }
}
