import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Queue } from "./queue.js";

describe("Queue", () => {
  it("behaves like an array used with push and shift, across compactions", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer(), fc.constant("shift" as const), fc.constant("clear" as const)), { maxLength: 5_000 }), (ops) => {
        const queue = new Queue<number>();
        const model: number[] = [];
        for (const op of ops) {
          if (op === "shift") expect(queue.shift()).toBe(model.shift());
          else if (op === "clear") {
            queue.clear();
            model.length = 0;
          } else {
            queue.push(op);
            model.push(op);
          }
          expect(queue.length).toBe(model.length);
          expect(queue.peek()).toBe(model[0]);
        }
        expect([...queue]).toEqual(model);
        expect(queue.at(model.length - 1)).toBe(model[model.length - 1]);
        expect(queue.at(model.length)).toBeUndefined();
      }),
      { numRuns: 50 },
    );
  });

  it("keeps order across many compactions of a queue pushed and shifted in turn", () => {
    const queue = new Queue<object>();
    for (let i = 0; i < 100_000; i++) {
      queue.push({ i });
      queue.push({ i });
      queue.shift();
    }
    expect(queue.length).toBe(100_000);
    expect(queue.peek()).toEqual({ i: 50_000 });
  });

  it("drains 200 000 items in order, then reports empty", () => {
    const queue = new Queue<number>();
    for (let i = 0; i < 200_000; i++) queue.push(i);
    let sum = 0;
    for (let i = 0; i < 200_000; i++) sum += queue.shift()!;
    expect(sum).toBe((199_999 * 200_000) / 2);
    expect(queue.shift()).toBeUndefined();
  });

  it("replaces and removes by index from the oldest, and refuses an index outside the queue", () => {
    const queue = new Queue<string>();
    for (const x of ["a", "b", "c", "d"]) queue.push(x);
    queue.shift();
    queue.set(0, "B");
    queue.removeAt(1);
    expect([...queue]).toEqual(["B", "d"]);
    expect(() => queue.set(2, "x")).toThrow(/queue index 2 outside 0\.\.1/);
    expect(() => queue.removeAt(-1)).toThrow(RangeError);
  });
});
