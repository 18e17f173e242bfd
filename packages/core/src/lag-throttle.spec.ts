import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LagThrottle } from "./lag-throttle.js";

describe("LagThrottle", () => {
  it("does not hold back below targetLag, delays a fixed time up to criticalLag, then backs off 2, 4, 8, 16 s", () => {
    const throttle = new LagThrottle();
    expect(throttle.beforeBatch(999, 100, 0)).toBe(0);
    expect(throttle.state).toBe("normal");
    expect(throttle.beforeBatch(1_000, 100, 0)).toBe(1_000);
    expect(throttle.state).toBe("throttled");
    expect([5_000, 6_000, 7_000, 8_000, 9_000, 10_000].map((lag) => throttle.beforeBatch(lag, 100, 0))).toEqual([2_000, 4_000, 8_000, 16_000, 16_000, 16_000]);
    expect(throttle.state).toBe("backoff");
    // Levels stop where the delay reaches the cap: recovery never waits out levels that added nothing.
    expect(throttle.level).toBe(4);
  });

  it("steps the backoff down one level per recoveryCycles consecutive low-lag checks, back to normal", () => {
    const throttle = new LagThrottle({ recoveryCycles: 3, backoff: { initialMs: 100, factor: 2, maxMs: 1_000 } });
    for (let i = 0; i < 3; i++) throttle.beforeBatch(10_000, 1, 0);
    expect(throttle.level).toBe(3);
    const delays = Array.from({ length: 9 }, () => throttle.beforeBatch(0, 1, 0));
    expect(delays).toEqual([400, 400, 200, 200, 200, 100, 100, 100, 0]);
    expect(throttle.state).toBe("normal");
    // A check in between restarts the count.
    throttle.beforeBatch(10_000, 1, 0);
    throttle.beforeBatch(0, 1, 0);
    throttle.beforeBatch(2_000, 1, 0);
    throttle.beforeBatch(0, 1, 0);
    throttle.beforeBatch(0, 1, 0);
    expect(throttle.level).toBe(1);
    expect(throttle.counters.adjustments).toBeGreaterThan(0);
  });

  it("caps the rate at maxRatePerSecond and never slows a batch below minRatePerSecond", () => {
    const capped = new LagThrottle({ maxRatePerSecond: 1_000 });
    expect(capped.beforeBatch(0, 500, 0)).toBe(0);
    expect(capped.beforeBatch(0, 500, 0)).toBe(500);
    expect(capped.beforeBatch(0, 500, 2_000)).toBe(0);
    const floored = new LagThrottle({ minRatePerSecond: 100 });
    for (let i = 0; i < 5; i++) floored.beforeBatch(10_000, 10, 0);
    expect(floored.beforeBatch(10_000, 10, 0)).toBe(100); // 10 items at 100/s, not 16 s
  });

  it("refuses settings that cannot work", () => {
    expect(() => new LagThrottle({ targetLag: 5_000, criticalLag: 1_000 })).toThrow(/criticalLag \(1000\) must be above targetLag \(5000\)/);
  });

  it("never waits a negative time, and waits nothing with no lag and no cap (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ lag: fc.nat(20_000), items: fc.integer({ min: 1, max: 500 }) }), { maxLength: 50 }), (checks) => {
        const throttle = new LagThrottle();
        for (const { lag, items } of checks) expect(throttle.beforeBatch(lag, items, 0)).toBeGreaterThanOrEqual(0);
        const fresh = new LagThrottle();
        for (const { items } of checks) expect(fresh.beforeBatch(0, items, 0)).toBe(0);
      }),
    );
  });
});
