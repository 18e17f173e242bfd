import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LatencySampler } from "./latency-sampler.js";

describe("LatencySampler", () => {
  it("reports push-to-ack time of the sampled items an ack covers, oldest first", () => {
    const sampler = new LatencySampler({ intervalMs: 10 });
    sampler.pushed(1, 0);
    sampler.pushed(2, 5); // within 10 ms of the last sample: not sampled
    sampler.pushed(3, 10);
    sampler.pushed(4, 25);
    const seen: number[] = [];
    sampler.acked(3, 40, (ms) => seen.push(ms));
    expect(seen).toEqual([40, 30]);
    expect(sampler.pending).toBe(1);
    sampler.acked(10, 100, (ms) => seen.push(ms));
    expect(seen).toEqual([40, 30, 75]);
    expect(sampler.pending).toBe(0);
  });

  it("stops sampling while maxPending samples wait for acks (a stalled consumer)", () => {
    const sampler = new LatencySampler({ intervalMs: 0, maxPending: 3 });
    for (let seq = 1; seq <= 100; seq++) sampler.pushed(seq, seq);
    expect(sampler.pending).toBe(3);
    const seen: number[] = [];
    sampler.acked(100, 200, (ms) => seen.push(ms));
    expect(seen).toEqual([199, 198, 197]);
  });

  it("ignores stale acks and seqs that do not grow", () => {
    const sampler = new LatencySampler({ intervalMs: 0 });
    sampler.pushed(5, 0);
    sampler.pushed(5, 1);
    sampler.pushed(3, 2);
    const seen: number[] = [];
    sampler.acked(4, 10, (ms) => seen.push(ms));
    expect(seen).toEqual([]);
    sampler.acked(5, 10, (ms) => seen.push(ms));
    expect(seen).toEqual([10]);
  });

  it("reports each sample once, never negative, and at most maxPending wait (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ push: fc.integer({ min: 1, max: 5 }) }), fc.record({ ack: fc.integer({ min: 0, max: 20 }) })), { maxLength: 300 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 1, max: 16 }),
        (ops, intervalMs, maxPending) => {
          const sampler = new LatencySampler({ intervalMs, maxPending });
          let seq = 0;
          let now = 0;
          let acked = 0;
          const sampled = new Map<number, number>();
          for (const op of ops) {
            now += 3;
            if ("push" in op) {
              for (let i = 0; i < op.push; i++) {
                seq++;
                const before = sampler.pending;
                sampler.pushed(seq, now);
                if (sampler.pending > before) sampled.set(seq, now);
              }
            } else {
              acked = Math.min(seq, acked + op.ack);
              const expected = [...sampled].filter(([s]) => s <= acked).map(([, at]) => now - at);
              for (const [s] of sampled) if (s <= acked) sampled.delete(s);
              const seen: number[] = [];
              sampler.acked(acked, now, (ms) => seen.push(ms));
              expect(seen).toEqual(expected);
            }
            expect(sampler.pending).toBeLessThanOrEqual(maxPending);
            expect(sampler.pending).toBe(sampled.size);
          }
        },
      ),
    );
  });
});
