/**
 * The contract of a topic engine: what a Sluice stream needs of a topic,
 * whoever keeps it. The in-memory `Topic` is one implementation; a
 * distributed engine (NATS JetStream) is another, behind the same server
 * code: the server resolves a topic stream through this interface only.
 *
 * Seqs are the engine's: increasing by one per published item, never reused
 * (a restarted in-memory topic numbers from a clock-based first seq; a
 * persistent engine keeps its own). A subscriber gets every seq after its
 * position exactly once, as an item or inside a gap, in order.
 */
import type { Gap, SubscriberOverflowPolicy } from "@sluice/core";
import type { PolledItems, SessionSignal, SourceYield } from "@sluice/driver";

/** How an item is published. */
export interface PublishOptions {
  /**
   * Idempotence key: a publish whose key was already published within the
   * engine's deduplication window publishes nothing and answers the first
   * publish's seq with `duplicate: true` (a retried publish is not a second item).
   */
  readonly key?: string;
  /**
   * The subject the item is published to: the topic's name (the default)
   * or a subject under it (`sensors.lab.temp` in topic `sensors`,
   * PROTOCOL.md §7.10). Subscribers to a pattern get the items whose subject
   * it matches.
   */
  readonly subject?: string;
}

/** The answer to a publish. */
export interface PublishAck {
  /** The item's seq. */
  readonly seq: number;
  /** The key was seen already: nothing was published, `seq` is the first publish's. */
  readonly duplicate: boolean;
}

/** The seqs a topic can replay now. */
export interface RetainedRange {
  /** The oldest retained item's seq (nextSeq when nothing is retained). */
  readonly oldestSeq: number;
  /** The seq the next published item gets. */
  readonly nextSeq: number;
}

/** How much history an engine keeps for resume; an item leaves when any bound is passed. */
export interface HistoryBounds {
  /** Items (0: no history). */
  readonly maxItems: number;
  /** Payload bytes (Infinity: unbounded). */
  readonly maxBytes: number;
  /** Age in milliseconds (Infinity: unbounded). */
  readonly maxAgeMs: number;
}

/** A subscription to a topic: where it starts, what was replayed or lost, and its items. */
export interface TopicSubscription {
  /** Seq of the first item the subscriber will get. */
  readonly nextSeq: number;
  /** Items of the history replayed after the resume position. */
  readonly replayed: number;
  /** Seqs after the position that are lost (history expired, or the topic restarted), when the policy continues anyway. */
  readonly gap?: Gap;
  /** Items and gaps (overflow drops), in seq order; ending it (return) unsubscribes. */
  readonly items: AsyncIterable<SourceYield>;
  /** Whether `items` would yield now without waiting (lets the session flush a chunk as soon as the topic is caught up). */
  readonly ready?: () => boolean;
  /** The same items read without waiting, for an engine that has them in memory (the in-memory Topic); it stands in for `ready`. */
  readonly polled?: PolledItems;
}

/** What a topic did, for metrics; counted as it happens. */
export interface TopicStats {
  /** Items published. */
  published: number;
  /** Subscribers now. */
  subscribers: number;
  /** Items dropped across all subscribers. */
  dropped: number;
  /** Subscribers cut off by the disconnect policy (slow_consumer). */
  disconnected: number;
  /** Largest number of entries any subscriber's queue held (items and gap markers). */
  maxQueued: number;
}

/**
 * What a topic stream needs of a topic: publish, subscribe at a position, and its
 * settings and counters. The in-memory {@link Topic} is one.
 */
export interface TopicEngine {
  /** The topic's name (logs, errors). */
  readonly name: string;
  /** How much history it keeps for resume. */
  readonly history: HistoryBounds;
  /** Items queued per subscriber beyond its window before `overflow` applies. */
  readonly queueItems: number;
  /** What a subscriber that falls behind gets. */
  readonly overflow: SubscriberOverflowPolicy;
  /** Live counters. */
  readonly stats: TopicStats;
  /**
   * Whether items published into it from ingest carry an idempotence key
   * (stream, publisher id and seq): set by an engine shared by several
   * server instances, whose publisher registries cannot see each other, so
   * a publisher that fails over and resends never makes a duplicate.
   */
  readonly publishKeys?: boolean;
  /**
   * Consumer lag: how far the slowest subscriber is behind the newest item,
   * in items (0 without subscribers). What lag-based throttling of
   * publishers reads; an engine that cannot tell leaves it out. With
   * `consumers`, only subscribers of those names count (the principals
   * their sessions were authorized as).
   */
  consumerLag?(consumers?: ReadonlySet<string>): number;
  /** The seqs a subscriber can resume into now: the oldest retained item, and the seq the next item gets (equal: nothing retained). */
  retainedRange?(): RetainedRange | Promise<RetainedRange>;
  /** Publishes one item to every subscriber (and the history); answers its seq. A subject outside the topic is invalid_argument. */
  publish(data: Uint8Array, options?: PublishOptions): PublishAck | Promise<PublishAck>;
  /**
   * A subscription after `afterSeq` (undefined: from now on). Retained
   * history after the position is replayed; a position the engine cannot
   * serve (older than its history, from before a restart, ahead of the
   * topic) fails with resume_position_lost, or continues with a gap when the
   * engine's resume policy says so.
   */
  subscribe(afterSeq: number | undefined, signal?: SessionSignal, options?: TopicSubscribeOptions): TopicSubscription | Promise<TopicSubscription>;
}

/** Who subscribes to a topic. */
export interface TopicSubscribeOptions {
  /** The subscriber's name (the principal its session was authorized as), for consumerLag(consumers). */
  readonly consumer?: string;
  /**
   * A subject pattern under the topic (PROTOCOL.md §7.10): only items
   * published to a matching subject reach the subscriber. Positions
   * (`afterSeq`, `nextSeq`, cursors) stay the topic's seqs; gaps from the
   * overflow policy count matching items, and a history gap counts topic
   * seqs (at most that many matching items were lost).
   */
  readonly filter?: string;
}
