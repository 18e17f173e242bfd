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

export interface LatencySamplerOptions {
  /** At most one sampled item per this many ms. Default 10. */
  readonly intervalMs?: number;
  /** Samples awaiting an ack; beyond this, new items are not sampled until acks arrive. Default 256. */
  readonly maxPending?: number;
}

export class LatencySampler {
  readonly #intervalMs: number;
  readonly #maxPending: number;
  // Parallel ring of (seq, pushedAt), oldest first; seqs only grow.
  readonly #seqs: number[] = [];
  readonly #times: number[] = [];
  #head = 0;
  #lastSampleAt = -Infinity;

  constructor(options: LatencySamplerOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 10;
    this.#maxPending = options.maxPending ?? 256;
  }

  /** Samples awaiting their ack. */
  get pending(): number {
    return this.#seqs.length - this.#head;
  }

  /** Item `seq` entered the sender at `now`. */
  pushed(seq: number, now: number): void {
    if (now - this.#lastSampleAt < this.#intervalMs || this.pending >= this.#maxPending) return;
    const last = this.#seqs.length > this.#head ? this.#seqs[this.#seqs.length - 1]! : -Infinity;
    if (seq <= last) return;
    this.#lastSampleAt = now;
    this.#seqs.push(seq);
    this.#times.push(now);
  }

  /** Everything through `seq` was acked at `now`: reports each covered sample's latency in ms. */
  acked(seq: number, now: number, report: (latencyMs: number) => void): void {
    while (this.#head < this.#seqs.length && this.#seqs[this.#head]! <= seq) {
      report(Math.max(0, now - this.#times[this.#head]!));
      this.#head++;
    }
    if (this.#head === this.#seqs.length) {
      this.#seqs.length = 0;
      this.#times.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024) {
      this.#seqs.splice(0, this.#head);
      this.#times.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
