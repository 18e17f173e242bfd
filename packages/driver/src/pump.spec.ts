import { describe, expect, it } from "vitest";
import type { Clock } from "./clock.js";
import { Pump, type PumpedMachine } from "./pump.js";

/** A clock that only counts what is scheduled on it (nothing fires). */
function countingClock() {
  const timers = new Set<number>();
  let next = 0;
  const clock: Clock = {
    now: () => 0,
    schedule() {
      const id = next++;
      timers.add(id);
      return () => timers.delete(id);
    },
    yield: () => Promise.resolve(),
  };
  return { clock, timers };
}

/** A machine that always has a deadline (a heartbeat) and nothing else. */
const heartbeatOnly: PumpedMachine<never, never> = {
  hasTransmit: false,
  hasEvent: false,
  pollTransmit: () => undefined,
  pollEvent: () => undefined,
  pollTimeout: () => 5_000,
  handleTimeout: () => undefined,
};

describe("Pump", () => {
  it("arms no timer after stop(): a served session that ended holds nothing through its heartbeat timer", async () => {
    const { clock, timers } = countingClock();
    let finished = false;
    const pump = new Pump<never, never>({ machine: heartbeatOnly, clock, onEvent: () => undefined, send: () => undefined, done: () => finished });
    pump.afterInput();
    expect(timers.size).toBe(1);
    finished = true;
    pump.wake();
    await pump.run();
    expect(timers.size).toBe(0);
    // Between runs (a subscription reconnecting) input still arms it.
    pump.afterInput();
    expect(timers.size).toBe(1);
    pump.stop();
    expect(timers.size).toBe(0);
    // A reader winding down after the session ended.
    pump.afterInput();
    expect(timers.size).toBe(0);
  });
});
