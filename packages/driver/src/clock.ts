/**
 * Time, injected: the driver is the only code that owns
 * timers; tests may pass their own clock.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls `fn` at (or soon after) `at`; returns a cancel function. */
  schedule(at: number, fn: () => void): () => void;
  /**
   * Lets the runtime do other work (I/O, timers, other sessions) before
   * resolving: the next macrotask, not a timer's minimum delay.
   */
  yield(): Promise<void>;
}

const setImmediateIfAny = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;

/** The runtime's monotonic clock (performance.now) and setTimeout; yield is setImmediate where there is one. */
export const systemClock: Clock = {
  now: () => performance.now(),
  schedule(at, fn) {
    const handle = setTimeout(fn, Math.max(0, at - performance.now()));
    return () => clearTimeout(handle);
  },
  yield: () => new Promise<void>((resolve) => (setImmediateIfAny ? setImmediateIfAny(resolve) : setTimeout(resolve, 0))),
};

/**
 * One timer for a state machine's next deadline. Rearming only when the
 * deadline moves earlier keeps setTimeout/clearTimeout off the per-item path;
 * a timer that fires early is harmless because handleTimeout does only what
 * is due.
 */
export class DeadlineTimer {
  readonly #clock: Clock;
  readonly #onFire: () => void;
  #at: number | undefined;
  #cancel: (() => void) | undefined;

  constructor(clock: Clock, onFire: () => void) {
    this.#clock = clock;
    this.#onFire = onFire;
  }

  /** Makes sure the timer fires no later than `deadline` (undefined: nothing due). */
  arm(deadline: number | undefined): void {
    if (deadline === undefined) return;
    if (this.#at !== undefined && this.#at <= deadline) return;
    this.#cancel?.();
    this.#at = deadline;
    this.#cancel = this.#clock.schedule(deadline, () => {
      this.#at = undefined;
      this.#cancel = undefined;
      this.#onFire();
    });
  }

  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    this.#at = undefined;
  }
}
