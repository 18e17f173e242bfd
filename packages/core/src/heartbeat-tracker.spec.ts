/**
 * Liveness (PROTOCOL.md §6) with explicit time: pings, RTT, timeouts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HeartbeatTracker } from "./heartbeat-tracker.js";

const options = { intervalMs: 100, timeoutMs: 300 };

describe("HeartbeatTracker", () => {
  it("pings every interval with a fresh id", () => {
    const h = new HeartbeatTracker(options, 1_000);
    expect(h.deadline).toBe(1_100);
    expect(h.poll(1_099)).toBeUndefined();
    expect(h.poll(1_100)).toEqual({ kind: "ping", id: 1 });
    expect(h.poll(1_150)).toBeUndefined();
    h.onInbound(1_150);
    expect(h.poll(1_200)).toEqual({ kind: "ping", id: 2 });
    expect(h.poll(1_300)).toEqual({ kind: "ping", id: 3 });
  });

  it("pings on busy connections too, not only when idle", () => {
    const h = new HeartbeatTracker(options, 0);
    for (let t = 10; t < 100; t += 10) h.onInbound(t);
    expect(h.poll(100)).toEqual({ kind: "ping", id: 1 });
  });

  it("schedules the next ping an interval after a late poll", () => {
    const h = new HeartbeatTracker(options, 0);
    h.onInbound(120);
    expect(h.poll(130)).toEqual({ kind: "ping", id: 1 });
    expect(h.deadline).toBe(230);
  });

  it("measures the round-trip time from the pong that answers the outstanding ping", () => {
    const h = new HeartbeatTracker(options, 0);
    expect(h.rttMs).toBeUndefined();
    h.poll(100);
    expect(h.onPong(1, 142)).toBe(42);
    expect(h.rttMs).toBe(42);
  });

  it("ignores a pong that answers no outstanding ping", () => {
    const h = new HeartbeatTracker(options, 0);
    expect(h.onPong(1, 10)).toBeUndefined(); // nothing sent yet
    h.poll(100);
    expect(h.onPong(0, 110)).toBeUndefined();
    expect(h.onPong(7, 110)).toBeUndefined();
    expect(h.onPong(1, 130)).toBe(30);
    expect(h.onPong(1, 140)).toBeUndefined(); // answered already
    expect(h.rttMs).toBe(30);
  });

  it("keeps timing the oldest unanswered ping and ignores pongs of later ones", () => {
    const h = new HeartbeatTracker(options, 0);
    h.poll(100);
    h.onInbound(150);
    h.poll(200);
    expect(h.onPong(2, 210)).toBeUndefined();
    expect(h.onPong(1, 210)).toBe(110);
  });

  it("times out after timeoutMs of silence, once", () => {
    const h = new HeartbeatTracker(options, 0);
    expect(h.poll(100)?.kind).toBe("ping");
    expect(h.poll(200)?.kind).toBe("ping");
    expect(h.poll(299)?.kind).toBeUndefined();
    expect(h.poll(300)).toEqual({ kind: "timeout", silentMs: 300 });
    expect(h.deadline).toBeUndefined();
    expect(h.poll(10_000)).toBeUndefined();
  });

  it("lets any inbound frame postpone the timeout", () => {
    const h = new HeartbeatTracker(options, 0);
    h.onInbound(250);
    expect(h.poll(300)?.kind).toBe("ping");
    expect(h.poll(549)?.kind).not.toBe("timeout");
    expect(h.poll(550)).toEqual({ kind: "timeout", silentMs: 300 });
  });

  it("reports a timeout rather than a ping when both are due", () => {
    const h = new HeartbeatTracker(options, 0);
    expect(h.poll(1_000)).toEqual({ kind: "timeout", silentMs: 1_000 });
  });

  it("pings every interval, measures RTT from the matching pong, and times out after silence, in one run", () => {
    const h = new HeartbeatTracker(options, 0);
    expect(h.deadline).toBe(100);
    expect(h.poll(50)).toBeUndefined();
    expect(h.poll(100)).toEqual({ kind: "ping", id: 1 });
    expect(h.onPong(99, 110)).toBeUndefined();
    expect(h.onPong(1, 130)).toBe(30);
    h.onInbound(250);
    expect(h.poll(300)).toEqual({ kind: "ping", id: 2 });
    expect(h.poll(549)?.kind).toBe("ping");
    expect(h.poll(550)).toEqual({ kind: "timeout", silentMs: 300 });
    expect(h.deadline).toBeUndefined();
  });

  it("tells its two deadlines apart: the next ping, and when silence becomes a timeout", () => {
    const h = new HeartbeatTracker({ intervalMs: 100, timeoutMs: 150 }, 0);
    expect([h.pingAt, h.timeoutAt]).toEqual([100, 150]);
    h.poll(100);
    expect([h.pingAt, h.timeoutAt]).toEqual([200, 150]);
    h.onInbound(120);
    expect([h.pingAt, h.timeoutAt]).toEqual([200, 270]);
    expect(h.poll(270)?.kind).toBe("timeout");
    expect([h.pingAt, h.timeoutAt]).toEqual([undefined, undefined]);
  });

  it("sets its deadline at the earlier of the next ping and the silence timeout", () => {
    const h = new HeartbeatTracker({ intervalMs: 100, timeoutMs: 150 }, 0);
    expect(h.deadline).toBe(100); // ping first
    h.poll(100);
    expect(h.deadline).toBe(150); // the timeout comes before the ping at 200
    h.onInbound(120);
    expect(h.deadline).toBe(200);
  });

  it.each([
    { intervalMs: 0, timeoutMs: 100 },
    { intervalMs: 100, timeoutMs: 100 },
    { intervalMs: 100, timeoutMs: 50 },
  ])("refuses a timeout that does not exceed a positive interval: %o", (bad) => {
    expect(() => new HeartbeatTracker(bad, 0)).toThrow(RangeError);
  });

  it("has work exactly when its deadline has come (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 400 }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 150 }), inbound: fc.boolean() }), { maxLength: 100 }),
        (intervalMs, extra, steps) => {
          const h = new HeartbeatTracker({ intervalMs, timeoutMs: intervalMs + extra }, 0);
          let now = 0;
          let lastInbound = 0;
          let timedOut = false;
          for (const step of steps) {
            now += step.dt;
            if (step.inbound) {
              h.onInbound(now);
              lastInbound = now;
            }
            const deadline = h.deadline;
            if (timedOut) {
              expect(deadline).toBeUndefined();
              expect(h.poll(now)).toBeUndefined();
              continue;
            }
            expect(deadline).toBeLessThanOrEqual(lastInbound + intervalMs + extra);
            expect(deadline).toBe(Math.min(h.pingAt!, h.timeoutAt!));
            const action = h.poll(now);
            expect(action !== undefined).toBe(now >= deadline!);
            if (action?.kind === "timeout") {
              expect(action.silentMs).toBe(now - lastInbound);
              expect(action.silentMs).toBeGreaterThanOrEqual(intervalMs + extra);
              timedOut = true;
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
  it("rides a ping on the peer's when half an interval has passed since its last, and then waits 1.5 intervals on its own", () => {
    const h = new HeartbeatTracker({ intervalMs: 100, timeoutMs: 10_000 }, 0);
    expect(h.onPeerPing(49)).toBeUndefined();
    expect(h.onPeerPing(50)).toBe(1);
    expect(h.pingAt).toBe(200);
    expect(h.onPeerPing(99)).toBeUndefined();
    expect(h.onPong(1, 60)).toBe(10);
    expect(h.onPeerPing(150)).toBe(2);
    expect(h.poll(250)).toBeUndefined();
    expect(h.poll(300)).toEqual({ kind: "ping", id: 3 });
    expect(h.pingAt).toBe(400);
  });

  it("pings at least every 1.5 intervals, and never twice within half an interval, whenever the peer pings (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 250 }), { maxLength: 60 }), (gaps) => {
        const h = new HeartbeatTracker({ intervalMs: 100, timeoutMs: 100_000 }, 0);
        const sent: number[] = [0];
        let now = 0;
        for (const gap of gaps) {
          // Our own timer fires wherever it is due before the peer's next ping.
          for (let due = h.pingAt!; due <= now + gap; due = h.pingAt!) {
            expect(h.poll(due)).toMatchObject({ kind: "ping" });
            sent.push(due);
          }
          now += gap;
          if (h.onPeerPing(now) !== undefined) sent.push(now);
        }
        for (let i = 1; i < sent.length; i++) expect(sent[i]! - sent[i - 1]!).toBeLessThanOrEqual(150);
        for (let i = 2; i < sent.length; i++) if (sent[i]! - sent[i - 1]! < 50) expect.unreachable(`two pings ${sent[i]! - sent[i - 1]!} ms apart`);
      }),
    );
  });

  it("measures an RTT longer than the ping interval (times the oldest unanswered ping)", () => {
    const tracker = new HeartbeatTracker({ intervalMs: 100, timeoutMs: 10_000 }, 0);
    const first = tracker.poll(100);
    const second = tracker.poll(200);
    expect(first?.kind).toBe("ping");
    expect(second?.kind).toBe("ping");
    if (first?.kind !== "ping" || second?.kind !== "ping") throw new Error("no ping");
    expect(tracker.onPong(first.id, 350)).toBe(250);
    expect(tracker.onPong(second.id, 360)).toBeUndefined();
    const third = tracker.poll(400);
    if (third?.kind !== "ping") throw new Error("no ping");
    expect(tracker.onPong(third.id, 420)).toBe(20);
  });
});
