/**
 * An in-memory topic: publish once, fan out to many subscribers, each with
 * its own bounded queue behind its own credit window. A subscriber that falls
 * behind gets the topic's overflow policy, and every drop reaches it as a gap
 * (never silent). A bounded history lets a subscriber resume by seq; a
 * position older than the history fails with resume_position_lost.
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
import { SluiceError, type Gap, type GapReason, type JsonObject } from "@sluice/core";
import type { SourceYield } from "@sluice/driver";
import { indexCursor } from "./source.js";

export type TopicOverflowPolicy = "drop_oldest" | "drop_newest" | "disconnect";

export interface TopicOptions {
  /** Items kept for resume. Default 10 000. */
  readonly historyItems?: number;
  /** Items queued per subscriber beyond its window before the policy applies. Default 1 024. */
  readonly subscriberQueueItems?: number;
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
}

/** A published item (one object, shared by the history and every subscriber's queue); `at` is performance.now() at publish. */
type Published = { readonly seq: number; readonly data: Uint8Array; readonly at: number };
type Entry = Published | { gapFrom: number; count: number; reason: GapReason };

export interface TopicStats {
  published: number;
  subscribers: number;
  /** Items dropped across all subscribers. */
  dropped: number;
  disconnected: number;
  /** Largest number of entries any subscriber's queue held (items and gap markers). */
  maxQueued: number;
}

class TopicSubscriber {
  readonly queue: Entry[] = [];
  head = 0;
  wake: (() => void) | undefined;
  failed: SluiceError | undefined;
  closed = false;

  get size(): number {
    return this.queue.length - this.head;
  }

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

export class Topic {
  readonly name: string;
  readonly historyItems: number;
  readonly queueItems: number;
  readonly overflow: TopicOverflowPolicy;
  readonly resumeExpired: "fail" | "gap";
  readonly stats: TopicStats = { published: 0, subscribers: 0, dropped: 0, disconnected: 0, maxQueued: 0 };
  readonly #history: Published[] = [];
  #historyHead = 0;
  #nextSeq: number;
  /** The first seq this incarnation of the topic numbers (its epoch): anything below is from before a restart. */
  readonly firstSeq: number;
  readonly #subscribers = new Set<TopicSubscriber>();

  constructor(name: string, options: TopicOptions = {}) {
    this.name = name;
    this.historyItems = options.historyItems ?? 10_000;
    this.queueItems = options.subscriberQueueItems ?? 1_024;
    this.overflow = options.overflow ?? "drop_oldest";
    this.resumeExpired = options.resumeExpired ?? "fail";
    const firstSeq = options.firstSeq ?? Date.now() * 1_000;
    if (!Number.isSafeInteger(firstSeq) || firstSeq < 1) throw new RangeError(`topic ${name}: firstSeq must be a safe integer ≥ 1, got ${firstSeq}`);
    this.firstSeq = firstSeq;
    this.#nextSeq = firstSeq;
  }

  /** Seq the next published item gets. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Oldest seq still retained for resume (nextSeq when the history is empty). */
  get oldestRetained(): number {
    return this.#history.length > this.#historyHead ? this.#history[this.#historyHead]!.seq : this.#nextSeq;
  }

  publish(data: Uint8Array): number {
    const seq = this.#nextSeq++;
    this.stats.published++;
    const entry: Published = { seq, data, at: performance.now() };
    this.#history.push(entry);
    if (this.#history.length - this.#historyHead > this.historyItems) {
      this.#historyHead++;
      if (this.#historyHead > 4096 && this.#historyHead * 2 > this.#history.length) {
        this.#history.splice(0, this.#historyHead);
        this.#historyHead = 0;
      }
    }
    for (const sub of this.#subscribers) this.#deliver(sub, entry);
    return seq;
  }

  /**
   * Opens a subscription after `afterSeq` (undefined: from now on). Items
   * still in history are replayed; older positions fail.
   */
  subscribe(afterSeq: number | undefined, signal?: AbortSignal): { nextSeq: number; replayed: number; gap?: Gap; items: AsyncIterable<SourceYield> } {
    const sub = new TopicSubscriber();
    let nextSeq = this.#nextSeq;
    if (afterSeq !== undefined && afterSeq >= this.#nextSeq) {
      // The client has seqs this topic never published: it followed another
      // topic (another process, or a clock that went back). Continuing would reuse seqs.
      throw new SluiceError("resume_position_lost", `topic ${this.name}: resume after seq ${afterSeq} but the topic is at seq ${this.#nextSeq - 1}: not the topic this position is from`);
    }
    let gap: Gap | undefined;
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
      for (let i = this.#historyHead; i < this.#history.length; i++) {
        const entry = this.#history[i]!;
        if (entry.seq > from) sub.queue.push(entry);
      }
    }
    const replayed = sub.queue.length;
    this.#subscribers.add(sub);
    this.stats.subscribers = this.#subscribers.size;
    const remove = () => {
      sub.closed = true;
      this.#subscribers.delete(sub);
      this.stats.subscribers = this.#subscribers.size;
      sub.notify();
    };
    signal?.addEventListener("abort", remove, { once: true });
    const iterator: AsyncIterator<SourceYield> = {
      next: async () => {
        for (;;) {
          if (sub.failed) throw sub.failed;
          if (sub.size > 0) {
            const entry = sub.queue[sub.head]!;
            sub.queue[sub.head++] = undefined as unknown as Entry;
            if (sub.head > 1024 && sub.head * 2 > sub.queue.length) {
              sub.queue.splice(0, sub.head);
              sub.head = 0;
            }
            if ("gapFrom" in entry) return { done: false, value: { gap: entry.count, reason: entry.reason } };
            return { done: false, value: { data: entry.data, cursor: indexCursor(entry.seq), producedAt: entry.at } };
          }
          if (sub.closed) return { done: true, value: undefined };
          await new Promise<void>((resolve) => {
            sub.wake = resolve;
          });
        }
      },
      // Ends a waiting next() at once: cancelling an idle topic stream must not hang.
      return: async () => {
        remove();
        return { done: true, value: undefined };
      },
    };
    return { nextSeq, replayed, ...(gap ? { gap } : {}), items: { [Symbol.asyncIterator]: () => iterator } };
  }

  #deliver(sub: TopicSubscriber, entry: Published): void {
    const { seq } = entry;
    if (sub.failed || sub.closed) return;
    if (sub.size < this.queueItems) {
      sub.queue.push(entry);
      if (sub.size > this.stats.maxQueued) this.stats.maxQueued = sub.size;
      sub.notify();
      return;
    }
    this.stats.dropped++;
    switch (this.overflow) {
      case "drop_newest":
        this.#appendGap(sub, seq, "dropped_newest");
        break;
      case "drop_oldest": {
        // Turn the oldest queued item into (or onto) a gap, then queue the new one.
        const first = sub.queue[sub.head]!;
        if ("seq" in first) {
          const next = sub.queue[sub.head + 1];
          if (next && "gapFrom" in next && next.gapFrom === first.seq + 1) {
            sub.queue[sub.head + 1] = { gapFrom: first.seq, count: next.count + 1, reason: "dropped_oldest" };
            sub.head++;
          } else {
            sub.queue[sub.head] = { gapFrom: first.seq, count: 1, reason: "dropped_oldest" };
          }
        } else {
          // The head is a gap already: drop the item after it into it.
          const second = sub.queue[sub.head + 1];
          if (second && "seq" in second) {
            sub.queue.splice(sub.head + 1, 1);
            sub.queue[sub.head] = { gapFrom: first.gapFrom, count: first.count + 1, reason: "dropped_oldest" };
          }
        }
        sub.queue.push(entry);
        if (sub.size > this.stats.maxQueued) this.stats.maxQueued = sub.size;
        break;
      }
      case "disconnect":
        sub.failed = new SluiceError("slow_consumer", `topic ${this.name}: subscriber fell more than ${this.queueItems} items behind`, { retryAfterMs: 1_000 });
        this.stats.disconnected++;
        break;
    }
    sub.notify();
  }

  #appendGap(sub: TopicSubscriber, seq: number, reason: GapReason): void {
    const last = sub.queue[sub.queue.length - 1];
    if (last && "gapFrom" in last && last.gapFrom + last.count === seq) last.count++;
    else sub.queue.push({ gapFrom: seq, count: 1, reason });
  }
}

export type TopicParams = JsonObject;
