/**
 * The ingest queue in front of a stream's sink (PROTOCOL.md §3.4 rule 10).
 *
 * Every publish session of the stream hands its batches here, and at most
 * `concurrency` of them are in the sink at once; the others wait in core's
 * BoundedPriorityQueue, the queue the publishers use too: four levels taken
 * by weighted round robin (8:4:2:1), so when the sink is the bottleneck
 * CRITICAL batches go first and LOW still gets its turns. A session has at
 * most one batch here (its items wait under credit in the publisher), so
 * the queue holds at most one batch per publisher.
 *
 * A full queue does what the stream's overflow policy says, and every drop
 * is counted per level and reported to the batch's publisher:
 * - block (default): the batch waits for room, and with it its session's
 *   credit; when room frees, the most important waiting batch goes in;
 * - drop_newest: the new batch is dropped;
 * - drop_oldest: the oldest batch of the least important level is dropped
 *   to make room (never a more important one than the new batch);
 * - error: the new batch fails its session, retryable, and its publisher
 *   sends it again after a backoff.
 */
import { BoundedPriorityQueue, SluiceError, type OverflowPolicy, type Priority } from "@sluice/core";

/** The size, policy, weights and concurrency of a stream's ingest queue. */
export interface SinkQueueOptions {
  /** Most batches waiting for the sink, over all levels (default 256). */
  readonly capacity?: number;
  /** What a batch arriving at a full queue does (default "block"). */
  readonly overflow?: OverflowPolicy;
  /** Round-robin turns per level, CRITICAL first (default 8, 4, 2, 1). */
  readonly weights?: readonly [number, number, number, number];
  /** Most batches in the sink at once (default 4). */
  readonly concurrency?: number;
}

/** What became of a batch handed to the queue: written (the write's result), or dropped by the overflow policy with a reason. */
export type SinkQueueResult<R> =
  | {
      /** Tells the results apart. */
      readonly kind: "written";
      /** What the write answered. */
      readonly value: R;
    }
  | {
      /** Tells the results apart. */
      readonly kind: "dropped";
      /** Why: the queue, its capacity and its policy. */
      readonly reason: string;
    };

interface Waiting {
  readonly items: number;
  readonly priority: Priority;
  readonly start: () => void;
  readonly drop: (reason: string) => void;
}

const LEVEL_NAMES = ["critical", "high", "normal", "low"] as const;

/** A stream's ingest queue: batches in, at most `concurrency` in the sink, the rest waiting by priority. */
export class SinkQueue {
  /** The stream it serves (named in reasons). */
  readonly stream: string;
  /** Most batches waiting, over all levels. */
  readonly capacity: number;
  /** What a batch arriving at a full queue does. */
  readonly overflow: OverflowPolicy;
  /** Most batches in the sink at once. */
  readonly concurrency: number;
  readonly #queue: BoundedPriorityQueue<Waiting>;
  /** Batches refused room by the block policy, per level, oldest first. */
  readonly #blocked: Waiting[][] = [[], [], [], []];
  #running = 0;
  /** Items dropped by the overflow policy, per level (the dropped batch's level). */
  readonly droppedItems: [number, number, number, number] = [0, 0, 0, 0];

  constructor(stream: string, options: SinkQueueOptions = {}) {
    this.stream = stream;
    this.capacity = options.capacity ?? 256;
    this.overflow = options.overflow ?? "block";
    this.concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new SluiceError("invalid_argument", `stream ${stream}: publish.queue.concurrency must be a positive integer, got ${this.concurrency}`, { field: "publish.queue.concurrency" });
    try {
      this.#queue = new BoundedPriorityQueue({ capacity: this.capacity, policy: this.overflow, ...(options.weights ? { weights: options.weights } : {}) });
    } catch (error) {
      throw new SluiceError("invalid_argument", `stream ${stream}: publish.queue: ${(error as Error).message}`, { field: "publish.queue" });
    }
  }

  /** Batches waiting for the sink at one level (queued or blocked). */
  waitingAt(priority: Priority): number {
    return this.#queue.sizeOf(priority) + this.#blocked[priority]!.length;
  }

  /** Batches in the sink now. */
  get running(): number {
    return this.#running;
  }

  /**
   * Runs `write` (a batch of `items` at `priority`) once the sink has room
   * and the batch's turn came; answers its result, or "dropped" when the
   * overflow policy dropped it. The error policy rejects with a retryable
   * `unavailable` when the queue is full.
   */
  run<R>(items: number, priority: Priority, write: () => Promise<R>): Promise<SinkQueueResult<R>> {
    return new Promise<SinkQueueResult<R>>((resolve, reject) => {
      const waiting: Waiting = {
        items,
        priority,
        start: () => {
          this.#running++;
          Promise.resolve().then(write).then(
            (value) => resolve({ kind: "written", value }),
            (error: unknown) => reject(error),
          ).finally(() => {
            this.#running--;
            this.#next();
          });
        },
        drop: (reason) => {
          this.droppedItems[priority]! += items;
          resolve({ kind: "dropped", reason });
        },
      };
      if (this.#running < this.concurrency && this.#queue.size === 0) return waiting.start();
      this.#offer(waiting, reject);
    });
  }

  #offer(waiting: Waiting, reject: (error: unknown) => void): void {
    const full = `the ingest queue of ${this.stream} is full (${this.capacity} batches waiting for its sink)`;
    let result;
    try {
      result = this.#queue.offer(waiting, waiting.priority);
    } catch {
      // The error policy: the session fails, retryable; its publisher backs off and sends the batch again.
      reject(new SluiceError("unavailable", `${full}: publish again later (overflow policy error)`, { retryAfterMs: 1_000 }));
      return;
    }
    switch (result.kind) {
      case "accepted":
        return;
      case "accepted_evicted":
        result.evicted.drop(`${full}: the drop_oldest policy dropped this ${LEVEL_NAMES[result.evictedPriority]} batch for a ${LEVEL_NAMES[waiting.priority]} one`);
        return;
      case "dropped":
        waiting.drop(`${full}: the ${this.overflow} policy dropped this ${LEVEL_NAMES[waiting.priority]} batch`);
        return;
      case "blocked":
        this.#blocked[waiting.priority]!.push(waiting);
        return;
    }
  }

  /** A write ended: start the next batches by turn, letting blocked ones in as room frees. */
  #next(): void {
    this.#admitBlocked();
    while (this.#running < this.concurrency) {
      const next = this.#queue.poll();
      if (!next) break;
      next.start();
      this.#admitBlocked();
    }
  }

  /** Moves blocked batches into the queue while it has room, the most important first. */
  #admitBlocked(): void {
    for (let level = 0; level < 4; level++) {
      const blocked = this.#blocked[level]!;
      while (blocked.length > 0 && this.#queue.size < this.capacity) this.#queue.offer(blocked.shift()!, level as Priority);
    }
  }
}
