/**
 * Time, injected (STYLE.md §17): the driver is the only code that owns
 * timers; tests may pass their own clock.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls `fn` at (or soon after) `at`; returns a cancel function. */
  schedule(at: number, fn: () => void): () => void;
}

/** The runtime's monotonic clock (performance.now) and setTimeout. */
export const systemClock: Clock = {
  now: () => performance.now(),
  schedule(at, fn) {
    const handle = setTimeout(fn, Math.max(0, at - performance.now()));
    return () => clearTimeout(handle);
  },
};
