/**
 * Circuit breaker (closed -> open -> half-open -> closed), sans-IO: the
 * caller passes `now`. Guards a dependency (a source's database, a sink) so
 * that a failing one is given time to recover instead of being hammered.
 */

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

export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerOptions = {
  failureThreshold: 5,
  openMs: 10_000,
  halfOpenMaxCalls: 1,
  successThreshold: 1,
};

export type CircuitState =
  | { readonly kind: "closed"; readonly failures: number }
  | { readonly kind: "open"; readonly until: number }
  | { readonly kind: "half_open"; readonly inFlight: number; readonly successes: number };

export class CircuitBreaker {
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
