import { pollAll } from "../test/poll-all.js";
/**
 * The receiving machine driven by hand: server frames in with
 * an explicit `now`; deliveries, client frames, events and deadlines out.
 */
import { describe, expect, it } from "vitest";
import type { ChunkFrame, ClientFrame, ErrorFrame, Gap, OpenedFrame, ServerFrame } from "./frames.js";
import { SluiceError } from "./errors.js";
import { StreamReceiver, type Delivery, type ReceiverEvent, type StreamReceiverOptions } from "./stream-receiver.js";
import { testLimits } from "../test/fixtures.js";

const limits = testLimits;
const NO_CURSOR = new Uint8Array(0);
/** Item `seq`'s payload: one byte that names it. */
const data = (seq: number) => Uint8Array.of(seq);

const chunk = (firstSeq: number, count: number, extra: Partial<ChunkFrame> = {}): ChunkFrame => ({
  type: "chunk",
  firstSeq,
  items: Array.from({ length: count }, (_, i) => data(firstSeq + i)),
  cursor: NO_CURSOR,
  ...extra,
});
const errorFrame = (code: ErrorFrame["code"], retryable: boolean, retryAfterMs = 0): ErrorFrame => ({ type: "error", code, message: `${code} from the server`, retryable, retryAfterMs, field: "" });

const drain = (r: StreamReceiver): ClientFrame[] => pollAll(() => r.pollTransmit());
const events = (r: StreamReceiver): ReceiverEvent[] => pollAll(() => r.pollEvent());

function readAll(r: StreamReceiver, now: number): Delivery[] {
  return pollAll(() => r.read(now));
}

/** What the app saw, compactly: item seqs, gaps as "gap a+n", end, error codes. */
function seen(deliveries: Delivery[]): string[] {
  return deliveries.map((d) => {
    switch (d.kind) {
      case "item":
        return `item ${d.seq}`;
      case "gap":
        return `gap ${d.gap.fromSeq}+${d.gap.count}`;
      case "end":
        return "end";
      case "error":
        return `error ${d.error.code}`;
    }
  });
}

/** A receiver with a streaming session (window 4 items / 1000 bytes) opened at t=0. */
function streaming(options: Partial<StreamReceiverOptions> = {}): StreamReceiver {
  const r = new StreamReceiver({ stream: "books", window: { items: 4, bytes: 1_000 }, ackEveryItems: 2, ...options });
  r.connect(0);
  drain(r);
  r.handleFrame({ type: "opened", sessionId: "s1", sessionSecret: new Uint8Array(16), nextSeq: 1, limits, contentType: "application/json" }, 0);
  expect(events(r)).toMatchObject([{ type: "opened" }]);
  return r;
}

describe("StreamReceiver: opening", () => {
  it("sends Open on connect, without a resume position the first time", () => {
    const r = new StreamReceiver({ stream: "books", params: { shelf: 3 }, window: { items: 4, bytes: 1_000 }, heartbeatIntervalMs: 2_000, clientInfo: "spec" });
    r.connect(0);
    expect(drain(r)).toEqual([{ type: "open", stream: "books", params: { shelf: 3 }, window: { items: 4, bytes: 1_000 }, heartbeatIntervalMs: 2_000, resume: undefined, clientInfo: "spec" }]);
    expect(r.state).toBe("opening");
  });

  it("starts after a position of the app's (startAfter): the first Open resumes there, and a server that skips ahead without a gap is refused", () => {
    const r = new StreamReceiver({ stream: "books", window: { items: 4, bytes: 1_000 }, startAfter: { seq: 41, cursor: Uint8Array.of(9), cursorSeq: 40 } });
    r.connect(0);
    expect(drain(r)).toMatchObject([{ type: "open", resume: { seq: 41, cursor: Uint8Array.of(9), cursorSeq: 40, sessionId: "" } }]);
    r.handleFrame({ type: "opened", sessionId: "s1", sessionSecret: new Uint8Array(16), nextSeq: 42, limits, contentType: "", window: { items: 4, bytes: 1_000 }, resume: { requestedSeq: 41, nextSeq: 42, replayed: 1 } }, 0);
    r.handleFrame(chunk(42, 2), 1);
    expect(seen(readAll(r, 2))).toEqual(["item 42", "item 43"]);
    const skipped = new StreamReceiver({ stream: "books", window: { items: 4, bytes: 1_000 }, startAfter: { seq: 41 } });
    skipped.connect(0);
    drain(skipped);
    skipped.handleFrame({ type: "opened", sessionId: "s1", sessionSecret: new Uint8Array(16), nextSeq: 60, limits, contentType: "", window: { items: 4, bytes: 1_000 } }, 0);
    expect(seen(readAll(skipped, 1))).toEqual(["error protocol_violation"]);
    expect(() => new StreamReceiver({ stream: "books", startAfter: { seq: -1 } })).toThrow(/startAfter\.seq must be a non-negative safe integer, got -1/);
  });

  it("asks for the stream's default window when given none, and takes Opened.window", () => {
    const r = new StreamReceiver({ stream: "books" });
    r.connect(0);
    expect(drain(r)).toMatchObject([{ type: "open", window: undefined }]);
    r.handleFrame({ type: "opened", sessionId: "s1", sessionSecret: new Uint8Array(16), nextSeq: 1, limits, contentType: "", window: { items: 3, bytes: 500 } }, 0);
    expect(events(r)).toMatchObject([{ type: "opened" }]);
    expect(r.window).toEqual({ items: 3, bytes: 500 });
    r.handleFrame(chunk(1, 3), 1);
    expect(seen(readAll(r, 2))).toEqual(["item 1", "item 2", "item 3"]);
  });

  it("uses a smaller Opened.window than it asked for, and refuses a larger one", () => {
    const smaller = new StreamReceiver({ stream: "books", window: { items: 4, bytes: 1_000 } });
    smaller.connect(0);
    smaller.handleFrame({ type: "opened", sessionId: "s1", sessionSecret: new Uint8Array(16), nextSeq: 1, limits, contentType: "", window: { items: 2, bytes: 1_000 } }, 0);
    expect(smaller.window).toEqual({ items: 2, bytes: 1_000 });

    const larger = new StreamReceiver({ stream: "books", window: { items: 4, bytes: 1_000 } });
    larger.connect(0);
    larger.handleFrame({ type: "opened", sessionId: "s1", sessionSecret: new Uint8Array(16), nextSeq: 1, limits, contentType: "", window: { items: 5, bytes: 1_000 } }, 0);
    events(larger);
    expect(readAll(larger, 1)).toMatchObject([{ kind: "error", error: { code: "protocol_violation", message: expect.stringMatching(/exceeds the requested 4/) } }]);
  });

  it("loses the session (retryable) when data arrives before Opened", () => {
    const r = new StreamReceiver({ stream: "books", window: { items: 4, bytes: 1_000 } });
    r.connect(0);
    r.handleFrame(chunk(1, 1), 1);
    expect(events(r)).toMatchObject([{ type: "session_lost", error: { code: "protocol_violation", retryable: true, blame: "remote" } }]);
    expect(r.state).toBe("idle");
  });

  it("ends with a terminal error when the server refuses the Open", () => {
    const r = new StreamReceiver({ stream: "books", window: { items: 4, bytes: 1_000 } });
    r.connect(0);
    r.handleFrame(errorFrame("stream_not_found", false), 1);
    expect(events(r)).toEqual([{ type: "finished", error: expect.objectContaining({ code: "stream_not_found" }) }]);
    expect(seen(readAll(r, 2))).toEqual(["error stream_not_found"]);
    expect(() => r.connect(3)).toThrow(/after the stream finished/);
  });

  it("does not ping before Opened, and loses the session when Opened never comes", () => {
    const r = new StreamReceiver({ stream: "books", window: { items: 4, bytes: 1_000 }, heartbeat: { intervalMs: 100, timeoutMs: 300 } });
    r.connect(0);
    drain(r);
    r.handleTimeout(100);
    expect(drain(r)).toEqual([]);
    expect(r.pollTimeout()).toBe(200);
    r.handleTimeout(300);
    expect(events(r)).toMatchObject([{ type: "session_lost", error: { code: "heartbeat_timeout", retryable: true } }]);
  });
});

describe("StreamReceiver: data", () => {
  it("delivers items in order and grants credit as the app reads them", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 4), 1);
    expect(drain(r)).toEqual([]); // nothing read yet: no credit
    expect(r.bufferedBytes).toBe(4);
    const sent: ClientFrame[][] = [];
    for (let seq = 1; seq <= 4; seq++) {
      expect(r.read(2)).toEqual({ kind: "item", seq, data: data(seq) });
      sent.push(drain(r));
    }
    // A grant at half the window, and one once everything is read.
    expect(sent).toEqual([[], [{ type: "credit", maxSeq: 6, maxBytes: 1_002 }], [], [{ type: "credit", maxSeq: 8, maxBytes: 1_004 }]]);
    expect(r.deliveredSeq).toBe(4);
    expect(r.bufferedBytes).toBe(0);
  });

  it("ignores a duplicate chunk", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 2), 1);
    r.handleFrame(chunk(1, 2), 2);
    expect(seen(readAll(r, 3))).toEqual(["item 1", "item 2"]);
    expect(r.counters.duplicatesIgnored).toBe(1);
  });

  it("keeps only the new items of a partially overlapping chunk", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 2), 1);
    r.handleFrame(chunk(2, 3), 2);
    expect(readAll(r, 3)).toEqual([1, 2, 3, 4].map((seq) => ({ kind: "item", seq, data: data(seq) })));
    expect(r.counters.itemsReceived).toBe(4);
  });

  it("delivers a gap as a gap delivery between the items around it, and counts it as consumed and acked", () => {
    const r = streaming();
    const gap: Gap = { fromSeq: 2, count: 2, reason: "dropped_oldest" };
    r.handleFrame(chunk(1, 1), 1);
    r.handleFrame(chunk(4, 1, { gap }), 2);
    expect(readAll(r, 3)).toEqual([
      { kind: "item", seq: 1, data: data(1) },
      { kind: "gap", gap },
      { kind: "item", seq: 4, data: data(4) },
    ]);
    expect(r.counters.gaps).toBe(1);
    expect(r.counters.itemsSkippedByGaps).toBe(2);
    expect(r.ackedSeq).toBe(3); // the gap needs no processing
  });

  it("delivers a gap sent alone, in a chunk with no items", () => {
    const r = streaming();
    r.handleFrame({ type: "chunk", firstSeq: 3, items: [], cursor: NO_CURSOR, gap: { fromSeq: 1, count: 2, reason: "history_expired" } }, 1);
    expect(seen(readAll(r, 2))).toEqual(["gap 1+2"]);
    expect(r.deliveredSeq).toBe(2);
  });

  it("reassembles a fragmented item, and takes a gap riding on its first fragment", () => {
    const r = streaming();
    const big = Uint8Array.from({ length: 10 }, (_, i) => i);
    const fragment = (offset: number, end: number, extra: Partial<ChunkFrame> = {}): ChunkFrame => ({
      type: "chunk",
      firstSeq: 3,
      items: [],
      fragment: { totalBytes: 10, offset, data: big.subarray(offset, end) },
      cursor: NO_CURSOR,
      ...extra,
    });
    r.handleFrame(fragment(0, 4, { gap: { fromSeq: 1, count: 2, reason: "dropped_newest" } }), 1);
    r.handleFrame(fragment(4, 8), 2);
    r.handleFrame(fragment(4, 8), 3); // resent
    expect(seen(readAll(r, 3))).toEqual(["gap 1+2"]);
    r.handleFrame(fragment(8, 10, { cursor: Uint8Array.of(3) }), 4);
    expect(readAll(r, 5)).toEqual([{ kind: "item", seq: 3, data: big }]);
    expect(r.counters.duplicatesIgnored).toBe(1);
  });

  it("ends with a credit_violation by the server when it sends beyond the granted window, after the items it was granted", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 5), 1);
    expect(events(r)).toEqual([{ type: "finished", error: expect.objectContaining({ code: "credit_violation" }) }]);
    const deliveries = readAll(r, 2);
    expect(seen(deliveries)).toEqual(["item 1", "item 2", "item 3", "item 4", "error credit_violation"]);
    expect(deliveries.at(-1)).toMatchObject({ error: { blame: "remote", retryable: false, message: "item 5 is beyond the granted max_seq 4" } });
  });
});

describe("StreamReceiver: subjects", () => {
  it("delivers each item with its subject from a filtered stream's chunk, and a fragmented item with the completing fragment's (§7.10)", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 2, { subjects: ["s.a", "s.b"] }), 1);
    r.handleFrame({ type: "chunk", firstSeq: 3, items: [], fragment: { totalBytes: 4, offset: 0, data: Uint8Array.of(1, 2) }, cursor: NO_CURSOR }, 2);
    r.handleFrame({ type: "chunk", firstSeq: 3, items: [], fragment: { totalBytes: 4, offset: 2, data: Uint8Array.of(3, 4) }, cursor: NO_CURSOR, subjects: ["s.big"] }, 3);
    expect(readAll(r, 4).map((d) => (d.kind === "item" ? [d.seq, d.subject] : d.kind))).toEqual([
      [1, "s.a"],
      [2, "s.b"],
      [3, "s.big"],
    ]);
  });
});

describe("StreamReceiver: lost sessions", () => {
  it("loses the session (retryable) when a chunk starts beyond the expected seq, and resumes after the last ack", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 2), 1);
    r.read(2);
    r.ack(1, 2);
    r.handleFrame(chunk(4, 1), 3);
    expect(events(r)).toMatchObject([{ type: "session_lost", error: { code: "protocol_violation", retryable: true, message: "chunk starts at seq 4, expected 3" } }]);
    expect(r.state).toBe("idle");
    expect(r.buffered).toBe(0); // item 2 comes again with the next session
    r.connect(4);
    expect(drain(r)).toMatchObject([{ type: "open", resume: { seq: 1, sessionId: "s1" } }]);
  });

  it("loses the session on a retryable Error frame, keeping the server's retry hint", () => {
    const r = streaming();
    r.handleFrame(errorFrame("unavailable", true, 750), 1);
    expect(events(r)).toMatchObject([{ type: "session_lost", error: { code: "unavailable", retryAfterMs: 750, blame: "remote" } }]);
    expect(r.finished).toBe(false);
  });

  it("loses the session when End claims more items than arrived whole", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 2), 1);
    r.handleFrame({ type: "end", lastSeq: 3, cursor: NO_CURSOR, sessionItems: 3, sessionBytes: 3 }, 2);
    expect(events(r)).toMatchObject([{ type: "session_lost", error: { code: "protocol_violation", retryable: true } }]);
  });

  it("loses the session after heartbeatTimeoutMs of silence from the server", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 1), 500);
    r.handleTimeout(3_499);
    expect(r.state).toBe("streaming");
    r.handleTimeout(3_500);
    expect(events(r)).toMatchObject([{ type: "session_lost", error: { code: "heartbeat_timeout" } }]);
  });
});

describe("StreamReceiver: endings", () => {
  it("delivers a terminal Error frame after the items buffered before it", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 2), 1);
    r.handleFrame(errorFrame("permission_denied", false), 2);
    expect(events(r)).toEqual([{ type: "finished", error: expect.objectContaining({ code: "permission_denied" }) }]);
    expect(r.finished).toBe(true);
    expect(seen(readAll(r, 3))).toEqual(["item 1", "item 2", "error permission_denied"]);
  });

  it("delivers End after the items buffered before it", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 2), 1);
    r.handleFrame({ type: "end", lastSeq: 2, cursor: NO_CURSOR, sessionItems: 2, sessionBytes: 2 }, 2);
    expect(seen(readAll(r, 3))).toEqual(["item 1", "item 2", "end"]);
    expect(r.state).toBe("closed");
    expect(r.pollTimeout()).toBeUndefined();
  });

  it("sends Cancel, drops what is buffered, and finishes on the server's End", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 2), 1);
    r.cancel("done", 2);
    expect(drain(r)).toEqual([{ type: "cancel", reason: "done" }]);
    expect(r.state).toBe("cancelling");
    r.handleFrame(chunk(3, 1), 3); // in flight before the server saw the Cancel
    r.handleFrame({ type: "end", lastSeq: 2, cursor: NO_CURSOR, sessionItems: 2, sessionBytes: 2 }, 4);
    expect(seen(readAll(r, 5))).toEqual(["end"]);
    expect(events(r)).toEqual([{ type: "finished" }]);
  });
});

describe("StreamReceiver: acks", () => {
  it("coalesces acks: one every ackEveryItems, the rest after ackDelayMs", () => {
    const r = streaming({ ackEveryItems: 3, ackDelayMs: 50 });
    r.handleFrame(chunk(1, 4), 1);
    for (let i = 0; i < 4; i++) r.read(2);
    drain(r); // credits
    r.ack(1, 10);
    r.ack(2, 11);
    expect(drain(r)).toEqual([]);
    expect(r.pollTimeout()).toBe(60); // 50 ms after the oldest unacked
    r.ack(3, 12);
    expect(drain(r)).toEqual([{ type: "ack", seq: 3 }]);
    r.ack(4, 20);
    expect(drain(r)).toEqual([]);
    expect(r.pollTimeout()).toBe(70);
    r.handleTimeout(69);
    expect(drain(r)).toEqual([]);
    r.handleTimeout(70);
    expect(drain(r)).toEqual([{ type: "ack", seq: 4 }]);
  });

  it("sends a lone ack after the default ack delay of 50 ms", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 4), 1);
    r.read(2);
    r.read(2);
    r.ack(2, 3);
    expect(drain(r)).toEqual([{ type: "credit", maxSeq: 6, maxBytes: 1_002 }, { type: "ack", seq: 2 }]);
    r.read(4);
    r.ack(3, 4);
    expect(drain(r)).toEqual([]); // below ackEveryItems (2): wait for more or for the delay
    expect(r.pollTimeout()).toBe(54);
    r.handleTimeout(53);
    expect(drain(r)).toEqual([]);
    r.handleTimeout(54);
    expect(drain(r)).toEqual([{ type: "ack", seq: 3 }]);
    expect(r.pollTimeout()).toBe(1_500); // its first ping: 1.5 intervals after Opened (§6)
  });

  it("lets a pending ack ride along with a credit frame", () => {
    const r = streaming({ ackEveryItems: 10 });
    r.handleFrame(chunk(1, 4), 1);
    r.read(2);
    r.ack(1, 2);
    r.read(2);
    expect(drain(r)).toEqual([
      { type: "credit", maxSeq: 6, maxBytes: 1_002 },
      { type: "ack", seq: 1 },
    ]);
  });

  it("refuses an ack beyond what the app was given", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 2), 1);
    r.read(2);
    expect(() => r.ack(2, 3)).toThrow(RangeError);
  });
});

describe("StreamReceiver: heartbeats", () => {
  /** A session whose item 1 arrived, was read and acked, with what that sent drained: a ping repeats credit and ack 1. */
  const ackedFirstItem = () => {
    const r = streaming({ ackEveryItems: 1 });
    r.handleFrame(chunk(1, 1), 10);
    r.read(20);
    r.ack(1, 20);
    drain(r);
    return r;
  };

  it("pings on its own 1.5 intervals after Opened (the server's first ping is due at one), repeating the current credit and ack with the ping", () => {
    const r = ackedFirstItem();
    expect(r.pollTimeout()).toBe(1_500);
    r.handleTimeout(1_500);
    expect(drain(r)).toEqual([
      { type: "heartbeat", ping: 1, pong: 0 },
      { type: "credit", maxSeq: 5, maxBytes: 1_001 },
      { type: "ack", seq: 1 },
    ]);
  });

  it("measures the RTT from the server's pong", () => {
    const r = streaming();
    r.handleTimeout(1_500);
    drain(r);
    r.handleFrame({ type: "heartbeat", ping: 0, pong: 1 }, 1_525);
    expect(events(r)).toEqual([{ type: "rtt", rttMs: 25 }]);
    expect(r.rttMs).toBe(25);
  });

  it("answers the server's ping with a pong", () => {
    const r = streaming();
    r.handleFrame({ type: "heartbeat", ping: 5, pong: 0 }, 10);
    expect(drain(r)).toEqual([{ type: "heartbeat", ping: 0, pong: 5 }]);
  });

  it("rides its own ping, with the repeated credit and ack, on the pong of a server ping that comes at least half an interval after its last", () => {
    const r = ackedFirstItem();
    r.handleFrame({ type: "heartbeat", ping: 7, pong: 0 }, 499);
    expect(drain(r)).toEqual([{ type: "heartbeat", ping: 0, pong: 7 }]);
    r.handleFrame({ type: "heartbeat", ping: 8, pong: 0 }, 500);
    expect(drain(r)).toEqual([
      { type: "heartbeat", ping: 1, pong: 8 },
      { type: "credit", maxSeq: 5, maxBytes: 1_001 },
      { type: "ack", seq: 1 },
    ]);
    // Its own timer now waits 1.5 intervals: the server's next ping, an interval on, takes the next one along.
    expect(r.pollTimeout()).toBe(2_000);
    // The server answers it with that ping, saying how long it held the pong: that is off the RTT.
    r.handleFrame({ type: "heartbeat", ping: 9, pong: 1, pongDelayUs: 990_000 }, 1_500);
    expect(r.rttMs).toBe(10);
    expect(drain(r)[0]).toEqual({ type: "heartbeat", ping: 2, pong: 9 });
    // The server's pings stop: its own timer pings on.
    r.handleFrame({ type: "heartbeat", ping: 0, pong: 2 }, 1_501);
    expect(r.rttMs).toBe(1);
    r.handleTimeout(3_000);
    expect(drain(r)[0]).toEqual({ type: "heartbeat", ping: 3, pong: 0 });
  });

  it("loses the session when a heartbeat says more was sent than arrived (a lost last chunk), and not when it all arrived", () => {
    const r = streaming();
    r.handleFrame(chunk(1, 2), 1);
    r.handleFrame({ type: "heartbeat", ping: 0, pong: 0, sentSeq: 2 }, 2);
    expect(events(r).filter((e) => e.type === "session_lost")).toEqual([]);
    r.handleFrame({ type: "heartbeat", ping: 0, pong: 0, sentSeq: 4 }, 3);
    expect(events(r)).toContainEqual(expect.objectContaining({ type: "session_lost", error: expect.objectContaining({ code: "protocol_violation", retryable: true, message: "heartbeat says seq 4 was sent, but only 2 arrived: a frame was lost" }) }));
  });
});

describe("StreamReceiver: limits", () => {
  const opened = (extra: Partial<OpenedFrame>): OpenedFrame => ({ type: "opened", sessionId: "s1", sessionSecret: new Uint8Array(16), nextSeq: 1, limits, contentType: "", ...extra });

  it("rejects an Opened whose heartbeat timeout does not exceed the interval, as a protocol violation", () => {
    const r = new StreamReceiver({ stream: "books", window: { items: 4, bytes: 100 } });
    r.connect(0);
    r.handleFrame(opened({ limits: { ...limits, heartbeatTimeoutMs: 500, heartbeatIntervalMs: 1_000 } }), 0);
    expect(readAll(r, 0)).toMatchObject([{ kind: "error", error: { code: "protocol_violation", field: "opened.limits", message: "opened.limits: heartbeat timeout 500 ms must exceed a positive interval 1000 ms" } }]);
  });

  it("rejects an Opened with an empty window, as a protocol violation naming opened.window", () => {
    const r = new StreamReceiver({ stream: "books", window: { items: 4, bytes: 100 } });
    r.connect(0);
    r.handleFrame(opened({ window: { items: 0, bytes: 100 } }), 0);
    expect(readAll(r, 0)).toMatchObject([{ kind: "error", error: { code: "protocol_violation", field: "opened.window", blame: "remote", message: "opened.window.items: must be at least 1, got 0" } }]);
  });

  it("rejects a whole item over the max item size", () => {
    const r = streaming({ window: { items: 4, bytes: 1 << 20 }, maxItemBytes: 10 });
    r.handleFrame({ type: "chunk", firstSeq: 1, items: [new Uint8Array(11)], cursor: NO_CURSOR }, 1);
    expect(readAll(r, 1)).toMatchObject([{ kind: "error", error: { code: "limit_exceeded", blame: "remote", message: "item 1 is 11 bytes, over the max item size 10" } }]);
  });

  it("rejects a fragmented item over the max item size before its credit check", () => {
    // 2 MiB against a 1 000-byte window: a credit violation too, but the size is checked first (§5.3).
    // The cap is the smaller of the local one and Opened's (64 KiB here).
    const r = streaming({ maxItemBytes: 1 << 20 });
    r.handleFrame({ type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 2 << 20, offset: 0, data: data(1) }, cursor: NO_CURSOR }, 1);
    expect(readAll(r, 1)).toMatchObject([{ kind: "error", error: { code: "limit_exceeded", message: `item 1 is ${2 << 20} bytes, over the max item size ${limits.maxItemBytes}` } }]);
  });

  it("loses the session (retryable) when an item's first fragment is missing", () => {
    const r = streaming();
    r.handleFrame({ type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 10, offset: 4, data: new Uint8Array(6) }, cursor: NO_CURSOR }, 1);
    expect(events(r)).toMatchObject([{ type: "session_lost", error: { code: "protocol_violation", retryable: true, message: "fragment of item 1 starts at offset 4, expected 0" } }]);
  });
});

describe("StreamReceiver: timers", () => {
  it("has nothing due between sessions or once finished, also after the app acks", () => {
    const r = streaming({ ackEveryItems: 10 });
    r.handleFrame(chunk(1, 2), 1);
    readAll(r, 2);
    r.connectionLost(new SluiceError("unavailable", "reset"), 3);
    expect(r.state).toBe("idle");
    r.ack(2, 4); // goes with the next session
    expect(r.pollTimeout()).toBeUndefined();
    r.connect(5);
    expect(r.pollTimeout()).toBe(5_005); // the local heartbeat only (DEFAULT_HEARTBEAT), until Opened
    r.handleFrame({ type: "end", lastSeq: 0, cursor: NO_CURSOR, sessionItems: 0, sessionBytes: 0 }, 6);
    expect(r.pollTimeout()).toBeUndefined();
  });
});

describe("StreamReceiver: frame order", () => {
  it.each<ServerFrame>([{ type: "heartbeat", ping: 1, pong: 0 }, chunk(1, 1), errorFrame("internal", false)])("ignores a $type frame once closed", (frame) => {
    const r = streaming();
    r.handleFrame({ type: "end", lastSeq: 0, cursor: NO_CURSOR, sessionItems: 0, sessionBytes: 0 }, 1);
    events(r);
    r.handleFrame(frame, 2);
    expect(drain(r)).toEqual([]);
    expect(events(r)).toEqual([]);
  });
});

describe("StreamReceiver: resume", () => {
  const opened = (sessionId: string, nextSeq: number, resume?: { requestedSeq: number; replayed: number }): ServerFrame => ({ type: "opened", sessionId, sessionSecret: new Uint8Array(16), nextSeq, limits, contentType: "", ...(resume ? { resume: { ...resume, nextSeq } } : {}) });

  it("opens afresh, without a resume position, when the first session died before its Opened", () => {
    const r = new StreamReceiver({ stream: "news", window: { items: 4, bytes: 1_000 } });
    r.connect(0);
    drain(r);
    r.connectionLost(new SluiceError("unavailable", "reset"), 1);
    expect(events(r)).toMatchObject([{ type: "session_lost" }]);
    r.connect(2);
    // A resume at seq 0 would ask a live topic for its whole history.
    expect(drain(r)).toMatchObject([{ type: "open", resume: undefined }]);
    // A fresh stream takes the server's next_seq as its baseline.
    r.handleFrame(opened("s2", 500), 3);
    expect(events(r)).toMatchObject([{ type: "opened" }]);
    r.handleFrame(chunk(500, 1), 4);
    expect(seen(readAll(r, 5))).toEqual(["item 500"]);
  });

  it("takes Opened.cursor as the checkpoint at next_seq − 1: a session lost before its first chunk was processed resumes from it (§7.3)", () => {
    const r = new StreamReceiver({ stream: "sensors.*.temp", window: { items: 8, bytes: 1_000 }, ackEveryItems: 100 });
    r.connect(0);
    drain(r);
    r.handleFrame({ ...opened("s1", 1), cursor: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 77) } as ServerFrame, 0);
    events(r);
    // Three items arrive in one chunk (its cursor after the last); the app processes one.
    r.handleFrame(chunk(1, 3, { cursor: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 90) }), 1);
    const [first] = readAll(r, 1);
    expect(first).toMatchObject({ kind: "item", seq: 1 });
    r.ack(1, 2);
    r.connectionLost(new SluiceError("unavailable", "reset"), 3);
    events(r);
    r.connect(4);
    // Not an empty cursor: the position Opened gave, and the one item processed after it.
    expect(drain(r)).toMatchObject([{ type: "open", resume: { seq: 1, cursor: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 77), cursorSeq: 0, sessionId: "s1" } }]);
    // A resume that reports a gap gives the new position; it replaces checkpoints from before it.
    r.handleFrame({ type: "opened", sessionId: "s2", sessionSecret: new Uint8Array(16), nextSeq: 7, limits, contentType: "", resume: { requestedSeq: 1, nextSeq: 7, replayed: 0, gap: { fromSeq: 2, count: 5, reason: "history_expired" } }, cursor: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 120) }, 5);
    events(r);
    // Items 2 and 3 were delivered already: the app sees the rest of the gap.
    expect(seen(readAll(r, 5))).toEqual(["gap 4+3"]);
    r.ack(6, 6);
    r.connectionLost(new SluiceError("unavailable", "reset"), 7);
    events(r);
    r.connect(8);
    expect(drain(r)).toMatchObject([{ type: "open", resume: { seq: 6, cursor: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 120), cursorSeq: 6 } }]);
  });

  it("never acks beyond what the resumed session has sent: the app's ack of an old item waits for its resend", () => {
    const r = streaming({ ackEveryItems: 100, ackDelayMs: 10 });
    r.handleFrame(chunk(1, 3), 1);
    readAll(r, 1);
    r.ack(1, 1);
    r.handleTimeout(20);
    expect(drain(r)).toContainEqual({ type: "ack", seq: 1 });
    r.connectionLost(new SluiceError("unavailable", "reset"), 30);
    events(r);
    r.connect(31);
    expect(drain(r)).toMatchObject([{ type: "open", resume: { seq: 1 } }]);
    r.handleFrame(opened("s2", 2, { requestedSeq: 1, replayed: 0 }), 32);
    events(r);
    // The app finishes items 2 and 3 (delivered by the first session) now.
    r.ack(3, 33);
    r.handleTimeout(50);
    expect(drain(r).filter((f) => f.type === "ack")).toEqual([]);
    // Items 2 and 3 come again; the ack may cover them once they have.
    r.handleFrame(chunk(2, 2), 51);
    r.handleTimeout(51);
    expect(drain(r).filter((f) => f.type === "ack")).toEqual([{ type: "ack", seq: 3 }]);
    expect(r.read(52)).toBeUndefined();
  });

  it("rejects a resume gap that would skip seqs after the ack", () => {
    const r = new StreamReceiver({ stream: "books", window: { items: 8, bytes: 1 << 20 } });
    r.connect(0);
    r.handleFrame(opened("s1", 1), 0);
    r.handleFrame(chunk(1, 2), 1);
    r.read(1);
    r.ack(1, 1);
    r.connectionLost(new SluiceError("unavailable", "gone"), 2);
    r.connect(3);
    r.handleFrame({ type: "opened", sessionId: "s2", sessionSecret: new Uint8Array(16), nextSeq: 9, limits, contentType: "", resume: { requestedSeq: 1, nextSeq: 9, replayed: 0, gap: { fromSeq: 5, count: 4, reason: "history_expired" } } }, 4);
    expect(r.read(4)).toMatchObject({ kind: "error", error: { code: "protocol_violation", message: expect.stringMatching(/resume gap starts at seq 5, after ack 1/) } });
  });

  it("grants credit once for a chunk of resent items, not once per item", () => {
    const r = new StreamReceiver({ stream: "books", window: { items: 10, bytes: 1_000 }, ackEveryItems: 100 });
    r.connect(0);
    r.handleFrame(opened("s1", 1), 0);
    r.handleFrame(chunk(1, 8), 1);
    readAll(r, 1);
    r.connectionLost(new SluiceError("unavailable", "reset"), 2);
    events(r);
    r.connect(3);
    r.handleFrame(opened("s2", 1, { requestedSeq: 0, replayed: 0 }), 4);
    drain(r);
    r.handleFrame(chunk(1, 8), 5);
    expect(drain(r).filter((f) => f.type === "credit")).toEqual([{ type: "credit", maxSeq: 18, maxBytes: 1_008 }]);
  });
});
