/**
 * The rules a window, a heartbeat, an item and a server's limits must
 * satisfy, and the Open validation every server runs (PROTOCOL.md §4.1, §6,
 * §10), each checked alone.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SluiceError } from "./errors.js";
import {
  acceptOpen,
  checkItemSize,
  checkLimits,
  checkWindow,
  DEFAULT_LIMITS,
  heartbeatProblem,
  itemSizeProblem,
  limitsProblem,
  MAX_HEARTBEAT_INTERVAL_MS,
  MAX_STREAM_NAME_LENGTH,
  MIN_HEARTBEAT_INTERVAL_MS,
  windowProblem,
} from "./limits.js";
import { testLimits, openFrame, thrown } from "../test/fixtures.js";

const limits = testLimits;

const open = openFrame;
const cursor = (n: number) => Uint8Array.of(n);


describe("acceptOpen", () => {
  it.each([
    { field: "stream", open: open({ stream: "" }), message: "stream: required" },
    { field: "stream", open: open({ stream: "x".repeat(MAX_STREAM_NAME_LENGTH + 1) }), message: `stream: longer than ${MAX_STREAM_NAME_LENGTH} characters` },
    { field: "window.items", open: open({ window: { items: 0, bytes: 10 } }), message: "window.items: must be at least 1, got 0" },
    { field: "window.items", open: open({ window: { items: Number.NaN, bytes: 10 } }), message: "window.items: must be at least 1, got NaN" },
    { field: "window.bytes", open: open({ window: { items: 1, bytes: 0 } }), message: "window.bytes: must be at least 1, got 0" },
    {
      field: "resume.cursor_seq",
      open: open({ resume: { seq: 5, cursor: cursor(1), cursorSeq: 6, sessionId: "" } }),
      message: "resume.cursor_seq: 6 is after resume.seq 5",
    },
  ])("rejects an invalid $field as invalid_argument naming the field: $message", ({ field, open: frame, message }) => {
    let error: unknown;
    try {
      acceptOpen(frame, limits);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ code: "invalid_argument", field, message, blame: "remote" });
  });

  it("blames the server, not the client, for a default window that is no window", () => {
    expect(thrown(() => acceptOpen(open({ window: undefined }), limits, { items: 0, bytes: 10 }))).toMatchObject({ code: "invalid_argument", field: "defaultWindow.items", blame: "local" });
    // A client's window of its own is still checked as the client's.
    expect(acceptOpen(open({ window: { items: 2, bytes: 10 } }), limits, { items: 0, bytes: 10 }).window).toEqual({ items: 2, bytes: 10 });
  });

  it("clamps a window larger than the server allows instead of rejecting it", () => {
    const accepted = acceptOpen(open({ window: { items: 1_000, bytes: 1 << 30 } }), limits);
    expect(accepted.window).toEqual({ items: 100, bytes: 1 << 20 });
  });

  it("keeps the server's heartbeats unless the client asks, and then keeps the server's timeout ratio within bounds", () => {
    expect(acceptOpen(open(), limits).limits).toEqual(limits);
    expect(acceptOpen(open({ heartbeatIntervalMs: 2_000 }), limits).limits).toMatchObject({ heartbeatIntervalMs: 2_000, heartbeatTimeoutMs: 6_000 });
    expect(acceptOpen(open({ heartbeatIntervalMs: 1 }), limits).limits).toMatchObject({ heartbeatIntervalMs: MIN_HEARTBEAT_INTERVAL_MS, heartbeatTimeoutMs: 3 * MIN_HEARTBEAT_INTERVAL_MS });
    expect(acceptOpen(open({ heartbeatIntervalMs: 1e12 }), limits).limits).toMatchObject({ heartbeatIntervalMs: MAX_HEARTBEAT_INTERVAL_MS });
  });
});

describe("item size", () => {
  it("allows an item of exactly the max item size, and refuses one byte more as limit_exceeded", () => {
    expect(itemSizeProblem(100, 100)).toBeUndefined();
    expect(() => checkItemSize(3, 100, 100)).not.toThrow();
    expect(itemSizeProblem(101, 100)).toBe("101 bytes, over the max item size 100");
    expect(thrown(() => checkItemSize(3, 101, 100))).toMatchObject({ code: "limit_exceeded", message: "item 3 is 101 bytes, over the max item size 100", blame: "local", retryable: false });
  });

  it("blames the peer when told to (a received item)", () => {
    expect(thrown(() => checkItemSize(1, 2 ** 40, 100, "remote"))).toMatchObject({ code: "limit_exceeded", blame: "remote" });
  });
});

describe("window", () => {
  it.each([
    { window: { items: 0, bytes: 10 }, field: "items", reason: "must be at least 1, got 0" },
    { window: { items: 1, bytes: 0 }, field: "bytes", reason: "must be at least 1, got 0" },
    { window: { items: -1, bytes: -1 }, field: "items", reason: "must be at least 1, got -1" },
    { window: { items: Number.NaN, bytes: 10 }, field: "items", reason: "must be at least 1, got NaN" },
    { window: { items: 10, bytes: Number.NaN }, field: "bytes", reason: "must be at least 1, got NaN" },
  ])("refuses $window: $field $reason", ({ window, field, reason }) => {
    expect(windowProblem(window)).toEqual({ field, reason });
    expect(thrown(() => checkWindow(window))).toMatchObject({ code: "invalid_argument", field: `window.${field}`, message: `window.${field}: ${reason}`, blame: "local" });
    expect(thrown(() => checkWindow(window, "open.window", "remote"))).toMatchObject({ field: `open.window.${field}`, blame: "remote" });
  });

  it("accepts any window of at least 1 item and 1 byte (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1 }), fc.integer({ min: 1 }), (items, bytes) => {
        expect(windowProblem({ items, bytes })).toBeUndefined();
        checkWindow({ items, bytes });
      }),
    );
  });
});

describe("heartbeat", () => {
  it.each([
    [0, 100],
    [-5, 100],
    [100, 100],
    [100, 50],
    [Number.NaN, 100],
    [100, Number.NaN],
  ])("refuses an interval of %s ms with a timeout of %s ms", (intervalMs, timeoutMs) => {
    expect(heartbeatProblem(intervalMs, timeoutMs)).toBe(`heartbeat timeout ${timeoutMs} ms must exceed a positive interval ${intervalMs} ms`);
  });

  it("accepts a positive interval with any longer timeout (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e9 }), fc.integer({ min: 1, max: 1e9 }), (intervalMs, extra) => {
        expect(heartbeatProblem(intervalMs, intervalMs + extra)).toBeUndefined();
      }),
    );
  });
});

describe("limits", () => {
  it("accepts the defaults", () => {
    expect(limitsProblem(DEFAULT_LIMITS)).toBeUndefined();
    checkLimits(DEFAULT_LIMITS);
  });

  it.each([
    { change: { maxFrameBytes: 0 }, field: "maxFrameBytes", reason: "must be at least 1, got 0" },
    { change: { maxItemBytes: -1 }, field: "maxItemBytes", reason: "must be at least 1, got -1" },
    { change: { maxWindowItems: 0 }, field: "maxWindowItems", reason: "must be at least 1, got 0" },
    { change: { maxWindowBytes: Number.NaN }, field: "maxWindowBytes", reason: "must be at least 1, got NaN" },
    { change: { heartbeatIntervalMs: 0 }, field: "heartbeatIntervalMs", reason: "heartbeat timeout 3000 ms must exceed a positive interval 0 ms" },
    // A server-wide timeout below the interval used to surface per session as source_failed.
    { change: { heartbeatTimeoutMs: 1_000 }, field: "heartbeatTimeoutMs", reason: "heartbeat timeout 1000 ms must exceed a positive interval 1000 ms" },
  ])("refuses $change as invalid_argument naming $field", ({ change, field, reason }) => {
    expect(limitsProblem({ ...limits, ...change })).toEqual({ field, reason });
    expect(thrown(() => checkLimits({ ...limits, ...change }))).toMatchObject({ code: "invalid_argument", field: `limits.${field}`, message: `limits.${field}: ${reason}`, blame: "local" });
    expect(thrown(() => checkLimits({ ...limits, ...change }, "streams.books.limits")).field).toBe(`streams.books.limits.${field}`);
  });
});

