/**
 * StreamSender and StreamReceiver driven by hand, with explicit time.
 */
import { describe, expect, it } from "vitest";
import { SluiceError, StreamReceiver, StreamSender, type ClientFrame, type ServerFrame } from "../src/index.js";

const open: ClientFrame = { type: "open", stream: "s", params: {}, window: { items: 4, bytes: 1_000 }, heartbeatIntervalMs: 0, clientInfo: "t" };
const limits = { maxFrameBytes: 1 << 20, maxItemBytes: 1 << 16, maxWindowItems: 100, maxWindowBytes: 1 << 20, heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 3_000 };

function started(options: ConstructorParameters<typeof StreamSender>[0] = {}) {
  const sender = new StreamSender({ limits, ...options });
  sender.handleFrame(open, 0);
  expect(sender.pollEvent()).toMatchObject({ type: "open" });
  sender.accept({ sessionId: "s1", sessionSecret: new Uint8Array(), nextSeq: 1, contentType: "x" }, 0);
  return sender;
}

function drain(sender: StreamSender): ServerFrame[] {
  const out: ServerFrame[] = [];
  for (let f = sender.pollTransmit(); f; f = sender.pollTransmit()) out.push(f);
  return out;
}

describe("StreamSender", () => {
  it("validates Open and names the offending field", () => {
    const sender = new StreamSender({ limits });
    sender.handleFrame({ ...open, stream: "" }, 0);
    expect(drain(sender).at(-1)).toMatchObject({ type: "error", code: "invalid_argument", field: "stream", message: "stream: required" });
  });

  it("fails with yield_timeout when the source is silent while the client has credit, with heartbeats still flowing", () => {
    const sender = started({ yieldTimeoutMs: 2_500 });
    drain(sender);
    expect(sender.pollTimeout()).toBe(1_000); // a ping comes first
    sender.handleTimeout(1_000);
    expect(drain(sender)).toEqual([{ type: "heartbeat", ping: 1, pong: 0 }]);
    sender.handleFrame({ type: "heartbeat", ping: 0, pong: 1 }, 1_100);
    sender.handleTimeout(2_500);
    expect(drain(sender).at(-1)).toMatchObject({ type: "error", code: "yield_timeout", retryable: true });
    expect(sender.state).toBe("closed");
  });

  it("fails with stall_timeout when the client grants no credit for too long", () => {
    const sender = started({ stallTimeoutMs: 1_500, limits: { ...limits, heartbeatIntervalMs: 10_000, heartbeatTimeoutMs: 30_000 } });
    for (let i = 0; i < 4; i++) sender.push(new Uint8Array(10), new Uint8Array(), 100);
    expect(sender.demand).toBe(0);
    expect(sender.pollTimeout()).toBe(1_600);
    sender.handleTimeout(1_600);
    expect(drain(sender).at(-1)).toMatchObject({ type: "error", code: "stall_timeout" });
    expect(sender.counters.creditStalls).toBe(1);
  });

  it("sends heartbeats ahead of queued chunks", () => {
    const sender = started();
    drain(sender);
    for (let i = 0; i < 4; i++) sender.push(new Uint8Array(10), new Uint8Array(), 0);
    sender.handleFrame({ type: "heartbeat", ping: 9, pong: 0 }, 1);
    expect(sender.pollTransmit()).toEqual({ type: "heartbeat", ping: 0, pong: 9 });
    expect(sender.pollTransmit()).toMatchObject({ type: "chunk", firstSeq: 1 });
  });

  it("stops on cancel: drops what is not sent, answers End, reports the cancel", () => {
    const sender = started();
    drain(sender);
    sender.push(new Uint8Array(1), new Uint8Array(), 0);
    sender.handleFrame({ type: "cancel", reason: "bye" }, 1);
    expect(drain(sender)).toEqual([{ type: "end", lastSeq: 0, cursor: new Uint8Array(), sessionItems: 0, sessionBytes: 0 }]);
    const events = [];
    for (let e = sender.pollEvent(); e; e = sender.pollEvent()) events.push(e.type);
    expect(events).toContain("cancelled");
  });

  it("times out a silent client", () => {
    const sender = started();
    sender.handleTimeout(3_000);
    expect(drain(sender).at(-1)).toMatchObject({ type: "error", code: "heartbeat_timeout" });
  });
});

describe("StreamReceiver", () => {
  function opened(window = { items: 4, bytes: 1_000 }) {
    const r = new StreamReceiver({ stream: "s", window, ackEveryItems: 2 });
    r.connect(0);
    expect(r.pollTransmit()).toMatchObject({ type: "open", stream: "s" });
    r.handleFrame({ type: "opened", sessionId: "a", sessionSecret: new Uint8Array(), nextSeq: 1, limits, contentType: "x" }, 0);
    return r;
  }
  const chunk = (firstSeq: number, n: number): ServerFrame => ({ type: "chunk", firstSeq, items: Array.from({ length: n }, () => new Uint8Array(1)), cursor: new Uint8Array() });

  it("grants credit as the app reads and coalesces acks", () => {
    const r = opened();
    r.handleFrame(chunk(1, 4), 1);
    expect(r.pollTransmit()).toBeUndefined(); // nothing read yet
    r.read(2);
    r.ack(1, 2);
    r.read(2);
    expect(r.pollTransmit()).toEqual({ type: "credit", maxSeq: 6, maxBytes: 1_002 });
    expect(r.pollTransmit()).toEqual({ type: "ack", seq: 1 }); // a pending ack rides along with the credit
    r.ack(2, 3);
    expect(r.pollTransmit()).toBeUndefined(); // below ackEveryItems: wait for more or for the delay
    expect(r.pollTimeout()).toBe(53);
    r.handleTimeout(53);
    expect(r.pollTransmit()).toEqual({ type: "ack", seq: 2 });
  });

  it("loses the session (retryable) when a chunk skips seqs, and resumes after the last ack", () => {
    const r = opened();
    r.handleFrame(chunk(1, 2), 1);
    r.read(1);
    r.ack(1, 1);
    r.handleFrame(chunk(4, 1), 2);
    const lost = [];
    for (let e = r.pollEvent(); e; e = r.pollEvent()) if (e.type === "session_lost") lost.push(e.error.code);
    expect(lost).toEqual(["protocol_violation"]);
    expect(r.state).toBe("idle");
    r.connect(3);
    expect(r.pollTransmit()).toMatchObject({ type: "open", resume: { seq: 1 } });
  });

  it("delivers buffered items before a terminal error", () => {
    const r = opened();
    r.handleFrame(chunk(1, 2), 1);
    r.handleFrame({ type: "error", code: "permission_denied", message: "no", retryable: false, retryAfterMs: 0, field: "" }, 2);
    expect(r.read(3)?.kind).toBe("item");
    expect(r.read(3)?.kind).toBe("item");
    expect(r.read(3)).toMatchObject({ kind: "error", error: { code: "permission_denied" } });
  });
});

describe("StreamReceiver hardening", () => {
  it("rejects an Opened whose heartbeat timeout does not exceed the interval, as a protocol violation", () => {
    const r = new StreamReceiver({ stream: "s", window: { items: 4, bytes: 100 } });
    r.connect(0);
    r.handleFrame({ type: "opened", sessionId: "a", sessionSecret: new Uint8Array(), nextSeq: 1, limits: { ...limits, heartbeatTimeoutMs: 500, heartbeatIntervalMs: 1_000 }, contentType: "x" }, 0);
    expect(r.read(0)).toMatchObject({ kind: "error", error: { code: "protocol_violation", field: "opened.limits" } });
  });

  it("rejects a whole item over the max item size", () => {
    const r = new StreamReceiver({ stream: "s", window: { items: 4, bytes: 1 << 20 }, maxItemBytes: 10 });
    r.connect(0);
    r.handleFrame({ type: "opened", sessionId: "a", sessionSecret: new Uint8Array(), nextSeq: 1, limits, contentType: "x" }, 0);
    r.handleFrame({ type: "chunk", firstSeq: 1, items: [new Uint8Array(11)], cursor: new Uint8Array() }, 1);
    expect(r.read(1)).toMatchObject({ kind: "error", error: { code: "limit_exceeded" } });
  });

  it("rejects a resume gap that would skip seqs after the ack", () => {
    const r = new StreamReceiver({ stream: "s", window: { items: 8, bytes: 1 << 20 } });
    r.connect(0);
    r.handleFrame({ type: "opened", sessionId: "a", sessionSecret: new Uint8Array(), nextSeq: 1, limits, contentType: "x" }, 0);
    r.handleFrame({ type: "chunk", firstSeq: 1, items: [new Uint8Array(1), new Uint8Array(1)], cursor: new Uint8Array() }, 1);
    r.read(1);
    r.ack(1, 1);
    r.connectionLost(new SluiceError("unavailable", "gone"), 2);
    r.connect(3);
    r.handleFrame({ type: "opened", sessionId: "b", sessionSecret: new Uint8Array(), nextSeq: 9, limits, contentType: "x", resume: { requestedSeq: 1, nextSeq: 9, replayed: 0, gap: { fromSeq: 5, count: 4, reason: "history_expired" } } }, 4);
    expect(r.read(4)).toMatchObject({ kind: "error", error: { code: "protocol_violation", message: expect.stringMatching(/resume gap starts at seq 5, after ack 1/) } });
  });
});
