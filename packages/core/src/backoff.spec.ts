/**
 * Reconnect delays (exponential, capped, full jitter) and which errors are
 * worth a retry.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Backoff, DEFAULT_BACKOFF, classifyError } from "./backoff.js";
import { seededRandom } from "../test/sim.js";
import { ERROR_CODE_INFO, ERROR_CODES, SluiceError } from "./errors.js";

/** A `random` that plays back the given values in a loop. */
function playback(values: readonly number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe("Backoff", () => {
  it("keeps every delay within [retryAfterMs, min(maxMs, initialMs * multiplier^attempt)] and stops after maxAttempts (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          initialMs: fc.integer({ min: 1, max: 1_000 }),
          extraMs: fc.integer({ min: 0, max: 100_000 }),
          multiplier: fc.double({ min: 1, max: 4, noNaN: true }),
          maxAttempts: fc.integer({ min: 0, max: 40 }),
        }),
        fc.array(unit, { minLength: 1, maxLength: 20 }),
        fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 200_000 })), { minLength: 1, maxLength: 10 }),
        ({ initialMs, extraMs, multiplier, maxAttempts }, randoms, hints) => {
          const maxMs = initialMs + extraMs;
          const backoff = new Backoff({ initialMs, maxMs, multiplier, maxAttempts, random: playback(randoms) });
          for (let attempt = 0; attempt < maxAttempts; attempt++) {
            const retryAfterMs = hints[attempt % hints.length]!;
            const ceiling = Math.min(maxMs, initialMs * multiplier ** attempt);
            expect(backoff.ceilingMs(attempt)).toBe(ceiling);
            const delay = backoff.next(retryAfterMs)!;
            expect(delay).toBeGreaterThanOrEqual(retryAfterMs);
            expect(delay).toBeLessThanOrEqual(Math.max(retryAfterMs, ceiling));
            expect(Number.isInteger(delay)).toBe(true);
            expect(backoff.attempt).toBe(attempt + 1);
          }
          expect(backoff.next()).toBeUndefined();
          expect(backoff.next(1_000)).toBeUndefined();
          backoff.reset();
          expect(backoff.attempt).toBe(0);
          if (maxAttempts > 0) expect(backoff.next()).toBeLessThanOrEqual(initialMs);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("stays within [retryAfter, min(max, initial * multiplier^attempt)] for a seeded random, and starts over after reset (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 1, max: 4, noNaN: true }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 5_000 }), fc.integer(), (initialMs, extra, multiplier, maxAttempts, retryAfter, seed) => {
        const maxMs = initialMs + extra;
        const b = new Backoff({ initialMs, maxMs, multiplier, maxAttempts, random: seededRandom(seed) });
        for (let attempt = 0; attempt < maxAttempts; attempt++) {
          const delay = b.next(retryAfter)!;
          expect(delay).toBeGreaterThanOrEqual(retryAfter);
          expect(delay).toBeLessThanOrEqual(Math.max(retryAfter, Math.min(maxMs, initialMs * multiplier ** attempt)));
        }
        expect(b.next()).toBeUndefined();
        b.reset();
        expect(b.next()).toBeLessThanOrEqual(initialMs);
      }),
    );
  });

  it("spreads delays over the whole range: full jitter from zero to the ceiling", () => {
    const low = new Backoff({ initialMs: 100, maxMs: 10_000, multiplier: 2, random: () => 0 });
    expect([low.next(), low.next(), low.next()]).toEqual([0, 0, 0]);
    const high = new Backoff({ initialMs: 100, maxMs: 10_000, multiplier: 2, random: () => 0.999_999 });
    expect([high.next(), high.next(), high.next()]).toEqual([99, 199, 399]);
  });

  it("caps the ceiling at maxMs", () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1_000, multiplier: 2, random: () => 0.5 });
    expect([0, 1, 2, 3, 4, 10].map((n) => backoff.ceilingMs(n))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it("waits at least a server's retryAfterMs hint, even beyond the ceiling", () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 0.5 });
    expect(backoff.next(5_000)).toBe(5_000);
  });

  it("starts from the initial delay again after reset", () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 10_000, multiplier: 2, random: () => 0.999_999 });
    for (let i = 0; i < 5; i++) backoff.next();
    expect(backoff.next()).toBe(3_199);
    backoff.reset();
    expect(backoff.next()).toBe(99);
  });

  it("retries forever by default", () => {
    expect(DEFAULT_BACKOFF.maxAttempts).toBe(Infinity);
    const backoff = new Backoff({ random: () => 0.5 });
    for (let i = 0; i < 1_000; i++) expect(backoff.next()).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxMs);
  });

  it.each([
    { initialMs: 0, maxMs: 100, multiplier: 2 },
    { initialMs: 100, maxMs: 50, multiplier: 2 },
    { initialMs: 100, maxMs: 1_000, multiplier: 0.5 },
    { initialMs: Number.NaN, maxMs: 1_000, multiplier: 2 },
  ])("refuses invalid options %o", (options) => {
    expect(() => new Backoff({ ...options, random: () => 0 })).toThrow(RangeError);
  });
});

describe("classifyError", () => {
  it.each(ERROR_CODES.map((code) => [code, ERROR_CODE_INFO[code].retryable ? "retryable" : "permanent"] as const))("classifies %s as %s by default", (code, expected) => {
    expect(classifyError(new SluiceError(code, "x"))).toBe(expected);
  });

  it("follows a SluiceError's own retryable flag over its code's default", () => {
    expect(classifyError(new SluiceError("source_failed", "bad row", { retryable: false }))).toBe("permanent");
    expect(classifyError(new SluiceError("internal", "restarting", { retryable: true }))).toBe("retryable");
    expect(classifyError(SluiceError.fromFrame({ code: "unavailable", message: "draining", retryable: true, retryAfterMs: 500, field: "" }))).toBe("retryable");
  });

  it("treats anything that is not a SluiceError as transient (a socket error, a thrown string)", () => {
    expect(classifyError(new Error("ECONNRESET"))).toBe("retryable");
    expect(classifyError(new TypeError("fetch failed"))).toBe("retryable");
    expect(classifyError("boom")).toBe("retryable");
    expect(classifyError(undefined)).toBe("retryable");
  });
});
