import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { itemFor, simulate, type SimResult } from "./sim.js";

function expectExactlyOnceInOrder(result: SimResult, items: number, bigEvery: number, bigSize: number): void {
  const last = result.deliveries.at(-1);
  expect(last?.kind, JSON.stringify(last && last.kind === "error" ? last.error.message : last)).toBe("end");
  expect(result.delivered.length).toBe(items);
  for (let i = 0; i < items; i++) {
    if (result.delivered[i] !== i + 1) throw new Error(`position ${i}: got seq ${result.delivered[i]}, expected ${i + 1}`);
  }
  // Payloads arrive intact, fragmented ones included.
  for (const d of result.deliveries) {
    if (d.kind !== "item") continue;
    const want = itemFor(d.seq, bigEvery, bigSize);
    if (d.data.byteLength !== want.byteLength || d.data.some((b, i) => b !== want[i])) throw new Error(`item ${d.seq}: payload differs`);
  }
}

describe("simulated link", () => {
  it("delivers 100 000 items exactly once and in order through loss, duplication, reordering and disconnects", () => {
    const options = { seed: 42, items: 100_000, loss: 0.002, duplicate: 0.01, reorder: 0.01, disconnect: 0.0005, bigEvery: 997, bigSize: 20_000 };
    const result = simulate(options);
    expectExactlyOnceInOrder(result, options.items, options.bigEvery, options.bigSize);
    // The faults really happened: the stream was resumed many times.
    expect(result.sessions).toBeGreaterThan(10);
    expect(result.receiver.counters.duplicatesIgnored).toBeGreaterThan(0);
  });

  it("delivers everything on a clean link in one session", () => {
    const result = simulate({ seed: 7, items: 20_000 });
    expectExactlyOnceInOrder(result, 20_000, 997, 20_000);
    expect(result.sessions).toBe(1);
  });

  it("never buffers more than the byte window (or one oversized item) for a slow reader", () => {
    const result = simulate({ seed: 3, items: 3_000, readPerMs: 0.5, window: { items: 100, bytes: 4_096 }, bigEvery: 500, bigSize: 10_000 });
    expectExactlyOnceInOrder(result, 3_000, 500, 10_000);
    expect(result.maxBufferedBytes).toBeLessThanOrEqual(result.bufferBound);
    expect(result.maxBufferedBytes).toBeGreaterThan(0);
  });

  it("holds for arbitrary seeds, fault rates, windows and read speeds (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          items: fc.integer({ min: 1, max: 1_500 }),
          loss: fc.double({ min: 0, max: 0.03, noNaN: true }),
          duplicate: fc.double({ min: 0, max: 0.1, noNaN: true }),
          reorder: fc.double({ min: 0, max: 0.05, noNaN: true }),
          disconnect: fc.double({ min: 0, max: 0.01, noNaN: true }),
          windowItems: fc.integer({ min: 1, max: 300 }),
          windowBytes: fc.integer({ min: 1, max: 20_000 }),
          // Fragment count x loss rate must leave a big item a fair chance to cross whole.
          // The sim loses and reorders frames *inside* a connection (TCP never
          // would), and a resume resends everything after the last ack: with
          // acks every 20 items, three 9 000-byte items in 256-byte fragments
          // (~100 frames that must all cross intact, ~0.03 % per session) made
          // progress hopeless in one seed in ~3 runs of 60, and fast-check then
          // spent minutes shrinking. 1 KiB fragments keep the odds per session
          // above ~10 %.
          chunkMaxBytes: fc.integer({ min: 1_024, max: 8_192 }),
          // 0: no big items. Not every item big either: 946 items of 9 fragments each
          // through a 1-item window at 3 % loss needed ~9 300 sessions and ran out of
          // virtual time (seed 1, a CI run of 2026-12-01; the same at the session's start).
          bigEvery: fc.oneof(fc.constant(0), fc.integer({ min: 20, max: 200 })),
          readPerMs: fc.constantFrom(Infinity, 2, 0.3),
          ackEvery: fc.integer({ min: 1, max: 20 }),
        }),
        (p) => {
          // A 1-item window with 3 % frame loss stalls (and resumes) every few dozen items:
          // slow in virtual time, so the budget is generous; real non-progress still fails.
          const result = simulate({ ...p, window: { items: p.windowItems, bytes: p.windowBytes }, bigSize: 9_000, maxVirtualMs: 2_000_000 });
          expectExactlyOnceInOrder(result, p.items, p.bigEvery, 9_000);
          expect(result.maxBufferedBytes).toBeLessThanOrEqual(Math.max(p.windowBytes, 9_000, 128));
        },
      ),
      { numRuns: Number(process.env.SIM_RUNS ?? 60) },
    );
  });
});
