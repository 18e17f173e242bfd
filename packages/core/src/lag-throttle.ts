/**
 * Lag-based throttling of publishers (the ingest pipeline's rule), sans-IO:
 * before each batch goes to the sink, the caller reports the consumer lag
 * (how far the slowest subscriber that counts is behind the newest item)
 * and gets how long the batch must wait. Since the server takes items from
 * a publisher only as batches go out, the wait is what holds publishers
 * back (no credit while a batch waits), not a growing queue.
 *
 * - lag below `targetLag`: no delay;
 * - from `targetLag` to below `criticalLag`: a fixed `delayMs` per batch;
 * - from `criticalLag`: exponential backoff, `backoff.initialMs` doubling
 *   (`backoff.factor`) with every further critical check, up to
 *   `backoff.maxMs` (levels stop there: 2, 4, 8, 16 s by default);
 * - after `recoveryCycles` consecutive checks below `targetLag` the backoff
 *   steps down one level (the rate steps back up), until none is left;
 * - `maxRatePerSecond` caps the items per second at any lag, and
 *   `minRatePerSecond` is the least rate a throttle may slow a batch to.
 */

/** When and how hard a {@link LagThrottle} holds publishers back. */
export interface LagThrottleOptions {
  /** Lag at which throttling starts (default 1 000). */
  readonly targetLag: number;
  /** Lag at which backoff starts (default 5 000). */
  readonly criticalLag: number;
  /** The delay per batch between the two (default 1 000 ms). */
  readonly delayMs: number;
  /** Backoff above criticalLag: first delay, growth per critical check, cap (default 2 000, 2, 16 000 ms). */
  readonly backoff: {
    /** The first backoff delay. */
    readonly initialMs: number;
    /** What each further critical check multiplies it by. */
    readonly factor: number;
    /** The longest delay. */
    readonly maxMs: number;
  };
  /** Consecutive checks below targetLag before the backoff steps down one level (default 10). */
  readonly recoveryCycles: number;
  /** The least items per second a throttle may slow a batch to (default 0: no floor). */
  readonly minRatePerSecond: number;
  /** The most items per second, at any lag (default Infinity). */
  readonly maxRatePerSecond: number;
}

/** The defaults of {@link LagThrottleOptions}. */
export const DEFAULT_LAG_THROTTLE: LagThrottleOptions = {
  targetLag: 1_000,
  criticalLag: 5_000,
  delayMs: 1_000,
  backoff: { initialMs: 2_000, factor: 2, maxMs: 16_000 },
  recoveryCycles: 10,
  minRatePerSecond: 0,
  maxRatePerSecond: Infinity,
};

/** Where a {@link LagThrottle} is: not throttling, a fixed delay per batch, or backing off. */
export type ThrottleState = "normal" | "throttled" | "backoff";

/** What a {@link LagThrottle} did, for metrics. */
export interface ThrottleCounters {
  /** Changes of state or backoff level. */
  adjustments: number;
  /** Batches that had to wait. */
  throttledBatches: number;
  /** Milliseconds of waiting asked for, in total. */
  delayedMs: number;
}

/** Lag-based throttling as a sans-IO rule: lag in, wait per batch out. */
export class LagThrottle {
  /** The options in force, defaults filled in. */
  readonly options: LagThrottleOptions;
  /** What it did. */
  readonly counters: ThrottleCounters = { adjustments: 0, throttledBatches: 0, delayedMs: 0 };
  #state: ThrottleState = "normal";
  /** Backoff levels (0: none); the delay at level n is initialMs · factor^(n-1), capped. */
  #level = 0;
  #lowChecks = 0;
  /** When the rate cap lets the next item out (a token bucket of one batch). */
  #nextFreeAt = 0;
  #lastLag = 0;
  /** The first level whose delay reaches backoff.maxMs. */
  readonly #maxLevel: number;

  constructor(options: Partial<LagThrottleOptions> = {}) {
    this.options = { ...DEFAULT_LAG_THROTTLE, ...options, backoff: { ...DEFAULT_LAG_THROTTLE.backoff, ...options.backoff } };
    const { targetLag, criticalLag, delayMs, recoveryCycles } = this.options;
    if (!(targetLag >= 0 && criticalLag > targetLag)) throw new RangeError(`criticalLag (${criticalLag}) must be above targetLag (${targetLag})`);
    if (!(delayMs >= 0) || !(recoveryCycles >= 1)) throw new RangeError("delayMs must be ≥ 0 and recoveryCycles ≥ 1");
    const { initialMs, factor, maxMs } = this.options.backoff;
    if (!(initialMs > 0 && factor >= 1 && maxMs >= initialMs)) throw new RangeError(`backoff needs initialMs > 0, factor ≥ 1 and maxMs ≥ initialMs, got ${initialMs}, ${factor}, ${maxMs}`);
    let level = 1;
    while (level < 64 && initialMs * factor ** (level - 1) < maxMs) level++;
    this.#maxLevel = level;
  }

  /** Where it is now. */
  get state(): ThrottleState {
    return this.#state;
  }

  /** The backoff level (0: none). */
  get level(): number {
    return this.#level;
  }

  /** The lag of the last check. */
  get lag(): number {
    return this.#lastLag;
  }

  /**
   * A lag check before a batch of `items`: how many milliseconds the batch
   * waits before it goes to the sink (0: at once).
   */
  beforeBatch(lag: number, items: number, now: number): number {
    this.#lastLag = lag;
    const { targetLag, criticalLag, delayMs, backoff, recoveryCycles, minRatePerSecond, maxRatePerSecond } = this.options;
    const before = `${this.#state}/${this.#level}`;
    if (lag >= criticalLag) {
      this.#lowChecks = 0;
      // No level past the one that reaches the cap: each would only lengthen recovery.
      if (this.#level < this.#maxLevel) this.#level++;
    } else if (lag >= targetLag) {
      this.#lowChecks = 0;
    } else if (this.#level > 0 && ++this.#lowChecks >= recoveryCycles) {
      this.#lowChecks = 0;
      this.#level--;
    }
    let delay = 0;
    if (this.#level > 0) {
      this.#state = "backoff";
      delay = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** (this.#level - 1));
    } else if (lag >= targetLag) {
      this.#state = "throttled";
      delay = delayMs;
    } else this.#state = "normal";
    // The floor: never slower than minRate for this batch.
    if (minRatePerSecond > 0) delay = Math.min(delay, (items / minRatePerSecond) * 1000);
    // The cap: at most maxRate items per second, whatever the lag.
    if (maxRatePerSecond !== Infinity) {
      const start = Math.max(now + delay, this.#nextFreeAt);
      this.#nextFreeAt = start + (items / maxRatePerSecond) * 1000;
      delay = start - now;
    }
    if (`${this.#state}/${this.#level}` !== before) this.counters.adjustments++;
    if (delay > 0) {
      this.counters.throttledBatches++;
      this.counters.delayedMs += delay;
    }
    return delay;
  }
}
