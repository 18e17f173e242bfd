/**
 * One subscriber's queue behind a fan-out (a topic): items wait here for the
 * subscriber's credit, and a subscriber that falls behind by more than
 * `capacity` items gets the overflow policy. No drop is silent: every lost
 * seq becomes a gap marker in the queue, delivered in order as a Gap
 * (PROTOCOL.md §7.5), and adjacent drops merge into one gap.
 *
 * - drop_oldest: the oldest queued item becomes (or joins) a gap, the new one is queued;
 * - drop_newest: the new item becomes (or joins) a gap at the tail;
 * - disconnect: the subscriber fails with slow_consumer.
 *
 * Pure: the engine (in-memory, NATS) calls `offer` per published item and
 * the session `shift`s; waking the session is the engine's job.
 */
import type { GapReason } from "./frames.js";
import { Queue } from "./queue.js";

/**
 * What a subscriber queue does when its subscriber falls more than `capacity`
 * items behind: turn the oldest or the newest item into a gap, or disconnect
 * the subscriber with slow_consumer.
 */
export type SubscriberOverflowPolicy = "drop_oldest" | "drop_newest" | "disconnect";

/** What a subscriber receives, in seq order: an item or a run of lost seqs. */
export type QueuedEntry<T> =
  | {
      /** The item's seq. */
      readonly seq: number;
      /** The published item. */
      readonly item: T;
    }
  | {
      /** First lost seq. */
      readonly gapFrom: number;
      /** How many consecutive seqs were lost (grows as adjacent drops merge). */
      count: number;
      /** Why they were lost. */
      readonly reason: GapReason;
    };

/**
 * A queued item. A class, not an object literal: V8 pretenures a literal's
 * allocation site once most of what it made survives scavenges (a queue
 * filled by a burst), and an entry born in the old generation keeps its
 * young item, and the item its bytes, alive through every scavenge until
 * the next mark-compact: at a steady half of the maximum rate the server
 * then promoted every item and ran mark-compacts every half second
 * (BENCHMARKS.md, "Latency under load"). A class's instances are not tracked that way.
 */
class QueuedItem<T> {
  constructor(
    readonly seq: number,
    readonly item: T,
  ) {}
}

/**
 * What {@link SubscriberQueue.offer} did: "queued", "dropped" (a drop policy made
 * room or made a gap), or "overflowed" (disconnect: fail the subscriber).
 */
export type OfferOutcome = "queued" | "dropped" | "overflowed";

/**
 * One subscriber's queue behind a topic: items wait for its credit, and a
 * subscriber that falls behind gets the overflow policy, every lost seq kept as
 * a gap marker in order.
 */
export class SubscriberQueue<T> {
  /** Items the subscriber may fall behind before the policy applies. */
  readonly capacity: number;
  /** What happens beyond `capacity`. */
  readonly policy: SubscriberOverflowPolicy;
  /** Entries (items and gap markers) waiting, oldest first. */
  readonly #entries = new Queue<QueuedEntry<T>>();
  /** Most entries held at once (a gauge for stats). */
  maxQueued = 0;
  /** Set once the disconnect policy fired; nothing is queued after. */
  overflowed = false;

  constructor(capacity: number, policy: SubscriberOverflowPolicy) {
    if (!(capacity >= 1)) throw new RangeError(`subscriber queue capacity must be at least 1, got ${capacity}`);
    this.capacity = capacity;
    this.policy = policy;
  }

  /** Entries waiting (items and gap markers). */
  get size(): number {
    return this.#entries.length;
  }

  /** Queues an item for replay, ignoring the capacity (history replayed on resume is bounded by the history, not the queue). */
  replay(seq: number, item: T): void {
    this.#entries.push(new QueuedItem(seq, item));
  }

  /**
   * A published item: "queued", "dropped" (a drop policy made room, or it
   * became a gap) or "overflowed" (disconnect: fail the subscriber).
   */
  offer(seq: number, item: T): OfferOutcome {
    if (this.overflowed) return "overflowed";
    if (this.size < this.capacity) {
      this.#push(new QueuedItem(seq, item));
      return "queued";
    }
    switch (this.policy) {
      case "drop_newest":
        this.#appendGap(seq, "dropped_newest");
        return "dropped";
      case "drop_oldest":
        this.#dropOldest();
        this.#push(new QueuedItem(seq, item));
        return "dropped";
      case "disconnect":
        this.overflowed = true;
        return "overflowed";
    }
  }

  /** The oldest entry, removed, or undefined when empty. */
  shift(): QueuedEntry<T> | undefined {
    return this.#entries.shift();
  }

  #push(entry: QueuedEntry<T>): void {
    this.#entries.push(entry);
    if (this.size > this.maxQueued) this.maxQueued = this.size;
  }

  /** Turns the oldest queued item into a gap, merged with a gap right after it, or drops the item after a leading gap into it. */
  #dropOldest(): void {
    const entries = this.#entries;
    const first = entries.peek()!;
    if ("seq" in first) {
      const next = entries.at(1);
      if (next && "gapFrom" in next && next.gapFrom === first.seq + 1) {
        entries.set(1, { gapFrom: first.seq, count: next.count + 1, reason: "dropped_oldest" });
        entries.shift();
      } else {
        entries.set(0, { gapFrom: first.seq, count: 1, reason: "dropped_oldest" });
      }
      return;
    }
    const second = entries.at(1);
    if (second && "seq" in second && second.seq === first.gapFrom + first.count) {
      entries.removeAt(1);
      entries.set(0, { gapFrom: first.gapFrom, count: first.count + 1, reason: "dropped_oldest" });
    }
  }

  #appendGap(seq: number, reason: GapReason): void {
    const last = this.#entries.at(this.#entries.length - 1);
    if (last && "gapFrom" in last && last.reason === reason && last.gapFrom + last.count === seq) last.count++;
    else this.#push({ gapFrom: seq, count: 1, reason });
  }
}
