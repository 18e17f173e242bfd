/** The publish machines' own rules (PROTOCOL.md §3.4), frame by frame on a hand-run clock. */
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "./limits.js";
import { IngestReceiver } from "./ingest-receiver.js";
import { Priority } from "./priority-queue.js";
import { PublishSender } from "./publish-sender.js";
import type { IngestFrame, OpenedFrame, PublishFrame } from "./frames.js";

const limits = { ...DEFAULT_LIMITS, heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 3_000 };
const opened = (nextSeq = 1): OpenedFrame => ({ type: "opened", sessionId: "s1", sessionSecret: new Uint8Array(), nextSeq, limits, contentType: "", window: { items: 4, bytes: 1_000 } });
const drainSender = (sender: PublishSender) => [...(function* () { for (let f = sender.pollTransmit(); f; f = sender.pollTransmit()) yield f; })()];
const drainIngest = (ingest: IngestReceiver) => [...(function* () { for (let f = ingest.pollTransmit(); f; f = ingest.pollTransmit()) yield f; })()] as IngestFrame[];
const events = <E>(machine: { pollEvent(): E | undefined }) => [...(function* () { for (let e = machine.pollEvent(); e; e = machine.pollEvent()) yield e; })()];

function openSender(nextSeq = 1) {
  const sender = new PublishSender({ stream: "orders", publisherId: "p1", resumeAfterSeq: nextSeq - 1 });
  sender.connect(0);
  expect(drainSender(sender)).toEqual([{ type: "publish_open", stream: "orders", publisherId: "p1", resumeAfterSeq: nextSeq - 1, heartbeatIntervalMs: 0, signalsHeld: true }]);
  sender.handleFrame(opened(nextSeq), 1);
  return sender;
}

describe("PublishSender", () => {
  it("puts items of one priority in a chunk: an item of another closes the open chunk first (§3.4 rule 10)", () => {
    const sender = openSender();
    drainSender(sender);
    sender.push(new Uint8Array([1]), 1, Priority.CRITICAL);
    sender.push(new Uint8Array([2]), 1, Priority.CRITICAL);
    sender.push(new Uint8Array([3]), 1);
    sender.handleTimeout(100);
    const chunks = drainSender(sender).filter((f) => f.type === "chunk");
    expect(chunks).toEqual([
      { type: "chunk", firstSeq: 1, items: [new Uint8Array([1]), new Uint8Array([2])], cursor: new Uint8Array(), gap: undefined, priority: Priority.CRITICAL },
      { type: "chunk", firstSeq: 3, items: [new Uint8Array([3])], cursor: new Uint8Array(), gap: undefined },
    ]);
  });

  it("sends within the window the server's Opened grants, numbering from its next_seq", () => {
    const sender = openSender(41);
    expect(sender.demand).toBe(4);
    for (let i = 0; i < 4; i++) sender.push(new Uint8Array([i]), 2);
    expect(sender.demand).toBe(0);
    sender.handleTimeout(2);
    const chunks = drainSender(sender).filter((f): f is Extract<PublishFrame, { type: "chunk" }> => f.type === "chunk");
    expect(chunks.map((c) => [c.firstSeq, c.items.length])).toEqual([[41, 4]]);
    sender.handleFrame({ type: "publish_ack", seq: 42, deadLetters: [{ seq: 42, reason: "bad", deadLetterTopic: "orders.dlq" }] }, 3);
    expect(events(sender).at(-1)).toEqual({ type: "acked", seq: 42, deadLetters: [{ seq: 42, reason: "bad", deadLetterTopic: "orders.dlq" }] });
  });

  it("counts a session without Opened as lost after the open timeout", () => {
    const sender = new PublishSender({ stream: "orders", publisherId: "p1", resumeAfterSeq: 0, openTimeoutMs: 500 });
    sender.connect(0);
    expect(sender.pollTimeout()).toBe(500);
    sender.handleTimeout(500);
    const closed = events(sender).at(-1);
    expect(closed).toMatchObject({ type: "closed", error: { code: "heartbeat_timeout", retryable: true, message: "no Opened from the server within 500 ms" } });
  });

  it("names the server when it falls silent", () => {
    const sender = openSender();
    sender.handleTimeout(3_001);
    expect(events(sender).at(-1)).toMatchObject({ type: "closed", error: { code: "heartbeat_timeout", message: "server silent for 3000 ms (timeout 3000 ms)" } });
  });

  it("refuses an ack beyond what was sent, a dead letter beyond its ack, and data before Opened", () => {
    const sender = openSender();
    sender.push(new Uint8Array([1]), 2);
    sender.handleFrame({ type: "publish_ack", seq: 5, deadLetters: [] }, 3);
    expect(events(sender).at(-1)).toMatchObject({ type: "closed", error: { code: "protocol_violation", message: "ack 5 is beyond the last sent seq 1" } });
    expect(drainSender(sender).at(-1)).toEqual({ type: "cancel", reason: "ack 5 is beyond the last sent seq 1" });

    const second = openSender();
    second.push(new Uint8Array([1]), 2);
    second.handleFrame({ type: "publish_ack", seq: 1, deadLetters: [{ seq: 2, reason: "x", deadLetterTopic: "" }] }, 3);
    expect(events(second).at(-1)).toMatchObject({ type: "closed", error: { code: "protocol_violation", message: "dead letter for seq 2 beyond its ack 1" } });

    const early = new PublishSender({ stream: "orders", publisherId: "p1", resumeAfterSeq: 0 });
    early.connect(0);
    early.handleFrame({ type: "credit", maxSeq: 10, maxBytes: 10 }, 1);
    expect(events(early).at(-1)).toMatchObject({ type: "closed", error: { code: "protocol_violation", message: "credit before Opened" } });
  });
});

describe("IngestReceiver", () => {
  function openIngest() {
    const ingest = new IngestReceiver({ limits, window: { items: 4, bytes: 1_000 }, ackDelayMs: 0 });
    ingest.handleFrame({ type: "publish_open", stream: "orders", publisherId: "p1", resumeAfterSeq: 0, heartbeatIntervalMs: 0 }, 0);
    expect(events(ingest)).toEqual([{ type: "open", open: { type: "publish_open", stream: "orders", publisherId: "p1", resumeAfterSeq: 0, heartbeatIntervalMs: 0 } }]);
    ingest.accept({ sessionId: "s1", nextSeq: 1 }, 0);
    expect(drainIngest(ingest)[0]).toMatchObject({ type: "opened", nextSeq: 1, window: { items: 4, bytes: 1_000 } });
    return ingest;
  }

  it("hands items to the sink in order and acks what the sink accepted, with its dead letters", () => {
    const ingest = openIngest();
    ingest.handleFrame({ type: "chunk", firstSeq: 1, items: [new Uint8Array([1]), new Uint8Array([2])], cursor: new Uint8Array() }, 1);
    expect(ingest.read(1)).toMatchObject({ kind: "item", seq: 1 });
    expect(ingest.read(1)).toMatchObject({ kind: "item", seq: 2 });
    ingest.accepted(1, 1);
    ingest.deadLettered(2, "too blue", "orders.dlq", 1);
    ingest.handleTimeout(1);
    const acks = drainIngest(ingest).filter((f) => f.type === "publish_ack");
    expect(acks.at(-1)).toEqual({ type: "publish_ack", seq: 2, afterSeq: acks.length > 1 ? 1 : 0, deadLetters: [{ seq: 2, reason: "too blue", deadLetterTopic: "orders.dlq" }] });
  });

  it("gives each item its chunk's priority (absent: NORMAL), and reports a drop as a drop (§3.4 rule 10)", () => {
    const ingest = openIngest();
    const item = (n: number) => new Uint8Array([n]);
    ingest.handleFrame({ type: "chunk", firstSeq: 1, items: [item(1)], cursor: new Uint8Array() }, 1);
    ingest.handleFrame({ type: "chunk", firstSeq: 2, items: [item(2), item(3)], cursor: new Uint8Array(), priority: Priority.CRITICAL }, 1);
    ingest.handleFrame({ type: "chunk", firstSeq: 4, items: [item(4)], cursor: new Uint8Array(), priority: Priority.LOW }, 1);
    const read = [1, 2, 3, 4].map(() => ingest.read(1));
    expect(read.map((d) => d?.kind === "item" && [d.seq, d.priority])).toEqual([[1, Priority.NORMAL], [2, Priority.CRITICAL], [3, Priority.CRITICAL], [4, Priority.LOW]]);
    ingest.accepted(3, 1);
    ingest.deadLettered(4, "queue full", "ignored", 1, true);
    ingest.handleTimeout(1);
    const acks = drainIngest(ingest).filter((f) => f.type === "publish_ack");
    expect(acks.at(-1)).toMatchObject({ seq: 4, deadLetters: [{ seq: 4, reason: "queue full", deadLetterTopic: "", dropped: true }] });
  });

  it("answers the publisher's End with the last ack and End once everything is reported", () => {
    const ingest = openIngest();
    ingest.handleFrame({ type: "chunk", firstSeq: 1, items: [new Uint8Array([1])], cursor: new Uint8Array() }, 1);
    ingest.handleFrame({ type: "end", lastSeq: 1, cursor: new Uint8Array(), sessionItems: 1, sessionBytes: 1 }, 1);
    expect(ingest.read(1)).toMatchObject({ kind: "item", seq: 1 });
    expect(ingest.read(1)).toEqual({ kind: "end", lastSeq: 1 });
    expect(ingest.state).toBe("streaming");
    ingest.accepted(1, 2);
    const frames = drainIngest(ingest);
    expect(frames.slice(-2)).toEqual([{ type: "publish_ack", seq: 1, afterSeq: 0, deadLetters: [] }, { type: "end", lastSeq: 1, cursor: new Uint8Array(), sessionItems: 0, sessionBytes: 0 }]);
    expect(ingest.state).toBe("closed");
  });

  it("refuses a gap, data before PublishOpen, a second PublishOpen, and items beyond its credit", () => {
    const gap = openIngest();
    gap.handleFrame({ type: "chunk", firstSeq: 3, items: [new Uint8Array([1])], cursor: new Uint8Array(), gap: { fromSeq: 1, count: 2, reason: "dropped_oldest" } }, 1);
    expect(drainIngest(gap).at(-1)).toMatchObject({ type: "error", code: "protocol_violation", message: "chunk at seq 3 carries a gap: a publisher has none to report" });

    const early = new IngestReceiver();
    early.handleFrame({ type: "heartbeat", ping: 1, pong: 0 }, 0);
    expect(drainIngest(early).at(-1)).toMatchObject({ type: "error", code: "protocol_violation", message: "heartbeat before PublishOpen" });

    const twice = openIngest();
    twice.handleFrame({ type: "publish_open", stream: "orders", publisherId: "p1", resumeAfterSeq: 0, heartbeatIntervalMs: 0 }, 1);
    expect(drainIngest(twice).at(-1)).toMatchObject({ type: "error", code: "protocol_violation", message: "second PublishOpen in one session" });

    const greedy = openIngest();
    greedy.handleFrame({ type: "chunk", firstSeq: 1, items: Array.from({ length: 5 }, () => new Uint8Array([1])), cursor: new Uint8Array() }, 1);
    expect(drainIngest(greedy).at(-1)).toMatchObject({ type: "error", code: "credit_violation" });
  });

  it("names the publisher when it falls silent", () => {
    const ingest = openIngest();
    ingest.handleTimeout(3_000);
    expect(drainIngest(ingest).at(-1)).toMatchObject({ type: "error", code: "heartbeat_timeout", message: "publisher silent for 3000 ms (timeout 3000 ms)" });
  });

  it("reports again, right after Opened, the fates of items the publisher may have missed", () => {
    const ingest = new IngestReceiver({ limits });
    ingest.handleFrame({ type: "publish_open", stream: "orders", publisherId: "p1", resumeAfterSeq: 3, heartbeatIntervalMs: 0 }, 0);
    ingest.accept({ sessionId: "s2", nextSeq: 8, deadLetters: [{ seq: 2, reason: "old", deadLetterTopic: "" }, { seq: 5, reason: "bad", deadLetterTopic: "" }] }, 0);
    expect(drainIngest(ingest).slice(0, 2)).toEqual([expect.objectContaining({ type: "opened", nextSeq: 8 }), { type: "publish_ack", seq: 7, afterSeq: 3, deadLetters: [{ seq: 5, reason: "bad", deadLetterTopic: "" }] }]);
  });

  it("says which ack each one follows, and a publisher that missed one treats the session as broken", () => {
    const ingest = openIngest();
    ingest.handleFrame({ type: "chunk", firstSeq: 1, items: [new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3])], cursor: new Uint8Array() }, 1);
    for (const seq of [1, 2, 3]) {
      expect(ingest.read(1)).toMatchObject({ kind: "item", seq });
      ingest.accepted(seq, 1);
      ingest.handleTimeout(1_000 * seq);
    }
    const acks = drainIngest(ingest).filter((f) => f.type === "publish_ack");
    // Each ack names the one before it (the first: the session's resume_after_seq, 0).
    expect(acks.map((a) => [a.afterSeq, a.seq])).toEqual(acks.map((a, i) => [i === 0 ? 0 : acks[i - 1]!.seq, a.seq]));

    const sender = openSender();
    for (let i = 0; i < 3; i++) sender.push(new Uint8Array([i]), 2);
    sender.handleTimeout(10);
    drainSender(sender);
    sender.handleFrame({ type: "publish_ack", seq: 1, afterSeq: 0, deadLetters: [] }, 11);
    // The ack for (1, 2] went missing: the next one says it follows 2.
    sender.handleFrame({ type: "publish_ack", seq: 3, afterSeq: 2, deadLetters: [] }, 12);
    expect(sender.ackedSeq).toBe(1);
    expect(events(sender).at(-1)).toMatchObject({ type: "closed", error: { code: "protocol_violation", retryable: true, message: "ack 3 follows ack 2, but the last ack that arrived was 1: an ack was lost" } });
  });
});
