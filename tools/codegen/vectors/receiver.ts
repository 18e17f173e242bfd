/**
 * Receiver vectors: a subscribing client under test. The app reads every
 * delivery after each step and, with `app: "read"`, processes each item as it
 * reads it. The expected client frames follow by hand from PROTOCOL.md:
 * credit per §4.5 (threshold 0.5 of window 10 items / 1 024 bytes: 5 items
 * or 512 bytes, or everything received consumed), acks per §7.2 (every 2
 * processed items, or 50 ms after the first unsent one, riding on credit),
 * pongs and pings per §6.
 */
import { ack, chunk, credit, end, item, NONE, opened, openOf, ping, pong, RECEIVER, text, WIN } from "./common.js";
import type { ReceiverConfig, ReceiverVector } from "./types.js";

const items = (...seqs: number[]) => seqs.map((seq) => ({ seq, data: item(seq) }));
const with_ = (extra: Partial<ReceiverConfig>): ReceiverConfig => ({ ...RECEIVER, ...extra });
const OPEN = openOf(RECEIVER);

export const RECEIVER_VECTORS: ReceiverVector[] = [
  {
    name: "receiver-basic-stream",
    description:
      "Opened, one chunk of three items, End: all three are delivered in order. The second processed item sends Ack 2; consuming the third drains the buffer, so credit 13 / 1 027 is granted at once (rule 2 of §4.5).",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, { at: 2, frame: chunk(1, 3, text("c3")) }, { at: 3, frame: end(3, 3, 3, text("c3")) }],
    expect: { outcome: "ok", delivered: items(1, 2, 3), ended: true, transmitted: [{ at: 0, frame: OPEN }, { at: 2, frame: ack(2) }, { at: 2, frame: credit(13, 1_027) }] },
  },
  {
    name: "receiver-uses-opened-window",
    description: "The receiver asked for no window; Opened.window grants 2 items, so item 3 of the first chunk exceeds the credit: credit_violation after items 1 and 2.",
    peer: "receiver",
    receiver: with_({ window: undefined }),
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened(1, { window: { items: 2, bytes: 1024 } }) }, { at: 2, frame: chunk(1, 3) }],
    expect: { outcome: "error", code: "ERROR_CODE_CREDIT_VIOLATION", retryable: false, delivered: items(1, 2), transmitted: [{ at: 0, frame: openOf(with_({ window: undefined })) }] },
  },
  {
    name: "receiver-opened-window-within-request",
    description: "Opened.window may not exceed the window the receiver asked for: protocol_violation.",
    peer: "receiver",
    receiver: with_({ window: { items: 2, bytes: 1024 } }),
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened(1, { window: { items: 5, bytes: 1024 } }) }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, delivered: [], transmitted: [{ at: 0, frame: openOf(with_({ window: { items: 2, bytes: 1024 } })) }] },
  },
  {
    name: "receiver-needs-a-window",
    description: "The receiver asked for no window and Opened names none: protocol_violation (the receiver cannot know its credit).",
    peer: "receiver",
    receiver: with_({ window: undefined }),
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, delivered: [], transmitted: [{ at: 0, frame: openOf(with_({ window: undefined })) }] },
  },
  {
    name: "receiver-duplicate-chunk-ignored",
    description: "A chunk received twice (a resent frame) is delivered once. Draining the first chunk grants credit 12 / 1 026 with Ack 1 riding along.",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, { at: 2, frame: chunk(1, 2) }, { at: 3, frame: chunk(1, 2) }, { at: 4, frame: end(2, 2, 2) }],
    expect: { outcome: "ok", delivered: items(1, 2), ended: true, transmitted: [{ at: 0, frame: OPEN }, { at: 2, frame: credit(12, 1_026) }, { at: 2, frame: ack(1) }] },
  },
  {
    name: "receiver-overlapping-chunk-trimmed",
    description: "A chunk overlapping items already received delivers only the new ones; each drain grants credit, each with the pending ack riding along.",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, { at: 2, frame: chunk(1, 2) }, { at: 3, frame: chunk(2, 2) }, { at: 4, frame: end(3, 3, 3) }],
    expect: {
      outcome: "ok",
      delivered: items(1, 2, 3),
      ended: true,
      transmitted: [{ at: 0, frame: OPEN }, { at: 2, frame: credit(12, 1_026) }, { at: 2, frame: ack(1) }, { at: 3, frame: credit(13, 1_027) }, { at: 3, frame: ack(2) }],
    },
  },
  {
    name: "receiver-fragmented-item",
    description: "An item sent as three fragments is reassembled into one delivery; its 6 bytes were credited at the first fragment, and consuming it grants 11 / 1 030.",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      { at: 2, frame: { type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 6, offset: 0, data: text("ab") }, cursor: NONE } },
      { at: 3, frame: { type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 6, offset: 2, data: text("cd") }, cursor: NONE } },
      { at: 4, frame: { type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 6, offset: 4, data: text("ef") }, cursor: text("c1") } },
      { at: 5, frame: end(1, 1, 6, text("c1")) },
    ],
    expect: { outcome: "ok", delivered: [{ seq: 1, data: text("abcdef") }], ended: true, transmitted: [{ at: 0, frame: OPEN }, { at: 4, frame: credit(11, 1_030) }] },
  },
  {
    name: "receiver-gap-reported",
    description:
      "A chunk carrying a gap (seqs 2..4 dropped by the topic's policy) delivers item 1, the gap, then item 5. Passing the gap counts as processing it: Ack 4 goes at once (4 unsent acks reach ack_every).",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      { at: 2, frame: chunk(1, 1) },
      { at: 3, frame: chunk(5, 1, NONE, { gap: { fromSeq: 2, count: 3, reason: "dropped_oldest" } }) },
      { at: 4, frame: end(5, 2, 2) },
    ],
    expect: {
      outcome: "ok",
      delivered: items(1, 5),
      gaps: [{ fromSeq: 2, count: 3, reason: "dropped_oldest" }],
      ended: true,
      transmitted: [{ at: 0, frame: OPEN }, { at: 2, frame: credit(11, 1_025) }, { at: 3, frame: ack(4) }, { at: 3, frame: credit(15, 1_026) }],
    },
  },
  {
    name: "receiver-credit-violation-items",
    description: "The server sends item 3 while the window (2 items) only allows seq <= 2: credit_violation, not retryable.",
    peer: "receiver",
    receiver: with_({ window: { items: 2, bytes: 1024 } }),
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, { at: 2, frame: chunk(1, 3) }],
    expect: { outcome: "error", code: "ERROR_CODE_CREDIT_VIOLATION", retryable: false, delivered: items(1, 2), transmitted: [{ at: 0, frame: openOf(with_({ window: { items: 2, bytes: 1024 } })) }] },
  },
  {
    name: "receiver-credit-violation-bytes",
    description: "Byte window 4: items of 3 bytes at offsets 0 and 3; the second ends at 6 > 4 while item 1 is unconsumed: credit_violation.",
    peer: "receiver",
    receiver: with_({ window: { items: 10, bytes: 4 } }),
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, { at: 2, frame: { type: "chunk", firstSeq: 1, items: [text("aaa"), text("bbb")], cursor: NONE } }],
    expect: { outcome: "error", code: "ERROR_CODE_CREDIT_VIOLATION", retryable: false, delivered: [{ seq: 1, data: text("aaa") }], transmitted: [{ at: 0, frame: openOf(with_({ window: { items: 10, bytes: 4 } })) }] },
  },
  {
    name: "receiver-oversized-item-allowed-alone",
    description: "Byte window 4, one 10-byte item with nothing before it: allowed (an item larger than the window may go when the receiver has consumed everything); consuming it grants 11 / 14.",
    peer: "receiver",
    receiver: with_({ window: { items: 10, bytes: 4 } }),
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, { at: 2, frame: { type: "chunk", firstSeq: 1, items: [text("0123456789")], cursor: NONE } }, { at: 3, frame: end(1, 1, 10) }],
    expect: { outcome: "ok", delivered: [{ seq: 1, data: text("0123456789") }], ended: true, transmitted: [{ at: 0, frame: openOf(with_({ window: { items: 10, bytes: 4 } })) }, { at: 2, frame: credit(11, 14) }] },
  },
  {
    name: "receiver-grants-on-drain-when-sender-holds",
    description:
      "Opened.signals_held: the sender says when it holds an item for byte credit, so draining item 1 grants nothing (1 item and 1 byte are below the thresholds of 5 and 512). The heartbeat with held_bytes 2 000 finds everything consumed: credit 11 / 1 025 at once, Ack 1 riding along (§4.5 rule 2).",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened(1, { signalsHeld: true }) },
      { at: 2, frame: chunk(1, 1) },
      { at: 3, frame: { type: "heartbeat", ping: 0, pong: 0, heldBytes: 2_000 } },
      { at: 4, frame: end(1, 1, 1) },
    ],
    expect: { outcome: "ok", delivered: items(1), ended: true, transmitted: [{ at: 0, frame: OPEN }, { at: 3, frame: credit(11, 1_025) }, { at: 3, frame: ack(1) }] },
  },
  {
    name: "receiver-fragment-over-max-item",
    description: "A fragment announcing a 2 MiB item when the max item size is 1 MiB: limit_exceeded before any allocation.",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, { at: 2, frame: { type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 2_097_152, offset: 0, data: text("x") }, cursor: NONE } }],
    expect: { outcome: "error", code: "ERROR_CODE_LIMIT_EXCEEDED", retryable: false, delivered: [], transmitted: [{ at: 0, frame: OPEN }] },
  },
  {
    name: "receiver-sequence-break-resumes",
    description:
      "Item 3 arrives after item 1 (item 2 lost): the session is broken, retryable. The next session resumes after seq 1 (processed) from session s1, gets items 2 and 3 and End; its acks and credit start afresh.",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      { at: 2, frame: chunk(1, 1) },
      { at: 3, frame: chunk(3, 1) },
      { at: 10, connect: true },
      { at: 11, frame: opened(2, { sessionId: "s2", resume: { requestedSeq: 1, nextSeq: 2, replayed: 0 } }) },
      { at: 12, frame: chunk(2, 2) },
      { at: 13, frame: end(3, 2, 2) },
    ],
    expect: {
      outcome: "ok",
      delivered: items(1, 2, 3),
      ended: true,
      transmitted: [
        { at: 0, frame: OPEN },
        { at: 2, frame: credit(11, 1_025) },
        { at: 10, frame: openOf(RECEIVER, { seq: 1, cursor: NONE, cursorSeq: 0, sessionId: "s1" }) },
        { at: 12, frame: ack(2) },
        { at: 12, frame: credit(13, 1_026) },
      ],
    },
  },
  {
    name: "receiver-end-before-items",
    description: "End says the last seq is 3 but only item 1 arrived: the session is broken, retryable.",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, { at: 2, frame: chunk(1, 1) }, { at: 3, frame: end(3, 3, 3) }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: true, delivered: items(1), transmitted: [{ at: 0, frame: OPEN }, { at: 2, frame: credit(11, 1_025) }] },
  },
  {
    name: "receiver-end-below-received",
    description: "End says the last seq is 2 after items 1..3 arrived: the server contradicts itself, protocol_violation, not retryable.",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, { at: 2, frame: chunk(1, 3) }, { at: 3, frame: end(2, 3, 3) }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, delivered: items(1, 2, 3), transmitted: [{ at: 0, frame: OPEN }, { at: 2, frame: ack(2) }, { at: 2, frame: credit(13, 1_027) }] },
  },
  {
    name: "receiver-empty-chunk-refused",
    description: "A chunk with no item, no fragment and no gap: protocol_violation, not retryable (§5.2).",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, { at: 2, frame: { type: "chunk", firstSeq: 1, items: [], cursor: NONE } }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, delivered: [], transmitted: [{ at: 0, frame: OPEN }] },
  },
  {
    name: "receiver-server-error-terminal",
    description: "An Error frame stream_not_found (not retryable) ends the stream with that error.",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: { type: "error", code: "stream_not_found", message: "stream not configured: books", retryable: false, retryAfterMs: 0, field: "" } }],
    expect: { outcome: "error", code: "ERROR_CODE_STREAM_NOT_FOUND", retryable: false, delivered: [], transmitted: [{ at: 0, frame: OPEN }] },
  },
  {
    name: "receiver-cancel",
    description:
      "The app cancels after items 1 and 2: the receiver sends Cancel, drops a chunk that crossed it, and finishes on the server's End. Nothing else is sent after Cancel.",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      { at: 2, frame: chunk(1, 2) },
      { at: 3, cancel: "enough" },
      { at: 4, frame: chunk(3, 1) },
      { at: 60, timeout: true },
      { at: 61, frame: end(2, 2, 2) },
    ],
    expect: {
      outcome: "ok",
      delivered: items(1, 2),
      ended: true,
      transmitted: [{ at: 0, frame: OPEN }, { at: 2, frame: credit(12, 1_026) }, { at: 2, frame: ack(1) }, { at: 3, frame: { type: "cancel", reason: "enough" } }],
    },
  },
  {
    name: "receiver-acks-coalesce",
    description:
      "With ack_every 4, three processed items: consuming the third drains the buffer, so credit goes with Ack 2 riding along; Ack 3 follows 50 ms after it was processed (ack_delay).",
    peer: "receiver",
    receiver: with_({ ackEveryItems: 4 }),
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, { at: 2, frame: chunk(1, 3) }, { at: 52, timeout: true }],
    expect: { outcome: "ok", delivered: items(1, 2, 3), ended: false, transmitted: [{ at: 0, frame: OPEN }, { at: 2, frame: credit(13, 1_027) }, { at: 2, frame: ack(2) }, { at: 52, frame: ack(3) }] },
  },
  {
    name: "receiver-heartbeats",
    description:
      "The receiver answers the server's ping at once (it came too soon after Opened for a ping to ride on the pong), pings on its own 7.5 s after Opened (1.5 of the session's 5 s intervals, §6) and every 5 s after, each time with its current credit, and loses the session after 15 s of silence (heartbeat_timeout, retryable).",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      { at: 2, frame: ping(7) },
      { at: 7_501, timeout: true },
      { at: 7_502, frame: pong(1) },
      { at: 12_501, timeout: true },
      { at: 22_502, timeout: true },
    ],
    expect: {
      outcome: "error",
      code: "ERROR_CODE_HEARTBEAT_TIMEOUT",
      retryable: true,
      delivered: [],
      transmitted: [{ at: 0, frame: OPEN }, { at: 2, frame: pong(7) }, { at: 7_501, frame: ping(1) }, { at: 7_501, frame: credit(10, 1_024) }, { at: 12_501, frame: ping(2) }, { at: 12_501, frame: credit(10, 1_024) }],
    },
  },
  {
    name: "receiver-ping-rides-on-pong",
    description:
      "A server ping that comes at least half an interval after the receiver's last ping (or Opened) takes the receiver's own ping along in the pong's Heartbeat, with its current credit (§6); its own timer then waits 1.5 intervals. The server's next ping carries the pong and how long it was held; the receiver pings alone once the server falls silent, and loses the session after 15 s of silence.",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      { at: 3_001, frame: ping(7) },
      { at: 8_001, frame: { type: "heartbeat", ping: 8, pong: 1, pongDelayUs: 4_999_000 } },
      { at: 15_501, timeout: true },
      { at: 23_001, timeout: true },
    ],
    expect: {
      outcome: "error",
      code: "ERROR_CODE_HEARTBEAT_TIMEOUT",
      retryable: true,
      delivered: [],
      transmitted: [
        { at: 0, frame: OPEN },
        { at: 3_001, frame: { type: "heartbeat", ping: 1, pong: 7 } },
        { at: 3_001, frame: credit(10, 1_024) },
        { at: 8_001, frame: { type: "heartbeat", ping: 2, pong: 8 } },
        { at: 8_001, frame: credit(10, 1_024) },
        { at: 15_501, frame: ping(3) },
        { at: 15_501, frame: credit(10, 1_024) },
      ],
    },
  },
  {
    name: "receiver-resume-after-loss",
    description:
      "Items 1..4 are delivered and processed, then the connection drops. The next session resumes after seq 4 with the cursor of the chunk that ended there (c4) and the old session's id; it continues at 5.",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      { at: 2, frame: chunk(1, 4, text("c4")) },
      { at: 10, lost: true },
      { at: 20, connect: true },
      { at: 21, frame: opened(5, { sessionId: "s2", resume: { requestedSeq: 4, nextSeq: 5, replayed: 0 } }) },
      { at: 22, frame: chunk(5, 2) },
      { at: 23, frame: end(6, 2, 2) },
    ],
    expect: {
      outcome: "ok",
      delivered: items(1, 2, 3, 4, 5, 6),
      ended: true,
      transmitted: [
        { at: 0, frame: OPEN },
        { at: 2, frame: ack(2) },
        { at: 2, frame: credit(14, 1_028) },
        { at: 2, frame: ack(3) },
        { at: 20, frame: openOf(RECEIVER, { seq: 4, cursor: text("c4"), cursorSeq: 4, sessionId: "s1" }) },
        { at: 22, frame: ack(5) },
        { at: 22, frame: credit(16, 1_026) },
      ],
    },
  },
  {
    name: "receiver-resume-history-expired",
    description:
      "A resume after seq 4 answered with next_seq 10 and a history_expired gap 5..9 in the ResumeResult: the app gets the gap, then item 10. Passing the gap processes it (Ack 9).",
    peer: "receiver",
    receiver: RECEIVER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      { at: 2, frame: chunk(1, 4, text("c4")) },
      { at: 10, lost: true },
      { at: 20, connect: true },
      { at: 21, frame: opened(10, { sessionId: "s2", resume: { requestedSeq: 4, nextSeq: 10, replayed: 0, gap: { fromSeq: 5, count: 5, reason: "history_expired" } } }) },
      { at: 22, frame: chunk(10, 1) },
    ],
    expect: {
      outcome: "ok",
      delivered: items(1, 2, 3, 4, 10),
      gaps: [{ fromSeq: 5, count: 5, reason: "history_expired" }],
      ended: false,
      transmitted: [
        { at: 0, frame: OPEN },
        { at: 2, frame: ack(2) },
        { at: 2, frame: credit(14, 1_028) },
        { at: 2, frame: ack(3) },
        { at: 20, frame: openOf(RECEIVER, { seq: 4, cursor: text("c4"), cursorSeq: 4, sessionId: "s1" }) },
        { at: 21, frame: ack(9) },
        // Item 10 is "10": two bytes.
        { at: 22, frame: credit(20, 1_026) },
      ],
    },
  },
  {
    name: "receiver-ack-never-beyond-session",
    description:
      "The app processes slowly (explicit acks). After a resume from seq 1 it finishes items 2 and 3, which the new session has not resent yet: no Ack 3 goes until they have (an Ack above what the sender sent is a violation). The resent chunk is consumed on arrival with one credit for it, then Ack 3 goes.",
    peer: "receiver",
    receiver: with_({ app: "explicit" }),
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      { at: 2, frame: chunk(1, 3) },
      { at: 3, ack: 1 },
      { at: 53, timeout: true },
      { at: 60, lost: true },
      { at: 70, connect: true },
      { at: 71, frame: opened(2, { sessionId: "s2", resume: { requestedSeq: 1, nextSeq: 2, replayed: 0 } }) },
      { at: 72, ack: 3 },
      { at: 122, timeout: true },
      { at: 130, frame: chunk(2, 2) },
      { at: 130, timeout: true },
      { at: 131, frame: end(3, 2, 2) },
    ],
    expect: {
      outcome: "ok",
      delivered: items(1, 2, 3),
      ended: true,
      transmitted: [
        { at: 0, frame: openOf(with_({ app: "explicit" })) },
        { at: 2, frame: credit(13, 1_027) },
        { at: 53, frame: ack(1) },
        { at: 70, frame: openOf(with_({ app: "explicit" }), { seq: 1, cursor: NONE, cursorSeq: 0, sessionId: "s1" }) },
        { at: 130, frame: credit(13, 1_026) },
        { at: 130, frame: ack(3) },
      ],
    },
  },
];

export { WIN };
