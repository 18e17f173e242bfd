import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { simulatePublish, type PublishSimOptions, type PublishSimResult } from "./publish-sim.js";

/**
 * The ingest guarantee (PROTOCOL.md §3.4): every offered item is, exactly
 * once, accepted (and then in the sink exactly once), dead-lettered (and
 * never in the sink), or rejected to the caller; the sink holds the
 * publisher's seqs in order with none twice.
 */
function expectEveryItemOnce(result: PublishSimResult, options: Partial<PublishSimOptions> & { items: number }): void {
  expect(result.finishedError?.message).toBeUndefined();
  const inSink = new Map<number, number>();
  for (const index of result.sink) inSink.set(index, (inSink.get(index) ?? 0) + 1);
  for (let token = 0; token < options.items; token++) {
    const fates = result.fates.get(token) ?? [];
    if (fates.length !== 1) throw new Error(`item ${token}: fates ${JSON.stringify(fates)}, expected exactly one`);
    const [fate] = fates;
    const copies = inSink.get(token) ?? 0;
    if (fate === "accepted" && copies !== 1) throw new Error(`item ${token}: accepted but ${copies} copies in the sink`);
    if (fate !== "accepted" && copies !== 0) throw new Error(`item ${token}: ${fate} but ${copies} copies in the sink`);
    if (fate === "dead_lettered" && !result.deadLettered.has(token)) throw new Error(`item ${token}: dead-lettered, but the sink never refused it`);
  }
  for (let i = 1; i < result.sinkSeqs.length; i++) {
    if (result.sinkSeqs[i]! <= result.sinkSeqs[i - 1]!) throw new Error(`sink position ${i}: seq ${result.sinkSeqs[i]} after ${result.sinkSeqs[i - 1]}`);
  }
}

describe("simulated publishing", () => {
  it("puts 20 000 items into the sink exactly once through duplicated frames and disconnects", () => {
    const options = { seed: 42, items: 20_000, duplicate: 0.01, disconnect: 0.005 };
    const result = simulatePublish(options);
    expectEveryItemOnce(result, options);
    expect(result.sink).toHaveLength(20_000);
    // The faults really happened: many sessions, items sent again.
    expect(result.sessions).toBeGreaterThan(5);
    expect(result.publisher.counters.resent).toBeGreaterThan(0);
  });

  it("puts 20 000 items into the sink exactly once through frames lost and reordered inside live connections", () => {
    const options = { seed: 11, items: 20_000, loss: 0.005, reorder: 0.01, duplicate: 0.005 };
    const result = simulatePublish(options);
    expectEveryItemOnce(result, options);
    expect(result.sink).toHaveLength(20_000);
    expect(result.sessions).toBeGreaterThan(5);
    expect(result.publisher.counters.resent).toBeGreaterThan(0);
  });

  it("publishes everything on a clean link in one session, in offer order at one priority's pace", () => {
    const result = simulatePublish({ seed: 7, items: 5_000 });
    expectEveryItemOnce(result, { items: 5_000 });
    expect(result.sessions).toBe(1);
    expect(result.sink).toHaveLength(5_000);
  });

  it("reports dead letters with their reason and rejects items over the server's max item size", () => {
    const options = { seed: 3, items: 2_000, deadEvery: 50, tooBigEvery: 97 };
    const result = simulatePublish(options);
    expectEveryItemOnce(result, options);
    const fates = [...result.fates.values()].map((f) => f[0]!);
    expect(fates.filter((f) => f === "dead_lettered").length).toBeGreaterThan(30);
    expect(fates.filter((f) => f === "rejected:limit_exceeded").length).toBe(Math.floor(2_000 / 97));
  });

  it("drops by the overflow policy only what it reports, under a slow sink", () => {
    const options = { seed: 5, items: 3_000, overflow: "drop_oldest" as const, queueCapacity: 100, sinkPerMs: 1, window: { items: 16, bytes: 4_096 } };
    const result = simulatePublish(options);
    expectEveryItemOnce(result, options);
    const rejected = [...result.fates.values()].filter((f) => f[0]!.startsWith("rejected")).length;
    expect(rejected).toBeGreaterThan(0);
    expect(result.sink.length + rejected).toBe(3_000);
  });

  it("holds for arbitrary seeds, fault rates (loss, reordering, duplication, disconnects), windows, queues and sink speeds (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          items: fc.integer({ min: 1, max: 1_500 }),
          offerEveryMs: fc.constantFrom(0, 0, 1),
          duplicate: fc.double({ min: 0, max: 0.1, noNaN: true }),
          loss: fc.constantFrom(0, 0.001, 0.01),
          reorder: fc.constantFrom(0, 0.01, 0.05),
          disconnect: fc.double({ min: 0, max: 0.01, noNaN: true }),
          window: fc.record({ items: fc.integer({ min: 1, max: 200 }), bytes: fc.integer({ min: 300, max: 20_000 }) }),
          queueCapacity: fc.integer({ min: 1, max: 2_000 }),
          overflow: fc.constantFrom("drop_oldest" as const, "drop_newest" as const, "block" as const),
          deadEvery: fc.constantFrom(0, 7, 100),
          tooBigEvery: fc.constantFrom(0, 13),
          sinkPerMs: fc.constantFrom(Infinity, 2, 0.5),
        }),
        (options) => {
          const result = simulatePublish(options);
          expectEveryItemOnce(result, options);
        },
      ),
      { numRuns: Number(process.env.SIM_RUNS ?? 150) },
    );
  }, 120_000);
});
