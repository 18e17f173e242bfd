import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SubscriberQueue, type QueuedEntry, type SubscriberOverflowPolicy } from "./subscriber-queue.js";

/** Drains the queue into the seqs it accounts for, as items and as gap runs. */
function drain<T>(queue: SubscriberQueue<T>): QueuedEntry<T>[] {
  const out: QueuedEntry<T>[] = [];
  for (let entry = queue.shift(); entry; entry = queue.shift()) out.push(entry);
  return out;
}

const seqsOf = (entries: QueuedEntry<unknown>[]) => entries.flatMap((e) => ("seq" in e ? [e.seq] : Array.from({ length: e.count }, (_, i) => e.gapFrom + i)));

describe("SubscriberQueue", () => {
  it("accounts for every offered seq exactly once, in order, as an item or inside a gap, and never holds more than capacity + 1 entries", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<SubscriberOverflowPolicy>("drop_oldest", "drop_newest"),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.boolean(), { maxLength: 300 }),
        (policy, capacity, ops) => {
          const queue = new SubscriberQueue<string>(capacity, policy);
          const seen: QueuedEntry<string>[] = [];
          let seq = 100;
          for (const publish of ops) {
            if (publish) {
              queue.offer(seq, `item ${seq}`);
              seq++;
            } else {
              const entry = queue.shift();
              if (entry) seen.push(entry);
            }
            expect(queue.size).toBeLessThanOrEqual(capacity + 1);
          }
          const queued = drain(queue);
          for (let i = 1; i < queued.length; i++) expect("gapFrom" in queued[i - 1]! && "gapFrom" in queued[i]!).toBe(false);
          seen.push(...queued);
          expect(seqsOf(seen)).toEqual(Array.from({ length: seq - 100 }, (_, i) => 100 + i));
          for (const entry of seen) if ("seq" in entry) expect(entry.item).toBe(`item ${entry.seq}`);
          // Drops adjacent in the queue merge: what is still queued never holds two gaps in a row.
        },
      ),
      { numRuns: 300 },
    );
  });

  it("drop_oldest keeps the newest items and reports the oldest as one dropped_oldest gap", () => {
    const queue = new SubscriberQueue<number>(3, "drop_oldest");
    for (let seq = 1; seq <= 10; seq++) expect(queue.offer(seq, seq)).toBe(seq <= 3 ? "queued" : "dropped");
    expect(drain(queue)).toEqual([{ gapFrom: 1, count: 7, reason: "dropped_oldest" }, { seq: 8, item: 8 }, { seq: 9, item: 9 }, { seq: 10, item: 10 }]);
  });

  it("drop_newest keeps the oldest items and reports the newest as one dropped_newest gap", () => {
    const queue = new SubscriberQueue<number>(3, "drop_newest");
    for (let seq = 1; seq <= 10; seq++) queue.offer(seq, seq);
    expect(drain(queue)).toEqual([{ seq: 1, item: 1 }, { seq: 2, item: 2 }, { seq: 3, item: 3 }, { gapFrom: 4, count: 7, reason: "dropped_newest" }]);
  });

  it("disconnect overflows at capacity + 1 and accepts nothing after", () => {
    const queue = new SubscriberQueue<number>(2, "disconnect");
    expect([1, 2, 3, 4].map((seq) => queue.offer(seq, seq))).toEqual(["queued", "queued", "overflowed", "overflowed"]);
    expect(queue.overflowed).toBe(true);
    expect(queue.size).toBe(2);
  });

  it("replays history beyond the capacity, and counts only live entries in maxQueued", () => {
    const queue = new SubscriberQueue<number>(2, "drop_oldest");
    for (let seq = 1; seq <= 5; seq++) queue.replay(seq, seq);
    expect(queue.size).toBe(5);
    expect(queue.maxQueued).toBe(0);
    queue.shift();
    queue.shift();
    queue.shift();
    queue.shift();
    expect(queue.offer(6, 6)).toBe("queued");
    expect(queue.maxQueued).toBe(2);
  });

  it("refuses a capacity below 1", () => {
    expect(() => new SubscriberQueue(0, "drop_oldest")).toThrow(/at least 1, got 0/);
  });
});
