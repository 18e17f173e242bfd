/**
 * The circuit breaker's transitions with explicit time:
 * closed -> open -> half-open -> closed (or open again).
 */
import { describe, expect, it } from "vitest";
import { CircuitBreaker, DEFAULT_CIRCUIT_BREAKER } from "./circuit-breaker.js";

function opened(options: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  const breaker = new CircuitBreaker({ failureThreshold: 3, openMs: 1_000, halfOpenMaxCalls: 1, successThreshold: 1, ...options });
  for (let t = 0; t < 3; t++) breaker.onFailure(t);
  expect(breaker.state(2)).toEqual({ kind: "open", until: 1_002 });
  return breaker;
}

describe("CircuitBreaker", () => {
  it("starts closed and lets calls through", () => {
    const breaker = new CircuitBreaker();
    expect(breaker.options).toEqual(DEFAULT_CIRCUIT_BREAKER);
    expect(breaker.state(0)).toEqual({ kind: "closed", failures: 0 });
    expect(breaker.tryAcquire(0)).toBe(true);
    expect(breaker.opens).toBe(0);
  });

  it("opens after failureThreshold consecutive failures", () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, openMs: 1_000 });
    breaker.onFailure(0);
    breaker.onFailure(1);
    expect(breaker.state(1)).toEqual({ kind: "closed", failures: 2 });
    breaker.onFailure(2);
    expect(breaker.state(2)).toEqual({ kind: "open", until: 1_002 });
    expect(breaker.opens).toBe(1);
  });

  it("counts only consecutive failures: a success resets the count", () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, openMs: 1_000 });
    breaker.onFailure(0);
    breaker.onFailure(1);
    breaker.onSuccess(2);
    expect(breaker.state(2)).toEqual({ kind: "closed", failures: 0 });
    breaker.onFailure(3);
    breaker.onFailure(4);
    expect(breaker.state(4).kind).toBe("closed");
  });

  it("rejects calls while open, until openMs has passed", () => {
    const breaker = opened();
    expect(breaker.tryAcquire(2)).toBe(false);
    expect(breaker.tryAcquire(1_001)).toBe(false);
    expect(breaker.state(1_001).kind).toBe("open");
    expect(breaker.state(1_002)).toEqual({ kind: "half_open", inFlight: 0, successes: 0 });
  });

  it("lets halfOpenMaxCalls trial calls through at once while half-open", () => {
    const breaker = opened({ halfOpenMaxCalls: 2 });
    expect(breaker.tryAcquire(1_002)).toBe(true);
    expect(breaker.tryAcquire(1_003)).toBe(true);
    expect(breaker.tryAcquire(1_004)).toBe(false);
    expect(breaker.state(1_004)).toEqual({ kind: "half_open", inFlight: 2, successes: 0 });
  });

  it("closes again when a trial call succeeds", () => {
    const breaker = opened();
    expect(breaker.tryAcquire(1_002)).toBe(true);
    breaker.onSuccess(1_010);
    expect(breaker.state(1_010)).toEqual({ kind: "closed", failures: 0 });
    expect(breaker.tryAcquire(1_011)).toBe(true);
  });

  it("closes only after successThreshold trial calls succeed, freeing a trial slot after each", () => {
    const breaker = opened({ successThreshold: 2 });
    expect(breaker.tryAcquire(1_002)).toBe(true);
    breaker.onSuccess(1_003);
    expect(breaker.state(1_003)).toEqual({ kind: "half_open", inFlight: 0, successes: 1 });
    expect(breaker.tryAcquire(1_004)).toBe(true);
    breaker.onSuccess(1_005);
    expect(breaker.state(1_005).kind).toBe("closed");
  });

  it("opens again for another openMs when a trial call fails, and counts every opening", () => {
    const breaker = opened();
    expect(breaker.tryAcquire(1_002)).toBe(true);
    breaker.onFailure(1_050);
    expect(breaker.state(1_050)).toEqual({ kind: "open", until: 2_050 });
    expect(breaker.tryAcquire(2_049)).toBe(false);
    expect(breaker.opens).toBe(2);
    expect(breaker.tryAcquire(2_050)).toBe(true);
    breaker.onSuccess(2_060);
    expect(breaker.state(2_060).kind).toBe("closed");
    expect(breaker.opens).toBe(2);
  });

  it("opens after consecutive failures, lets a trial through after openMs, closes on success and reopens on failure, in one run", () => {
    const c = new CircuitBreaker({ failureThreshold: 3, openMs: 1_000, halfOpenMaxCalls: 1 });
    c.onFailure(0);
    c.onFailure(1);
    c.onSuccess(2); // resets the count
    c.onFailure(3);
    c.onFailure(4);
    expect(c.state(4).kind).toBe("closed");
    c.onFailure(5);
    expect(c.state(5)).toEqual({ kind: "open", until: 1_005 });
    expect(c.tryAcquire(500)).toBe(false);
    expect(c.tryAcquire(1_005)).toBe(true);
    expect(c.tryAcquire(1_006)).toBe(false); // one trial at a time
    c.onFailure(1_010);
    expect(c.state(1_010).kind).toBe("open");
    expect(c.tryAcquire(2_010)).toBe(true);
    c.onSuccess(2_011);
    expect(c.state(2_011).kind).toBe("closed");
    expect(c.opens).toBe(2);
  });

  it("ignores the outcome of a call that finishes while the circuit is open", () => {
    const breaker = opened();
    breaker.onSuccess(10);
    breaker.onFailure(20);
    expect(breaker.state(20)).toEqual({ kind: "open", until: 1_002 });
    expect(breaker.opens).toBe(1);
  });
});
