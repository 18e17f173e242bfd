/**
 * The bounded priority queue: overflow policies against a reference model,
 * exact drop accounting, FIFO within a level and no starvation of LOW.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SluiceError } from "./errors.js";
import { BoundedPriorityQueue, Priority, type OverflowPolicy } from "./priority-queue.js";

const LEVELS = [Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW] as const;
const priorityArb = fc.constantFrom(...LEVELS);
type Op = { readonly offer: Priority } | { readonly poll: true };
const opArb: fc.Arbitrary<Op> = fc.oneof({ arbitrary: fc.record({ offer: priorityArb }), weight: 3 }, { arbitrary: fc.constant({ poll: true as const }), weight: 2 });

/** Item ids carry their level, so a polled item tells where it came from. */
interface Item {
  readonly id: number;
  readonly priority: Priority;
}

/**
 * What the queue must do, written as plainly as possible: four FIFOs and the
 * overflow rules of the module comment. Dequeue order is not modelled here
 * (it is checked by FIFO-per-level and the starvation property).
 */
class Model {
  readonly levels: Item[][] = [[], [], [], []];
  readonly dropped = [0, 0, 0, 0];
  accepted = 0;
  dequeued = 0;
  evicted = 0;
  constructor(
    readonly capacity: number,
    readonly policy: OverflowPolicy,
  ) {}
  get size(): number {
    return this.levels.reduce((n, level) => n + level.length, 0);
  }
  /** The outcome the queue must report for an offer, applied to the model. */
  offer(item: Item): { kind: string; evicted?: Item } {
    if (this.size < this.capacity) return this.#accept(item, { kind: "accepted" });
    switch (this.policy) {
      case "drop_newest":
        this.dropped[item.priority]!++;
        return { kind: "dropped" };
      case "block":
        return { kind: "blocked" };
      case "error":
        return { kind: "error" };
      case "drop_oldest": {
        const victimLevel = [3, 2, 1, 0].find((level) => this.levels[level]!.length > 0)!;
        if (victimLevel < item.priority) {
          this.dropped[item.priority]!++;
          return { kind: "dropped" };
        }
        const victim = this.levels[victimLevel]!.shift()!;
        this.dropped[victimLevel]!++;
        this.evicted++;
        return this.#accept(item, { kind: "accepted_evicted", evicted: victim });
      }
    }
  }
  /** Removes `item`, which must be the head of its level (FIFO within a level). */
  dequeue(item: Item): void {
    expect(this.levels[item.priority]![0]).toEqual(item);
    this.levels[item.priority]!.shift();
    this.dequeued++;
  }
  #accept(item: Item, result: { kind: string; evicted?: Item }) {
    this.levels[item.priority]!.push(item);
    this.accepted++;
    return result;
  }
}

describe("BoundedPriorityQueue", () => {
  it("matches the reference model under every policy: size within capacity, drops counted per level, accepted = dequeued + queued + evicted (property)", () => {
    fc.assert(
      fc.property(fc.constantFrom<OverflowPolicy>("drop_oldest", "drop_newest", "block", "error"), fc.integer({ min: 1, max: 8 }), fc.array(opArb, { maxLength: 200 }), (policy, capacity, ops) => {
        const queue = new BoundedPriorityQueue<Item>({ capacity, policy });
        const model = new Model(capacity, policy);
        let id = 0;
        let blocked = 0;
        let rejected = 0;
        for (const op of ops) {
          if ("offer" in op) {
            const item = { id: id++, priority: op.offer };
            const expected = model.offer(item);
            if (expected.kind === "error") {
              expect(() => queue.offer(item, item.priority)).toThrow(expect.objectContaining({ code: "limit_exceeded" }));
              rejected++;
            } else {
              const result = queue.offer(item, item.priority);
              expect(result.kind).toBe(expected.kind);
              if (result.kind === "accepted_evicted") {
                expect(result.evicted).toEqual(expected.evicted);
                expect(result.evictedPriority).toBe(expected.evicted!.priority);
                // Never a more important item for a less important one.
                expect(result.evictedPriority).toBeGreaterThanOrEqual(item.priority);
              }
              if (result.kind === "blocked") blocked++;
            }
          } else {
            const item = queue.poll();
            if (item === undefined) expect(model.size).toBe(0);
            else model.dequeue(item);
          }
          expect(queue.size).toBeLessThanOrEqual(capacity);
          expect(queue.size).toBe(model.size);
          for (const level of LEVELS) expect(queue.sizeOf(level)).toBe(model.levels[level]!.length);
          expect(queue.dropped).toEqual(model.dropped);
          expect(queue.droppedTotal).toBe(model.dropped.reduce((a, b) => a + b, 0));
          expect(queue.accepted).toBe(model.accepted);
          expect(queue.dequeued).toBe(model.dequeued);
          expect(queue.accepted).toBe(queue.dequeued + queue.size + model.evicted);
          expect(queue.blocked).toBe(blocked);
          expect(queue.rejected).toBe(rejected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("drop_newest drops the incoming item and keeps the queue as it was", () => {
    const queue = new BoundedPriorityQueue<string>({ capacity: 2, policy: "drop_newest" });
    queue.offer("a", Priority.LOW);
    queue.offer("b", Priority.LOW);
    expect(queue.offer("c", Priority.CRITICAL)).toEqual({ kind: "dropped" });
    expect(queue.dropped).toEqual([1, 0, 0, 0]);
    expect([queue.poll(), queue.poll(), queue.poll()]).toEqual(["a", "b", undefined]);
  });

  it("drop_oldest evicts the oldest item of the least important non-empty level", () => {
    const queue = new BoundedPriorityQueue<string>({ capacity: 3, policy: "drop_oldest" });
    queue.offer("n1", Priority.NORMAL);
    queue.offer("n2", Priority.NORMAL);
    queue.offer("c1", Priority.CRITICAL);
    expect(queue.offer("h1", Priority.HIGH)).toEqual({ kind: "accepted_evicted", evicted: "n1", evictedPriority: Priority.NORMAL });
    expect(queue.offer("n3", Priority.NORMAL)).toEqual({ kind: "accepted_evicted", evicted: "n2", evictedPriority: Priority.NORMAL });
    expect(queue.dropped).toEqual([0, 0, 2, 0]);
  });

  it("drop_oldest never evicts a more important item for a less important one: the newcomer is dropped instead", () => {
    const queue = new BoundedPriorityQueue<string>({ capacity: 2, policy: "drop_oldest" });
    queue.offer("c1", Priority.CRITICAL);
    queue.offer("h1", Priority.HIGH);
    expect(queue.offer("l1", Priority.LOW)).toEqual({ kind: "dropped" });
    expect(queue.dropped).toEqual([0, 0, 0, 1]);
    expect(queue.sizeOf(Priority.CRITICAL) + queue.sizeOf(Priority.HIGH)).toBe(2);
  });

  it("block answers blocked, drops nothing, and accepts again once there is room", () => {
    const queue = new BoundedPriorityQueue<string>({ capacity: 1, policy: "block" });
    queue.offer("a");
    expect(queue.offer("b", Priority.CRITICAL)).toEqual({ kind: "blocked" });
    expect(queue.blocked).toBe(1);
    expect(queue.droppedTotal).toBe(0);
    expect(queue.poll()).toBe("a");
    expect(queue.offer("b", Priority.CRITICAL)).toEqual({ kind: "accepted" });
  });

  it("error throws limit_exceeded naming the capacity and leaves the queue unchanged", () => {
    const queue = new BoundedPriorityQueue<string>({ capacity: 1, policy: "error" });
    queue.offer("a");
    expect(() => queue.offer("b")).toThrow(SluiceError);
    expect(() => queue.offer("b")).toThrow("queue full: capacity 1 items");
    expect(queue.rejected).toBe(2);
    expect(queue.size).toBe(1);
    expect(queue.droppedTotal).toBe(0);
  });

  it("keeps FIFO order within a level", () => {
    const queue = new BoundedPriorityQueue<number>({ capacity: 100, policy: "error" });
    for (let i = 0; i < 20; i++) queue.offer(i, Priority.NORMAL);
    const out = Array.from({ length: 20 }, () => queue.poll());
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it("serves levels 8:4:2:1 per round when all are busy, most important first", () => {
    const queue = new BoundedPriorityQueue<Priority>({ capacity: 1_000, policy: "error" });
    for (let i = 0; i < 50; i++) for (const p of LEVELS) queue.offer(p, p);
    const round = Array.from({ length: 15 }, () => queue.poll());
    expect(round).toEqual([...Array(8).fill(0), ...Array(4).fill(1), ...Array(2).fill(2), 3]);
  });

  it("does not starve LOW: with every level busy from the start, LOW comes out in every window of 15 polls, CRITICAL first", () => {
    const queue = new BoundedPriorityQueue<Priority>({ capacity: 1_000, policy: "error" });
    for (let i = 0; i < 200; i++) for (const p of LEVELS) queue.offer(p, p);
    const out = Array.from({ length: 150 }, () => queue.poll()!);
    for (let i = 0; i + 15 <= out.length; i++) expect(out.slice(i, i + 15)).toContain(Priority.LOW);
    expect(out.slice(0, 8).every((p) => p === Priority.CRITICAL)).toBe(true);
  });

  it("does not starve LOW: whatever came before, while all four levels stay non-empty LOW is dequeued at least once in every 15 polls (property)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), fc.array(priorityArb, { maxLength: 60 }), fc.integer({ min: 30, max: 90 }), (history, refills, polls) => {
        const queue = new BoundedPriorityQueue<Priority>({ capacity: 10_000, policy: "error" });
        // Any history: levels fill and empty, rounds are left half used.
        for (const op of history) {
          if ("offer" in op) queue.offer(op.offer, op.offer);
          else queue.poll();
        }
        // From now on every level holds at least two items at every poll.
        for (const p of LEVELS) while (queue.sizeOf(p) < 2) queue.offer(p, p);
        let sinceLow = 0;
        for (let i = 0; i < polls; i++) {
          const level = queue.poll()!;
          queue.offer(level, level);
          const extra = refills[i % Math.max(1, refills.length)];
          if (extra !== undefined) queue.offer(extra, extra);
          sinceLow = level === Priority.LOW ? 0 : sinceLow + 1;
          expect(sinceLow, `poll ${i}: ${sinceLow} polls without LOW`).toBeLessThan(15);
        }
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    { capacity: 0, policy: "block" as const },
    { capacity: 1.5, policy: "block" as const },
    { capacity: 4, policy: "block" as const, weights: [8, 4, 2, 0] as const },
  ])("refuses invalid options %o", (options) => {
    expect(() => new BoundedPriorityQueue(options)).toThrow(RangeError);
  });

  it("refuses a priority outside 0..3", () => {
    const queue = new BoundedPriorityQueue<string>({ capacity: 4, policy: "block" });
    expect(() => queue.offer("x", 4 as Priority)).toThrow(RangeError);
  });
});
