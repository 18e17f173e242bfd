import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_CALL_WINDOW_BYTES, grantedResponseWindow, MAX_CALL_WINDOW_BYTES, MAX_WINDOW_BYTES, ReceiveWindow, SendWindow } from "./call-window.js";

describe("ReceiveWindow", () => {
  it("accepts data up to the window and refuses an overrun, leaving the window as it was", () => {
    const window = new ReceiveWindow(1_000);
    expect(window.consume(600)).toBe(true);
    expect(window.available).toBe(400);
    expect(window.consume(401)).toBe(false);
    expect(window.available).toBe(400);
    expect(window.consume(400)).toBe(true);
    expect(window.available).toBe(0);
    expect(window.consume(1)).toBe(false);
  });

  it("gives window back as the application processes, in updates of at least half the window", () => {
    const window = new ReceiveWindow(1_000);
    expect(window.updateThreshold).toBe(500);
    window.consume(1_000);
    expect(window.process(300)).toBe(0);
    expect(window.available).toBe(0); // arrival alone returns nothing
    expect(window.process(199)).toBe(0);
    expect(window.process(1)).toBe(500);
    expect(window.available).toBe(500);
    expect(window.process(500)).toBe(500);
    expect(window.available).toBe(1_000);
  });

  it("a one-byte window updates on every byte", () => {
    const window = new ReceiveWindow(1);
    expect(window.updateThreshold).toBe(1);
    expect(window.consume(1)).toBe(true);
    expect(window.process(1)).toBe(1);
    expect(window.available).toBe(1);
  });

  it("refuses to process bytes that never arrived (a bug of the caller, not the peer)", () => {
    const window = new ReceiveWindow(100);
    window.consume(10);
    expect(() => window.process(11)).toThrow(RangeError);
  });

  it.each([0, -1, 1.5, MAX_WINDOW_BYTES + 1, Number.NaN])("refuses a window of %s bytes", (bytes) => {
    expect(() => new ReceiveWindow(bytes)).toThrow(RangeError);
  });

  it("matches a model over arbitrary sends and reads (property)", () => {
    const op = fc.oneof(fc.record({ send: fc.nat({ max: 3_000 }) }), fc.record({ read: fc.nat({ max: 3_000 }) }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2_500 }), fc.array(op, { maxLength: 200 }), (initial, ops) => {
        const window = new ReceiveWindow(initial);
        let available = initial;
        let unread = 0;
        let unacknowledged = 0;
        for (const o of ops) {
          if ("send" in o) {
            const accepted = window.consume(o.send);
            expect(accepted).toBe(o.send <= available);
            if (accepted) {
              available -= o.send;
              unread += o.send;
            }
          } else {
            const bytes = Math.min(o.read, unread);
            unread -= bytes;
            unacknowledged += bytes;
            const update = window.process(bytes);
            if (unacknowledged >= window.updateThreshold) {
              // Everything processed and not yet returned goes back in one update.
              expect(update).toBe(unacknowledged);
              available += unacknowledged;
              unacknowledged = 0;
            } else expect(update).toBe(0);
          }
          expect(window.available).toBe(available);
          // Nothing is created or lost: the window, what is unread and what is owed add up to the initial window.
          expect(available + unread + unacknowledged).toBe(initial);
        }
        // A reader that processes everything leaves the peer able to send: the window never stays shut.
        window.process(unread);
        expect(window.available).toBeGreaterThan(initial - window.updateThreshold);
      }),
      { numRuns: 300 },
    );
  });
});

describe("SendWindow", () => {
  it("takes what the window allows and 0 when it is shut", () => {
    const window = new SendWindow(100);
    expect(window.take(60)).toBe(60);
    expect(window.take(60)).toBe(40);
    expect(window.take(60)).toBe(0);
    expect(window.available).toBe(0);
  });

  it("opens with window_update, up to 2³¹−1 and not one byte past it", () => {
    const window = new SendWindow(0);
    expect(window.open(MAX_WINDOW_BYTES - 10)).toBe(true);
    expect(window.open(11)).toBe(false);
    expect(window.available).toBe(MAX_WINDOW_BYTES - 10);
    expect(window.open(10)).toBe(true);
    expect(window.available).toBe(MAX_WINDOW_BYTES);
    expect(window.open(0)).toBe(true);
  });

  it("matches a model over arbitrary takes and window updates (property)", () => {
    const op = fc.oneof(fc.record({ take: fc.nat({ max: 2 ** 20 }) }), fc.record({ open: fc.oneof(fc.nat({ max: 2 ** 20 }), fc.nat({ max: 2 ** 32 - 1 })) }));
    fc.assert(
      fc.property(fc.nat({ max: MAX_WINDOW_BYTES }), fc.array(op, { maxLength: 200 }), (initial, ops) => {
        const window = new SendWindow(initial);
        let available = initial;
        for (const o of ops) {
          if ("take" in o) {
            const taken = window.take(o.take);
            expect(taken).toBe(Math.min(o.take, available));
            available -= taken;
          } else {
            const opened = window.open(o.open);
            expect(opened).toBe(available + o.open <= MAX_WINDOW_BYTES);
            if (opened) available += o.open;
          }
          expect(window.available).toBe(available);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("grantedResponseWindow", () => {
  it("is the default for 0, what the start asks within the limit, and the limit above it", () => {
    expect(grantedResponseWindow(0)).toBe(DEFAULT_CALL_WINDOW_BYTES);
    expect(grantedResponseWindow(1)).toBe(1);
    expect(grantedResponseWindow(4 * 1024 * 1024)).toBe(4 * 1024 * 1024);
    expect(grantedResponseWindow(2 ** 32 - 1)).toBe(MAX_CALL_WINDOW_BYTES);
  });
});
