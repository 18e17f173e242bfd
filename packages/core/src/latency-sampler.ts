/**
 * Item latency, sampled: how long items take from entering the sender (the
 * source yielded them) to the receiver's ack (the app processed them). That
 * span holds everything a user feels: chunk flush delay, waiting for credit,
 * the network, the client's queue, a reconnect and resume.
 *
 * Timing every item would cost a timestamp and an entry per item at up to a
 * million items a second, so at most one item per `intervalMs` is sampled,
 * with at most `maxPending` samples awaiting their ack (a stalled consumer
 * does not grow it without bound). Sans-IO: the caller passes `now`.
 */
import { Queue } from "./queue.js";

/** How often a {@link LatencySampler} samples, and how many samples may wait for their ack. */
export interface LatencySamplerOptions {
  /** At most one sampled item per this many ms. Default 10. */
  readonly intervalMs?: number;
  /** Samples awaiting an ack; beyond this, new items are not sampled until acks arrive. Default 256. */
  readonly maxPending?: number;
}

/**
 * Samples item latency from entering the sender to the receiver's ack, at most
 * one item per interval, for a latency histogram.
 */
export class LatencySampler {
  readonly #intervalMs: number;
  readonly #maxPending: number;
  /** Sampled items awaiting their ack, oldest first; seqs only grow. */
  readonly #samples = new Queue<{ readonly seq: number; readonly at: number }>();
  #lastSampleAt = -Infinity;

  constructor(options: LatencySamplerOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 10;
    this.#maxPending = options.maxPending ?? 256;
  }

  /** Samples awaiting their ack. */
  get pending(): number {
    return this.#samples.length;
  }

  /** Item `seq` entered the sender at `now`. */
  pushed(seq: number, now: number): void {
    if (now - this.#lastSampleAt < this.#intervalMs || this.pending >= this.#maxPending) return;
    const newest = this.#samples.at(this.#samples.length - 1);
    if (newest && seq <= newest.seq) return;
    this.#lastSampleAt = now;
    this.#samples.push({ seq, at: now });
  }

  /** Everything through `seq` was acked at `now`: reports each covered sample's latency in ms. */
  acked(seq: number, now: number, report: (latencyMs: number) => void): void {
    for (let oldest = this.#samples.peek(); oldest && oldest.seq <= seq; oldest = this.#samples.peek()) {
      this.#samples.shift();
      report(Math.max(0, now - oldest.at));
    }
  }
}
