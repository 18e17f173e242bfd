/**
 * A bounded queue with four priority levels and an overflow policy, counting
 * every drop (the publisher's outbound queue of the ingest path).
 *
 * Dequeue order is weighted round robin (8:4:2:1 by default): while several
 * levels hold items, each gets turns in proportion to its weight, so LOW is
 * never starved by a steady flow of CRITICAL (it gets at least 1 of every 15
 * dequeues), yet higher levels go first.
 */
import { SluiceError } from "./errors.js";
import { Queue } from "./queue.js";

/** The four priority levels of a {@link BoundedPriorityQueue}, most important first. */
export const Priority = {
  /** The most turns (8 of 15 by default), and never evicted for a less important item. */
  CRITICAL: 0,
  /** 4 turns of 15 by default. */
  HIGH: 1,
  /** The default level: 2 turns of 15. */
  NORMAL: 2,
  /** 1 turn of 15 by default: slow, but never starved. */
  LOW: 3
} as const;
/** A priority level: 0 (CRITICAL) to 3 (LOW). */
export type Priority = (typeof Priority)[keyof typeof Priority];
const LEVELS = 4;

/**
 * - drop_oldest: make room by evicting the oldest item of the least important
 *   non-empty level; if that level is more important than the new item, the
 *   new item is dropped instead (never evict CRITICAL for LOW).
 * - drop_newest: the new item is dropped.
 * - block: nothing is dropped; `offer` answers "blocked" and the caller waits
 *   for room (`size < capacity`), e.g. by pausing its producer.
 * - error: `offer` throws limit_exceeded.
 */
export type OverflowPolicy = "drop_oldest" | "drop_newest" | "block" | "error";

/** The size, overflow policy and round-robin weights of a {@link BoundedPriorityQueue}. */
export interface PriorityQueueOptions {
  /** Most items held at once, over all levels. */
  readonly capacity: number;
  /** What an offer does when the queue is full. */
  readonly policy: OverflowPolicy;
  /** Turns per round for CRITICAL, HIGH, NORMAL, LOW. */
  readonly weights?: readonly [number, number, number, number];
}

/** What {@link BoundedPriorityQueue.offer} did with an item; told apart by `kind`. */
export type OfferResult<T> =
  /** Queued; there was room. */
  | {
      /** Tells the results apart. */
      readonly kind: "accepted";
    }
  /** Queued after evicting an older, less or equally important item (drop_oldest). */
  | {
      /** Tells the results apart. */
      readonly kind: "accepted_evicted";
      /** The item evicted to make room. */
      readonly evicted: T;
      /** The level it was evicted from. */
      readonly evictedPriority: Priority;
    }
  /** The new item was dropped (drop_newest, or drop_oldest with only more important items queued). */
  | {
      /** Tells the results apart. */
      readonly kind: "dropped";
    }
  /** Not queued, nothing dropped: wait for room and offer again (block). */
  | {
      /** Tells the results apart. */
      readonly kind: "blocked";
    };

/**
 * A bounded queue of four priority levels, dequeued by weighted round robin,
 * whose overflow policy decides what a full queue drops; every drop is counted.
 */
export class BoundedPriorityQueue<T> {
  /** Most items held at once, over all levels. */
  readonly capacity: number;
  /** What an offer does when the queue is full. */
  readonly policy: OverflowPolicy;
  /** Turns per round for CRITICAL, HIGH, NORMAL, LOW (default 8, 4, 2, 1). */
  readonly weights: readonly [number, number, number, number];
  readonly #levels: Queue<T>[] = Array.from({ length: LEVELS }, () => new Queue<T>());
  readonly #turns: number[];
  #size = 0;
  /** Items dropped, per level (the level of the item that was lost). */
  readonly dropped: number[] = [0, 0, 0, 0];
  /** Offers refused by the block policy. */
  blocked = 0;
  /** Offers refused by the error policy. */
  rejected = 0;
  /** Items queued (lifetime count). */
  accepted = 0;
  /** Items taken by poll() (lifetime count). */
  dequeued = 0;

  constructor(options: PriorityQueueOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError(`queue capacity must be a positive integer, got ${options.capacity}`);
    }
    this.capacity = options.capacity;
    this.policy = options.policy;
    this.weights = options.weights ?? [8, 4, 2, 1];
    if (this.weights.some((w) => !Number.isInteger(w) || w < 1)) {
      throw new RangeError(`queue weights must be positive integers, got ${this.weights.join(",")}`);
    }
    this.#turns = [...this.weights];
  }

  /** Items queued now, over all levels. */
  get size(): number {
    return this.#size;
  }

  /** Items dropped, over all levels. */
  get droppedTotal(): number {
    return this.dropped[0]! + this.dropped[1]! + this.dropped[2]! + this.dropped[3]!;
  }

  /** Items queued now at one level. */
  sizeOf(priority: Priority): number {
    return this.#levels[priority]!.length;
  }

  /**
   * Queues `item` at `priority` (default NORMAL), applying the overflow policy
   * when the queue is full; the error policy throws limit_exceeded.
   */
  offer(item: T, priority: Priority = Priority.NORMAL): OfferResult<T> {
    if (!(priority >= 0 && priority < LEVELS && Number.isInteger(priority))) {
      throw new RangeError(`priority must be 0..3, got ${priority}`);
    }
    if (this.#size < this.capacity) {
      this.#push(item, priority);
      return { kind: "accepted" };
    }
    switch (this.policy) {
      case "drop_newest":
        this.dropped[priority]!++;
        return { kind: "dropped" };
      case "block":
        this.blocked++;
        return { kind: "blocked" };
      case "error":
        this.rejected++;
        throw new SluiceError("limit_exceeded", `queue full: capacity ${this.capacity} items`);
      case "drop_oldest": {
        let victimLevel = LEVELS - 1;
        while (this.#levels[victimLevel]!.length === 0) victimLevel--;
        if (victimLevel < priority) {
          this.dropped[priority]!++;
          return { kind: "dropped" };
        }
        const evicted = this.#levels[victimLevel]!.shift() as T;
        this.#size--;
        this.dropped[victimLevel]!++;
        this.#push(item, priority);
        return { kind: "accepted_evicted", evicted, evictedPriority: victimLevel as Priority };
      }
    }
  }

  /** The next item by weighted round robin, or undefined when empty. */
  poll(): T | undefined {
    if (this.#size === 0) return undefined;
    for (let pass = 0; pass < 2; pass++) {
      for (let level = 0; level < LEVELS; level++) {
        if (this.#turns[level]! > 0 && this.#levels[level]!.length > 0) {
          this.#turns[level]!--;
          this.#size--;
          this.dequeued++;
          const item = this.#levels[level]!.shift();
          // End the round now if no waiting item has a turn left. Left for the
          // next poll, a burst arriving in between would get the rest of this
          // round before LOW's next turn (up to 28 polls without LOW, not 15).
          if (!this.#turns.some((turns, l) => turns > 0 && this.#levels[l]!.length > 0)) {
            for (let l = 0; l < LEVELS; l++) this.#turns[l] = this.weights[l]!;
          }
          return item;
        }
      }
      // Every non-empty level used its turns: start a new round.
      for (let level = 0; level < LEVELS; level++) this.#turns[level] = this.weights[level]!;
    }
    return undefined;
  }

  #push(item: T, priority: Priority): void {
    this.#levels[priority]!.push(item);
    this.#size++;
    this.accepted++;
  }
}
