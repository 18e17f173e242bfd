/**
 * Circuit breaker (closed -> open -> half-open -> closed), sans-IO: the
 * caller passes `now`. Guards a dependency (a source's database, a sink) so
 * that a failing one is given time to recover instead of being hammered.
 */

/** When a {@link CircuitBreaker} opens, and how it tries to close again. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long the circuit stays open before trial calls are let through. */
  readonly openMs: number;
  /** Trial calls allowed at once while half-open. */
  readonly halfOpenMaxCalls: number;
  /** Successful trial calls that close the circuit again. */
  readonly successThreshold: number;
}

/** Opens after 5 consecutive failures for 10 s, then one trial call decides. */
export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerOptions = {
  failureThreshold: 5,
  openMs: 10_000,
  halfOpenMaxCalls: 1,
  successThreshold: 1,
};

/** Where a {@link CircuitBreaker} is, with what that state counts; told apart by `kind`. */
export type CircuitState =
  /** Calls go through. */
  | {
      /** Tells the states apart. */
      readonly kind: "closed";
      /** Consecutive failures so far. */
      readonly failures: number;
    }
  /** Calls are refused until `until`. */
  | {
      /** Tells the states apart. */
      readonly kind: "open";
      /** When trial calls are let through again (the caller's clock). */
      readonly until: number;
    }
  /** A few trial calls may go through; their outcome closes or reopens the circuit. */
  | {
      /** Tells the states apart. */
      readonly kind: "half_open";
      /** Trial calls under way. */
      readonly inFlight: number;
      /** Trial calls that succeeded so far. */
      readonly successes: number;
    };

/**
 * A circuit breaker over the caller's clock: ask tryAcquire() before a call and
 * report its outcome, and a failing dependency gets time to recover.
 */
export class CircuitBreaker {
  /** The options in force, defaults filled in. */
  readonly options: CircuitBreakerOptions;
  #state: CircuitState = { kind: "closed", failures: 0 };
  #opens = 0;

  constructor(options: Partial<CircuitBreakerOptions> = {}) {
    this.options = { ...DEFAULT_CIRCUIT_BREAKER, ...options };
  }

  /** The state as of `now` (an open circuit past its time reads as half-open). */
  state(now: number): CircuitState {
    if (this.#state.kind === "open" && now >= this.#state.until) {
      this.#state = { kind: "half_open", inFlight: 0, successes: 0 };
    }
    return this.#state;
  }

  /** Times the circuit has opened (a counter for metrics). */
  get opens(): number {
    return this.#opens;
  }

  /** Asks to make a call; true means go ahead and report the outcome. */
  tryAcquire(now: number): boolean {
    const state = this.state(now);
    switch (state.kind) {
      case "closed":
        return true;
      case "open":
        return false;
      case "half_open":
        if (state.inFlight >= this.options.halfOpenMaxCalls) return false;
        this.#state = { ...state, inFlight: state.inFlight + 1 };
        return true;
    }
  }

  /** Reports a call that succeeded: resets the failure count, or counts toward closing a half-open circuit. */
  onSuccess(now: number): void {
    const state = this.state(now);
    if (state.kind === "closed") {
      this.#state = { kind: "closed", failures: 0 };
    } else if (state.kind === "half_open") {
      const successes = state.successes + 1;
      this.#state =
        successes >= this.options.successThreshold
          ? { kind: "closed", failures: 0 }
          : { kind: "half_open", inFlight: Math.max(0, state.inFlight - 1), successes };
    }
  }

  /** Reports a call that failed: enough of them open the circuit, and any failure reopens a half-open one. */
  onFailure(now: number): void {
    const state = this.state(now);
    if (state.kind === "closed") {
      const failures = state.failures + 1;
      if (failures >= this.options.failureThreshold) this.#open(now);
      else this.#state = { kind: "closed", failures };
    } else if (state.kind === "half_open") {
      this.#open(now);
    }
  }

  #open(now: number): void {
    this.#state = { kind: "open", until: now + this.options.openMs };
    this.#opens++;
  }
}
