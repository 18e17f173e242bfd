import { pollAll } from "../test/poll-all.js";
/**
 * The sending machine driven by hand: frames in with an
 * explicit `now`, frames, events and deadlines out. No clock, no sockets.
 */
import { describe, expect, it } from "vitest";
import { SluiceError } from "./errors.js";
import type { ClientFrame, Limits, OpenedFrame, OpenFrame, ServerFrame } from "./frames.js";
import { DEFAULT_WINDOW } from "./limits.js";
import { StreamSender, type SenderEvent, type StreamSenderOptions } from "./stream-sender.js";
import { testLimits, openFrame } from "../test/fixtures.js";

const limits = testLimits;
/** Heartbeats far away, for tests about something else. */
const quiet: Limits = { ...limits, heartbeatIntervalMs: 100_000, heartbeatTimeoutMs: 300_000 };

const open = openFrame;
const item = (size: number) => new Uint8Array(size);
const cursor = (n: number) => Uint8Array.of(n);
const NO_CURSOR = new Uint8Array(0);

const drain = (sender: StreamSender): ServerFrame[] => pollAll(() => sender.pollTransmit());
const events = (sender: StreamSender): SenderEvent[] => pollAll(() => sender.pollEvent());

/** A sender past Open and accept(), with Opened and the open event drained. */
function streaming(options: StreamSenderOptions = {}, openFrame: OpenFrame = open()): StreamSender {
  const sender = new StreamSender({ limits, chunk: { flushDelayMs: 5 }, ...options });
  sender.handleFrame(openFrame, 0);
  expect(sender.accept({ sessionId: "s1", sessionSecret: new Uint8Array(16), nextSeq: 1, contentType: "application/json" }, 0)).toBe(true);
  expect(drain(sender)).toMatchObject([{ type: "opened", sessionId: "s1", nextSeq: 1 }]);
  events(sender);
  return sender;
}

describe("StreamSender: opening", () => {
  it("reports a valid Open with the clamped window and waits for accept()", () => {
    const sender = new StreamSender({ limits });
    sender.handleFrame(open({ window: { items: 500, bytes: 100 } }), 0);
    expect(events(sender)).toEqual([{ type: "open", open: open({ window: { items: 500, bytes: 100 } }), window: { items: 100, bytes: 100 } }]);
    expect(sender.state).toBe("accepting");
    expect(sender.demand).toBe(0);
    expect(drain(sender)).toEqual([]);
  });

  it("answers an Open without a stream name with an Error frame naming the field", () => {
    const sender = new StreamSender({ limits });
    sender.handleFrame(open({ stream: "" }), 0);
    expect(drain(sender).at(-1)).toMatchObject({ type: "error", code: "invalid_argument", field: "stream", message: "stream: required" });
  });

  it("answers an invalid Open with an Error frame naming the field, and closes", () => {
    const sender = new StreamSender({ limits });
    sender.handleFrame(open({ window: { items: 0, bytes: 10 } }), 0);
    expect(drain(sender)).toEqual([{ type: "error", code: "invalid_argument", message: "window.items: must be at least 1, got 0", retryable: false, retryAfterMs: 0, field: "window.items" }]);
    expect(sender.state).toBe("closed");
    expect(events(sender)).toMatchObject([{ type: "closed", error: { code: "invalid_argument" } }]);
  });

  it.each<ClientFrame>([
    { type: "credit", maxSeq: 10, maxBytes: 10 },
    { type: "ack", seq: 1 },
    { type: "heartbeat", ping: 1, pong: 0 },
    { type: "cancel", reason: "early" },
  ])("answers a first frame other than Open ($type) with a protocol_violation Error frame", (frame) => {
    const sender = new StreamSender({ limits });
    sender.handleFrame(frame, 0);
    expect(drain(sender)).toMatchObject([{ type: "error", code: "protocol_violation", message: `${frame.type} frame not allowed while the server session is awaiting_open` }]);
    expect(sender.error).toMatchObject({ code: "protocol_violation", blame: "remote" });
    expect(sender.state).toBe("closed");
  });

  it("answers a second Open on a session with a protocol_violation", () => {
    const sender = streaming();
    sender.handleFrame(open(), 1);
    expect(drain(sender).at(-1)).toMatchObject({ type: "error", code: "protocol_violation" });
  });

  it("sends Opened first on accept(), with the session's limits", () => {
    const sender = new StreamSender({ limits });
    sender.handleFrame(open({ heartbeatIntervalMs: 2_000 }), 0);
    sender.accept({ sessionId: "s9", sessionSecret: cursor(7), nextSeq: 42, contentType: "text/plain" }, 0);
    expect(drain(sender)).toEqual([
      { type: "opened", sessionId: "s9", sessionSecret: cursor(7), nextSeq: 42, limits: { ...limits, heartbeatIntervalMs: 2_000, heartbeatTimeoutMs: 6_000 }, contentType: "text/plain", resume: undefined, window: { items: 4, bytes: 1_000 }, signalsHeld: true },
    ]);
    expect(sender.state).toBe("streaming");
    expect(sender.nextSeq).toBe(42);
    expect(sender.demand).toBe(4);
  });

  it("gives an Open without a window the default window, clamped, and announces it", () => {
    const sender = new StreamSender({ limits, defaultWindow: { items: 7, bytes: 10_000_000 } });
    sender.handleFrame(open({ window: undefined }), 0);
    sender.accept({ sessionId: "s1", sessionSecret: cursor(1), nextSeq: 1, contentType: "" }, 0);
    const opened = drain(sender)[0] as OpenedFrame;
    expect(opened.window).toEqual({ items: 7, bytes: limits.maxWindowBytes });
    expect(sender.demand).toBe(7);
    // Without a configured default, DEFAULT_WINDOW (clamped to these limits: 100 items).
    const plain = new StreamSender({ limits });
    plain.handleFrame(open({ window: undefined }), 0);
    plain.accept({ sessionId: "s1", sessionSecret: cursor(1), nextSeq: 1, contentType: "" }, 0);
    expect((drain(plain)[0] as OpenedFrame).window).toEqual({ items: Math.min(DEFAULT_WINDOW.items, limits.maxWindowItems), bytes: Math.min(DEFAULT_WINDOW.bytes, limits.maxWindowBytes) });
  });

  it("applies the stream's limits and default window given at accept(): a smaller max window, its own heartbeat", () => {
    const sender = new StreamSender({ limits });
    sender.handleFrame(open({ window: { items: 50, bytes: 1_000 } }), 0);
    sender.accept({ sessionId: "s1", sessionSecret: cursor(1), nextSeq: 1, contentType: "", limits: { maxWindowItems: 10, heartbeatIntervalMs: 500, heartbeatTimeoutMs: 2_000 } }, 0);
    const opened = drain(sender)[0] as OpenedFrame;
    expect(opened.window).toEqual({ items: 10, bytes: 1_000 });
    expect(opened.limits).toMatchObject({ maxWindowItems: 10, heartbeatIntervalMs: 500, heartbeatTimeoutMs: 2_000, maxFrameBytes: limits.maxFrameBytes });
    expect(sender.demand).toBe(10);
    // The stream's heartbeat runs: a ping is due 500 ms after Opened.
    expect(sender.pollTimeout()).toBe(500);

    const defaulted = new StreamSender({ limits, defaultWindow: { items: 30, bytes: 1_000 } });
    defaulted.handleFrame(open({ window: undefined }), 0);
    defaulted.accept({ sessionId: "s1", sessionSecret: cursor(1), nextSeq: 1, contentType: "", defaultWindow: { items: 3, bytes: 900 } }, 0);
    expect((drain(defaulted)[0] as OpenedFrame).window).toEqual({ items: 3, bytes: 900 });
  });

  it.each([
    { name: "the server's", serverLimits: { ...limits, heartbeatTimeoutMs: 500 }, streamLimits: undefined, field: "limits.heartbeatTimeoutMs" },
    { name: "the stream's", serverLimits: limits, streamLimits: { heartbeatIntervalMs: 4_000 }, field: "limits.heartbeatTimeoutMs" },
    { name: "the stream's", serverLimits: limits, streamLimits: { maxItemBytes: 0 }, field: "limits.maxItemBytes" },
  ])("refuses at accept() $name limits that cannot run a session ($field), as invalid_argument rather than a crash", ({ serverLimits, streamLimits, field }) => {
    const sender = new StreamSender({ limits: serverLimits });
    sender.handleFrame(open(), 0);
    const accept = () => sender.accept({ sessionId: "s1", sessionSecret: new Uint8Array(), nextSeq: 1, contentType: "", ...(streamLimits ? { limits: streamLimits } : {}) }, 0);
    // A SluiceError, which the driver sends as it is (anything else became source_failed, retryable).
    expect(accept).toThrow(SluiceError);
    expect(accept).toThrow(expect.objectContaining({ code: "invalid_argument", field, blame: "local" }));
  });

  it("refuses accept() once the client has cancelled while the source was being resolved", () => {
    const sender = new StreamSender({ limits });
    sender.handleFrame(open(), 0);
    sender.handleFrame({ type: "cancel", reason: "gone" }, 1);
    expect(sender.accept({ sessionId: "s1", sessionSecret: new Uint8Array(), nextSeq: 1, contentType: "" }, 2)).toBe(false);
    expect(events(sender).map((e) => e.type)).toEqual(["open", "cancelled", "closed"]);
  });
});

describe("StreamSender: credit", () => {
  it("asks for no more items than the window's credit, and flushes the chunk when credit runs out", () => {
    const sender = streaming();
    for (let i = 1; i <= 4; i++) {
      expect(sender.demand).toBe(5 - i);
      sender.push(item(10), cursor(i), 0);
    }
    expect(sender.demand).toBe(0);
    expect(drain(sender)).toMatchObject([{ type: "chunk", firstSeq: 1, items: [item(10), item(10), item(10), item(10)], cursor: cursor(4) }]);
    expect(() => sender.push(item(1), NO_CURSOR, 0)).toThrow("push() without demand");
  });

  it("raises demand when credit grows and reports it", () => {
    const sender = streaming();
    for (let i = 1; i <= 4; i++) sender.push(item(10), NO_CURSOR, 0);
    sender.handleFrame({ type: "credit", maxSeq: 6, maxBytes: 1_020 }, 5);
    expect(events(sender)).toEqual([{ type: "credit" }]);
    expect(sender.demand).toBe(2);
  });

  it("ignores a stale or repeated credit", () => {
    const sender = streaming();
    for (let i = 1; i <= 4; i++) sender.push(item(10), NO_CURSOR, 0);
    sender.handleFrame({ type: "credit", maxSeq: 6, maxBytes: 1_020 }, 5);
    events(sender);
    sender.handleFrame({ type: "credit", maxSeq: 6, maxBytes: 1_020 }, 6);
    sender.handleFrame({ type: "credit", maxSeq: 5, maxBytes: 1_010 }, 7);
    expect(events(sender)).toEqual([]);
    expect(sender.demand).toBe(2);
  });

  it("holds an item that does not fit the byte credit until credit lets it out", () => {
    const sender = streaming({}, open({ window: { items: 10, bytes: 100 } }));
    sender.push(item(60), cursor(1), 0);
    sender.push(item(60), cursor(2), 0);
    expect(sender.demand).toBe(0);
    // The receiver hears at once that item 2 waits for byte credit (§4.5 rule 2), ahead of the data.
    expect(drain(sender)).toEqual([
      { type: "heartbeat", ping: 0, pong: 0, heldBytes: 60 },
      expect.objectContaining({ type: "chunk", firstSeq: 1, items: [item(60)] }),
    ]);
    sender.handleFrame({ type: "credit", maxSeq: 11, maxBytes: 160 }, 1);
    sender.handleTimeout(10);
    expect(drain(sender)).toMatchObject([{ type: "chunk", firstSeq: 2, items: [item(60)] }]);
  });

  it("repeats the held signal in each ping while it holds an item, and drops it once the item went", () => {
    const sender = streaming({}, open({ window: { items: 10, bytes: 100 } }));
    sender.push(item(60), cursor(1), 0);
    sender.push(item(60), cursor(2), 0);
    // Credit arrives before the signal went out: the signal is stale and is not sent.
    sender.handleFrame({ type: "credit", maxSeq: 11, maxBytes: 160 }, 1);
    sender.handleTimeout(10);
    expect(drain(sender).map((f) => f.type)).toEqual(["chunk", "chunk"]);
    sender.push(item(60), cursor(3), 20);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 0, pong: 0, sentSeq: 2, heldBytes: 60 }]);
    sender.handleTimeout(sender.limits.heartbeatIntervalMs);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 1, pong: 0, sentSeq: 2, heldBytes: 60 }]);
  });

  it.each([
    { name: "max_seq", credit: { maxSeq: 5, maxBytes: 1_000 }, message: "credit max_seq 5 exceeds sent seq 0 + window 4" },
    { name: "max_bytes", credit: { maxSeq: 4, maxBytes: 1_001 }, message: "credit max_bytes 1001 exceeds sent bytes 0 + window 1000" },
  ])("fails with credit_violation when $name goes beyond what was sent plus the window", ({ credit, message }) => {
    const sender = streaming();
    sender.handleFrame({ type: "credit", ...credit }, 1);
    expect(drain(sender)).toMatchObject([{ type: "error", code: "credit_violation", message, retryable: false }]);
    expect(sender.error?.blame).toBe("remote");
  });

  it("accepts a credit of exactly what was sent plus the window", () => {
    const sender = streaming();
    sender.push(item(10), NO_CURSOR, 0);
    sender.handleFrame({ type: "credit", maxSeq: 5, maxBytes: 1_010 }, 1);
    expect(sender.state).toBe("streaming");
    expect(sender.demand).toBe(4);
  });
});

describe("StreamSender: acks", () => {
  it("releases the replay buffer and reports each new ack", () => {
    const sender = streaming({ replay: { items: 10, bytes: 1_000 } });
    for (let i = 1; i <= 3; i++) sender.push(item(10), cursor(i), 0);
    sender.handleFrame({ type: "ack", seq: 2 }, 1);
    sender.handleFrame({ type: "ack", seq: 1 }, 2); // old: ignored
    expect(events(sender)).toEqual([{ type: "acked", seq: 2 }]);
    expect(sender.ackedSeq).toBe(2);
    expect(sender.replay?.after(2)?.map((e) => e.seq)).toEqual([3]);
  });

  it("fails with protocol_violation on an ack beyond the last sent seq", () => {
    const sender = streaming();
    sender.push(item(10), NO_CURSOR, 0);
    sender.push(item(10), NO_CURSOR, 0);
    sender.handleFrame({ type: "ack", seq: 3 }, 1);
    expect(drain(sender).at(-1)).toMatchObject({ type: "error", code: "protocol_violation", message: "ack 3 is beyond the last sent seq 2" });
  });
});

describe("StreamSender: ending", () => {
  it("sends an overdue chunk through pollTransmit when the next item comes, without waiting for handleTimeout (§5.1)", () => {
    const sender = streaming({ limits: quiet });
    sender.push(item(1), cursor(1), 0);
    sender.push(item(2), cursor(2), 4);
    expect(sender.hasTransmit).toBe(false);
    expect(sender.pollTimeout()).toBe(5); // the flush deadline of the open chunk
    sender.push(item(3), cursor(3), 5); // the driver's timer has not fired yet
    expect(sender.hasTransmit).toBe(true);
    expect(drain(sender)).toEqual([{ type: "chunk", firstSeq: 1, items: [item(1), item(2)], cursor: cursor(2), gap: undefined }]);
    expect(sender.counters.chunksSent).toBe(1);
    expect(sender.pollTimeout()).toBe(10); // item 3's chunk, opened at 5
  });

  it("answers a ping that rode on a pong with its next ping, saying how long it held the pong, and a lone ping at once", () => {
    const sender = streaming();
    sender.handleTimeout(1_000);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 1, pong: 0 }]);
    sender.handleFrame({ type: "heartbeat", ping: 7, pong: 1 }, 1_001.5);
    expect(sender.hasTransmit).toBe(false);
    sender.handleTimeout(2_000);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 2, pong: 7, pongDelayUs: 998_500 }]);
    sender.handleFrame({ type: "heartbeat", ping: 8, pong: 0 }, 2_001);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 0, pong: 8 }]);
    // A second rider before the next ping: the pong held for the first goes at once.
    sender.handleFrame({ type: "heartbeat", ping: 9, pong: 2 }, 2_002);
    sender.handleFrame({ type: "heartbeat", ping: 10, pong: 2 }, 2_010);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 0, pong: 9, pongDelayUs: 8_000 }]);
    sender.handleTimeout(3_000);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 3, pong: 10, pongDelayUs: 990_000 }]);
  });

  it("takes the peer's hold time off the RTT its pong measures", () => {
    const sender = streaming();
    sender.handleTimeout(1_000);
    drain(sender);
    sender.handleFrame({ type: "heartbeat", ping: 0, pong: 1, pongDelayUs: 900_000 }, 1_930);
    expect(sender.rttMs).toBe(30);
  });

  it("tells in each heartbeat how far its items went out (sentSeq), once one has this session", () => {
    const sender = streaming();
    sender.handleTimeout(1_000);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 1, pong: 0 }]);
    sender.handleFrame({ type: "heartbeat", ping: 0, pong: 1 }, 1_001);
    sender.push(item(1), cursor(1), 1_002);
    sender.push(item(2), cursor(2), 1_002);
    sender.handleTimeout(1_007); // the flush deadline
    sender.handleTimeout(2_001); // the next ping
    // Heartbeats go ahead of data: this one left before the chunk, so it cannot count its items.
    const frames = drain(sender);
    expect(frames.map((f) => f.type)).toEqual(["heartbeat", "chunk"]);
    expect(frames[0]).toEqual({ type: "heartbeat", ping: 2, pong: 0 });
    sender.handleFrame({ type: "heartbeat", ping: 0, pong: 2 }, 2_002);
    sender.handleTimeout(3_001);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 3, pong: 0, sentSeq: 2 }]);
  });

  it("sends the open chunk at flush() (the source has nothing ready) before its deadline, and nothing when no chunk is open", () => {
    const sender = streaming({ limits: quiet });
    sender.flush(0);
    expect(sender.hasTransmit).toBe(false);
    sender.push(item(1), cursor(1), 0);
    sender.push(item(2), cursor(2), 1);
    expect(sender.hasTransmit).toBe(false);
    sender.flush(2);
    expect(drain(sender)).toEqual([{ type: "chunk", firstSeq: 1, items: [item(1), item(2)], cursor: cursor(2), gap: undefined }]);
    // No chunk left open: no flush deadline, only the heartbeat's.
    expect(sender.pollTimeout()).toBeGreaterThan(1_000);
  });

  it("sends End after the last item, with the session's totals", () => {
    const sender = streaming();
    sender.push(item(10), cursor(1), 0);
    sender.push(item(5), cursor(2), 0);
    sender.end(NO_CURSOR, 1);
    expect(drain(sender)).toEqual([
      { type: "chunk", firstSeq: 1, items: [item(10), item(5)], cursor: cursor(2), gap: undefined },
      { type: "end", lastSeq: 2, cursor: cursor(2), sessionItems: 2, sessionBytes: 15 },
    ]);
    expect(events(sender)).toEqual([{ type: "closed" }]);
  });

  it("sends End only once credit has let out an item still held back", () => {
    const sender = streaming({}, open({ window: { items: 10, bytes: 100 } }));
    sender.push(item(60), NO_CURSOR, 0);
    sender.push(item(60), NO_CURSOR, 0);
    sender.end(cursor(9), 1);
    expect(drain(sender).map((f) => f.type)).toEqual(["heartbeat", "chunk"]);
    expect(sender.state).toBe("ending");
    sender.handleFrame({ type: "credit", maxSeq: 11, maxBytes: 160 }, 2);
    expect(drain(sender)).toMatchObject([
      { type: "chunk", firstSeq: 2 },
      { type: "end", lastSeq: 2, cursor: cursor(9) },
    ]);
  });

  it("sends the chunks already credited before an Error frame from fail()", () => {
    const sender = streaming();
    sender.push(item(10), NO_CURSOR, 0);
    sender.fail(new SluiceError("source_failed", "database went away"), 1);
    expect(drain(sender)).toMatchObject([
      { type: "chunk", firstSeq: 1 },
      { type: "error", code: "source_failed", retryable: true },
    ]);
    expect(events(sender)).toMatchObject([{ type: "closed", error: { code: "source_failed" } }]);
  });

  it("answers a cancel with End, drops what was not sent, and reports cancelled", () => {
    const sender = streaming();
    sender.push(item(1), cursor(1), 0);
    expect(drain(sender)).toEqual([]); // the chunk is still open
    sender.handleFrame({ type: "cancel", reason: "user left" }, 1);
    // Item 1 was never sent, so End neither counts it nor carries its cursor.
    expect(drain(sender)).toEqual([{ type: "end", lastSeq: 0, cursor: NO_CURSOR, sessionItems: 0, sessionBytes: 0 }]);
    expect(events(sender)).toEqual([{ type: "cancelled", reason: "user left" }, { type: "closed" }]);
    expect(sender.state).toBe("closed");
    expect(sender.pollTimeout()).toBeUndefined();
  });

  it("counts in a cancel's End exactly what was transmitted before it", () => {
    const sender = streaming();
    for (let seq = 1; seq <= 3; seq++) sender.push(item(seq), cursor(seq), 0);
    sender.handleTimeout(100); // flush deadline: items 1-3 go out
    expect(drain(sender)).toMatchObject([{ type: "chunk", firstSeq: 1 }]);
    sender.push(item(4), cursor(4), 101); // assembled, not sent
    sender.handleFrame({ type: "cancel", reason: "done" }, 102);
    expect(drain(sender)).toEqual([{ type: "end", lastSeq: 3, cursor: cursor(3), sessionItems: 3, sessionBytes: 1 + 2 + 3 }]);
  });

  it("ignores frames that arrive after the session closed", () => {
    const sender = streaming();
    sender.handleFrame({ type: "cancel", reason: "bye" }, 1);
    drain(sender);
    events(sender);
    sender.handleFrame({ type: "credit", maxSeq: 1_000, maxBytes: 1 << 30 }, 2);
    sender.handleFrame({ type: "ack", seq: 99 }, 2);
    expect(drain(sender)).toEqual([]);
    expect(events(sender)).toEqual([]);
  });
});

describe("StreamSender: gaps", () => {
  it("puts a gap on the chunk of the next item", () => {
    const sender = streaming();
    sender.push(item(1), NO_CURSOR, 0);
    sender.pushGap(2, "dropped_oldest", 0);
    expect(sender.demand).toBe(1);
    sender.push(item(1), NO_CURSOR, 0);
    expect(drain(sender)).toMatchObject([
      { type: "chunk", firstSeq: 1, gap: undefined },
      { type: "chunk", firstSeq: 4, gap: { fromSeq: 2, count: 2, reason: "dropped_oldest" } },
    ]);
  });

  it("puts a gap on the first fragment of a large next item", () => {
    const sender = streaming({ chunk: { maxBytes: 4 } });
    sender.pushGap(2, "dropped_newest", 0);
    sender.push(item(10), cursor(3), 0);
    expect(drain(sender).map((f) => f.type === "chunk" && [f.firstSeq, f.fragment?.offset, f.gap?.count])).toEqual([
      [3, 0, 2],
      [3, 4, undefined],
      [3, 8, undefined],
    ]);
  });
});

describe("StreamSender: timeouts", () => {
  it("fails with yield_timeout when the source yields nothing for yieldTimeoutMs while there is credit", () => {
    const sender = streaming({ limits: quiet, yieldTimeoutMs: 2_500 });
    expect(sender.pollTimeout()).toBe(2_500);
    sender.push(item(1), NO_CURSOR, 1_000); // the source yielded: the clock restarts
    sender.handleTimeout(1_005); // flush
    drain(sender);
    expect(sender.pollTimeout()).toBe(3_500);
    sender.handleTimeout(3_499);
    expect(sender.state).toBe("streaming");
    sender.handleTimeout(3_500);
    expect(drain(sender)).toMatchObject([{ type: "error", code: "yield_timeout", retryable: true, message: "source yielded nothing for 2500 ms (yield timeout 2500 ms)" }]);
    expect(sender.state).toBe("closed");
  });

  it("does not count time without credit against the source's yield timeout", () => {
    const sender = streaming({ limits: quiet, yieldTimeoutMs: 2_500 });
    for (let i = 0; i < 4; i++) sender.push(item(1), NO_CURSOR, 0);
    expect(sender.pollTimeout()).toBe(100_000); // only the heartbeat is pending
    sender.handleTimeout(5_000);
    expect(sender.state).toBe("streaming");
  });

  it("fails with yield_timeout while heartbeats keep flowing: a pong does not count as the source yielding", () => {
    const sender = streaming({ yieldTimeoutMs: 2_500 });
    expect(sender.pollTimeout()).toBe(1_000); // a ping comes first
    sender.handleTimeout(1_000);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 1, pong: 0 }]);
    sender.handleFrame({ type: "heartbeat", ping: 0, pong: 1 }, 1_100);
    expect(sender.pollTimeout()).toBe(2_000);
    sender.handleTimeout(2_000);
    drain(sender);
    sender.handleTimeout(2_500);
    expect(drain(sender).at(-1)).toMatchObject({ type: "error", code: "yield_timeout", retryable: true });
    expect(sender.state).toBe("closed");
  });

  it("fails with stall_timeout when the client grants no credit for stallTimeoutMs", () => {
    const sender = streaming({ limits: quiet, stallTimeoutMs: 1_500 });
    for (let i = 0; i < 4; i++) sender.push(item(10), NO_CURSOR, 100);
    expect(sender.demand).toBe(0);
    expect(sender.pollTimeout()).toBe(1_600);
    sender.handleTimeout(1_599);
    expect(drain(sender).map((f) => f.type)).toEqual(["chunk"]);
    sender.handleTimeout(1_600);
    expect(drain(sender)).toMatchObject([{ type: "error", code: "stall_timeout", retryable: true, message: "no credit from the client for 1500 ms (stall timeout 1500 ms)" }]);
    expect(sender.counters.creditStalls).toBe(1);
  });

  it("stops the stall clock when credit arrives, and counts the time stalled", () => {
    const sender = streaming({ limits: quiet, stallTimeoutMs: 1_500 });
    for (let i = 0; i < 4; i++) sender.push(item(10), NO_CURSOR, 100);
    sender.handleFrame({ type: "credit", maxSeq: 6, maxBytes: 1_020 }, 1_000);
    expect(sender.pollTimeout()).toBe(100_000);
    sender.handleTimeout(2_000);
    expect(sender.state).toBe("streaming");
    expect(sender.counters.creditStallMs).toBe(900);
  });
});

describe("StreamSender: heartbeats", () => {
  it("pings every interval and reports the RTT from the client's pong", () => {
    const sender = streaming();
    expect(sender.pollTimeout()).toBe(1_000);
    sender.handleTimeout(1_000);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 1, pong: 0 }]);
    sender.handleFrame({ type: "heartbeat", ping: 0, pong: 1 }, 1_040);
    expect(events(sender)).toEqual([{ type: "rtt", rttMs: 40 }]);
    expect(sender.rttMs).toBe(40);
    expect(sender.counters.heartbeatsSent).toBe(1);
    expect(sender.counters.heartbeatsReceived).toBe(1);
  });

  it("answers the client's ping with a pong", () => {
    const sender = streaming();
    sender.handleFrame({ type: "heartbeat", ping: 7, pong: 0 }, 10);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 0, pong: 7 }]);
    expect(events(sender)).toEqual([]);
  });

  it("sends heartbeats ahead of queued chunks", () => {
    const sender = streaming();
    for (let i = 0; i < 4; i++) sender.push(item(10), NO_CURSOR, 0);
    sender.handleFrame({ type: "heartbeat", ping: 9, pong: 0 }, 500);
    sender.handleTimeout(1_000);
    expect(drain(sender).map((f) => f.type === "heartbeat" ? `ping ${f.ping} pong ${f.pong}` : f.type)).toEqual(["ping 0 pong 9", "ping 1 pong 0", "chunk"]);
  });

  it("fails with heartbeat_timeout after heartbeatTimeoutMs without any frame from the client", () => {
    const sender = streaming();
    sender.handleTimeout(1_000);
    sender.handleTimeout(2_000);
    sender.handleTimeout(2_999);
    expect(sender.state).toBe("streaming");
    sender.handleTimeout(3_000);
    expect(drain(sender).at(-1)).toMatchObject({ type: "error", code: "heartbeat_timeout", retryable: true });
  });

  it("says how long the client was silent in whole milliseconds", () => {
    const sender = streaming();
    sender.handleTimeout(3_000.036372000002);
    expect(drain(sender).at(-1)).toMatchObject({ type: "error", message: "client silent for 3000 ms (timeout 3000 ms)" });
  });

  it("lets any client frame postpone the heartbeat timeout", () => {
    const sender = streaming();
    sender.handleFrame({ type: "ack", seq: 0 }, 2_500);
    sender.handleTimeout(3_000);
    sender.handleTimeout(5_499);
    expect(sender.state).toBe("streaming");
    sender.handleTimeout(5_500);
    expect(sender.state).toBe("closed");
  });
});
