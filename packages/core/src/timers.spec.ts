/**
 * The timer table alone: one deadline per timer, the earliest as the next
 * timeout, expiry at or after the deadline.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Timer, TimerTable } from "./timers.js";

const TIMERS = Object.values(Timer);

describe("TimerTable", () => {
  it("starts with every timer stopped and nothing due", () => {
    const table = new TimerTable();
    expect(table.nextTimeout()).toBeUndefined();
    for (const timer of TIMERS) {
      expect(table.get(timer)).toBeUndefined();
      expect(table.isExpired(timer, Number.MAX_SAFE_INTEGER)).toBe(false);
    }
    expect([...table.expired(Number.MAX_SAFE_INTEGER)]).toEqual([]);
  });

  it("keeps one deadline per timer: set moves it, stop and set(undefined) clear it", () => {
    const table = new TimerTable();
    table.set(Timer.flush, 30);
    table.set(Timer.ping, 10);
    expect(table.nextTimeout()).toBe(10);
    table.set(Timer.ping, 50); // moved later, not a second ping
    expect(table.get(Timer.ping)).toBe(50);
    expect(table.nextTimeout()).toBe(30);
    table.stop(Timer.flush);
    expect(table.get(Timer.flush)).toBeUndefined();
    expect(table.nextTimeout()).toBe(50);
    table.set(Timer.ping, undefined);
    expect(table.nextTimeout()).toBeUndefined();
  });

  it("counts a timer as expired at its deadline, not before", () => {
    const table = new TimerTable();
    table.set(Timer.ack, 100);
    expect(table.isExpired(Timer.ack, 99.999)).toBe(false);
    expect(table.isExpired(Timer.ack, 100)).toBe(true);
    expect(table.isExpired(Timer.ack, 101)).toBe(true);
    expect(table.isExpired(Timer.stall, 101)).toBe(false);
  });

  it("stops every timer at once", () => {
    const table = new TimerTable();
    for (const timer of TIMERS) table.set(timer, timer * 10);
    table.stopAll();
    expect(table.nextTimeout()).toBeUndefined();
    expect(TIMERS.map((timer) => table.get(timer))).toEqual(TIMERS.map(() => undefined));
  });

  it("reports expired timers in Timer order, a heartbeat timeout ahead of its ping", () => {
    const table = new TimerTable();
    table.set(Timer.yield, 1);
    table.set(Timer.ping, 5);
    table.set(Timer.heartbeatTimeout, 7);
    table.set(Timer.flush, 9);
    expect([...table.expired(8)]).toEqual([Timer.heartbeatTimeout, Timer.ping, Timer.yield]);
  });

  it("does not report a timer that an earlier handler stopped or moved during the iteration", () => {
    const table = new TimerTable();
    for (const timer of TIMERS) table.set(timer, 0);
    const handled: Timer[] = [];
    for (const timer of table.expired(0)) {
      handled.push(timer);
      if (timer === Timer.ping) {
        table.set(Timer.flush, 10);
        table.stop(Timer.yield);
      }
    }
    expect(handled).toEqual([Timer.heartbeatTimeout, Timer.ping, Timer.stall, Timer.ack]);
  });

  type Op = { readonly set: Timer; readonly at: number } | { readonly stop: Timer } | { readonly stopAll: true };
  const timerArb = fc.constantFrom(...TIMERS);
  // + 0 turns -0 into 0: toBe tells them apart, the table need not.
  const timeArb = fc.double({ min: -1e6, max: 1e9, noNaN: true }).map((t) => t + 0);
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { arbitrary: fc.record({ set: timerArb, at: timeArb }), weight: 6 },
    { arbitrary: fc.record({ stop: timerArb }), weight: 3 },
    { arbitrary: fc.constant({ stopAll: true as const }), weight: 1 },
  );

  it("matches a map of deadlines: next timeout is the minimum, expired are those at or before now (property)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 100 }), timeArb, (ops, now) => {
        const table = new TimerTable();
        const model = new Map<Timer, number>();
        for (const op of ops) {
          if ("set" in op) {
            table.set(op.set, op.at);
            model.set(op.set, op.at);
          } else if ("stop" in op) {
            table.stop(op.stop);
            model.delete(op.stop);
          } else {
            table.stopAll();
            model.clear();
          }
          const deadlines = [...model.values()];
          expect(table.nextTimeout()).toBe(deadlines.length > 0 ? Math.min(...deadlines) : undefined);
        }
        for (const timer of TIMERS) expect(table.get(timer)).toBe(model.get(timer));
        const due = TIMERS.filter((timer) => model.has(timer) && model.get(timer)! <= now);
        expect([...table.expired(now)]).toEqual(due);
        for (const timer of TIMERS) expect(table.isExpired(timer, now)).toBe(due.includes(timer));
      }),
      { numRuns: 300 },
    );
  });
});
