/**
 * Reconnect delays: exponential with full jitter (AWS Architecture Blog,
 * "Exponential Backoff And Jitter": full jitter spreads a thundering herd of
 * reconnecting clients best), capped, with a maximum number of attempts.
 * Randomness is injected so tests are deterministic.
 */
import { SluiceError } from "./errors.js";

/** How {@link Backoff} spaces reconnect attempts (PROTOCOL.md §9.5). */
export interface BackoffOptions {
  /** Ceiling of the first delay. */
  readonly initialMs: number;
  /** No delay is longer than this. */
  readonly maxMs: number;
  /** Each attempt multiplies the ceiling by this (at least 1). */
  readonly multiplier: number;
  /** Attempts before giving up; Infinity retries forever. */
  readonly maxAttempts: number;
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

/** PROTOCOL.md §9.5's defaults: 100 ms doubling up to 10 s, attempts unlimited. */
export const DEFAULT_BACKOFF: Omit<BackoffOptions, "random"> = {
  initialMs: 100,
  maxMs: 10_000,
  multiplier: 2,
  maxAttempts: Infinity,
};

/** Whether an error is worth another attempt. */
export type RetryClass = "retryable" | "permanent";

/** Whether an error is worth retrying: SluiceErrors say so themselves; anything else (a socket error) is transient. */
export function classifyError(error: unknown): RetryClass {
  if (error instanceof SluiceError) return error.retryable ? "retryable" : "permanent";
  return "retryable";
}

/**
 * Delays between reconnect attempts: exponential with full jitter, capped, with
 * an optional limit on attempts; `reset()` after a session that moved the
 * stream forward.
 */
export class Backoff {
  /** The options in force, defaults filled in. */
  readonly options: BackoffOptions;
  #attempt = 0;

  constructor(options: Partial<BackoffOptions> & Pick<BackoffOptions, "random">) {
    this.options = { ...DEFAULT_BACKOFF, ...options };
    const { initialMs, maxMs, multiplier } = this.options;
    if (!(initialMs > 0) || !(maxMs >= initialMs) || !(multiplier >= 1)) {
      throw new RangeError(`invalid backoff: initialMs ${initialMs}, maxMs ${maxMs}, multiplier ${multiplier}`);
    }
  }

  /** Attempts made since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The upper bound of the delay for attempt `n` (0-based). */
  ceilingMs(n: number): number {
    const { initialMs, maxMs, multiplier } = this.options;
    return Math.min(maxMs, initialMs * multiplier ** n);
  }

  /**
   * The delay before the next attempt, or undefined when attempts are used
   * up. `retryAfterMs` (a server's hint) is a floor.
   */
  next(retryAfterMs = 0): number | undefined {
    if (this.#attempt >= this.options.maxAttempts) return undefined;
    const ceiling = this.ceilingMs(this.#attempt);
    this.#attempt++;
    return Math.max(retryAfterMs, Math.floor(this.options.random() * ceiling));
  }

  /** After a success: start from the initial delay again. */
  reset(): void {
    this.#attempt = 0;
  }
}
