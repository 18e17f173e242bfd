import type { Clock } from "@sluice/driver";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtualClock } from "@sluice/testing";

/** One macrotask: lets pending promise chains run without moving time. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
import { Keepalive, keepaliveOptions, PingRateLimit } from "./keepalive.js";

function keepalive(intervalMs = 100, timeoutMs = 300, clock = new VirtualClock(1_000)) {
  const pings: { id: bigint; at: number }[] = [];
  const timeouts: { silentMs: number; at: number }[] = [];
  const alive = new Keepalive(clock, { intervalMs, timeoutMs }, {
    ping: (id) => pings.push({ id, at: clock.now() }),
    timeout: (silentMs) => timeouts.push({ silentMs, at: clock.now() }),
  });
  return { clock, alive, pings, timeouts, start: clock.now() };
}

describe("keepaliveOptions", () => {
  it("defaults to a 15 s interval and a timeout of 3 × the interval; 0 turns keepalive off", () => {
    expect(keepaliveOptions()).toEqual({ intervalMs: 15_000, timeoutMs: 45_000 });
    expect(keepaliveOptions(100)).toEqual({ intervalMs: 100, timeoutMs: 300 });
    expect(keepaliveOptions(100, 400)).toEqual({ intervalMs: 100, timeoutMs: 400 });
    expect(keepaliveOptions(100, 0)).toEqual({ intervalMs: 100, timeoutMs: 300 });
    expect(keepaliveOptions(0)).toBeUndefined();
    expect(keepaliveOptions(0, 400)).toBeUndefined();
  });
});

describe("Keepalive", () => {
  it("pings once the peer has been silent for the interval, not before", async () => {
    const { clock, pings, start } = keepalive(100, 300);
    await clock.advance(99);
    expect(pings).toEqual([]);
    await clock.advance(1);
    expect(pings).toEqual([{ id: 1n, at: start + 100 }]);
    await clock.advance(100);
    expect(pings).toEqual([
      { id: 1n, at: start + 100 },
      { id: 2n, at: start + 200 },
    ]);
  });

  it("declares a silent peer dead after the timeout, once, and stops pinging", async () => {
    const { clock, pings, timeouts, start } = keepalive(100, 300);
    await clock.advance(299);
    expect(timeouts).toEqual([]);
    await clock.advance(1);
    expect(timeouts).toEqual([{ silentMs: 300, at: start + 300 }]);
    const pingsAtTimeout = pings.length;
    await clock.advance(1_000);
    expect(timeouts).toHaveLength(1);
    expect(pings).toHaveLength(pingsAtTimeout);
    expect(clock.pending).toBe(0);
  });

  it("a pong (any frame) resets the silence: the timeout counts from it", async () => {
    const { clock, alive, timeouts, start } = keepalive(100, 300);
    await clock.advance(250);
    alive.inbound(); // the pong to the pings above
    await clock.advance(100); // past the first deadline (start + 300)
    expect(timeouts).toEqual([]);
    await clock.advance(199);
    expect(timeouts).toEqual([]);
    await clock.advance(1);
    expect(timeouts).toEqual([{ silentMs: 300, at: start + 550 }]);
  });

  it("sends no ping to a peer heard within the interval, and never times it out", async () => {
    const { clock, alive, pings, timeouts } = keepalive(100, 300);
    for (let i = 0; i < 40; i++) {
      await clock.advance(50);
      alive.inbound();
    }
    expect(pings).toEqual([]);
    expect(timeouts).toEqual([]);
  });

  it("pings a peer that went quiet within two intervals of its silence starting", async () => {
    const { clock, alive, pings } = keepalive(100, 300);
    await clock.advance(130);
    alive.inbound(); // silence starts at start + 130
    const silentFrom = clock.now();
    await clock.advance(200);
    const first = pings.find((ping) => ping.at > silentFrom);
    expect(first).toBeDefined();
    expect(first!.at - silentFrom).toBeGreaterThanOrEqual(100);
    expect(first!.at - silentFrom).toBeLessThan(200);
  });

  it("decides after the runtime has read what waits: a frame read while the timer fired saves the peer", async () => {
    const base = new VirtualClock(1_000);
    let onYield: (() => void) | undefined;
    const clock: Clock = {
      now: () => base.now(),
      schedule: (at, fn) => base.schedule(at, fn),
      yield: async () => {
        onYield?.();
        await settle();
      },
    };
    const timeouts: number[] = [];
    const alive = new Keepalive(clock, { intervalMs: 100, timeoutMs: 300 }, { ping: () => undefined, timeout: (silentMs) => timeouts.push(silentMs) });
    await base.advance(280);
    // The timer for start + 300 fires; the peer's frame is read before the decision.
    onYield = () => alive.inbound();
    await base.advance(20);
    onYield = undefined;
    expect(timeouts).toEqual([]);
    await base.advance(300);
    expect(timeouts).toEqual([300]);
  });

  it("refuses a timeout at or below the interval, which would cut off every healthy peer", () => {
    expect(() => keepaliveOptions(1_000, 400)).toThrow(/^keepaliveTimeoutMs: heartbeat timeout 400 ms must exceed a positive interval 1000 ms$/);
    expect(() => keepaliveOptions(1_000, 1_000)).toThrow(RangeError);
    expect(keepaliveOptions(1_000, 1_001)).toEqual({ intervalMs: 1_000, timeoutMs: 1_001 });
  });

  it("does nothing after stop()", async () => {
    const { clock, alive, pings, timeouts } = keepalive(100, 300);
    alive.stop();
    await clock.advance(1_000);
    expect(pings).toEqual([]);
    expect(timeouts).toEqual([]);
    expect(clock.pending).toBe(0);
  });
});

describe("PingRateLimit", () => {
  it("lets a burst of two seconds' worth through, then refuses", () => {
    const limit = new PingRateLimit(20, 0);
    for (let i = 0; i < 40; i++) expect(limit.admit(0)).toBe(true);
    expect(limit.admit(0)).toBe(false);
  });

  it("saves no more than the burst however long the peer was quiet", () => {
    const limit = new PingRateLimit(20, 0);
    for (let i = 0; i < 40; i++) expect(limit.admit(60_000)).toBe(true);
    expect(limit.admit(60_000)).toBe(false);
  });

  it("refills at the rate", () => {
    const limit = new PingRateLimit(20, 0);
    for (let i = 0; i < 40; i++) limit.admit(0);
    expect(limit.admit(49)).toBe(false); // 0.98 of a token back, and the refusal spent it
    expect(limit.admit(150)).toBe(true); // 2 tokens back since
  });

  it("never admits more than the burst plus the rate over the time elapsed, and always admits pings at the rate (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.nat({ max: 500 }), { maxLength: 300 }), (rate, gaps) => {
        const limit = new PingRateLimit(rate, 0);
        let now = 0;
        let admitted = 0;
        for (const gap of gaps) {
          now += gap;
          if (limit.admit(now)) admitted++;
          expect(admitted).toBeLessThanOrEqual(2 * rate + (now / 1000) * rate + 1e-9);
        }
        const steady = new PingRateLimit(rate, 0);
        for (let i = 1; i <= 100; i++) expect(steady.admit((i * 1000) / rate)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
