/**
 * Sender vectors: a server's session under test. After each step the source
 * yields what it has while the sender may pull (demand > 0), and ends when
 * its entries are spent (unless `sourceEnds` is false). Expected frames follow
 * by hand from PROTOCOL.md: initial credit §4.2, the byte rule §4.3, chunk
 * closing §5.1 (credit exhausted, flush deadline, source end), heartbeats §6,
 * End §8.
 */
import type { ClientFrame, ServerFrame } from "@sluice/core";
import { b, end, item, LIMITS, NONE, opened, ping, pong, SECRET, text } from "./common.js";
import type { SenderVector } from "./types.js";

const ACCEPT = { sessionId: "s1", sessionSecret: SECRET, nextSeq: 1, contentType: "application/json" };
const CHUNK = { maxItems: 100, maxBytes: 32_768, flushDelayMs: 1_000 };
const SENDER = { limits: LIMITS, chunk: CHUNK };
/** The Open of a vector; `null`: an Open that names no window (the stream's default). */
const open = (window: { items: number; bytes: number } | null = { items: 2, bytes: 1024 }, extra: Partial<Extract<ClientFrame, { type: "open" }>> = {}): ClientFrame => ({
  type: "open",
  stream: "numbers",
  params: { count: 3 },
  window: window ?? undefined,
  heartbeatIntervalMs: 0,
  clientInfo: "vectors",
  ...extra,
});
const items = (firstSeq: number, ...payloads: Uint8Array[]): ServerFrame => ({ type: "chunk", firstSeq, items: payloads, cursor: NONE });
const error = (code: Extract<ServerFrame, { type: "error" }>["code"], retryable: boolean, field = ""): ServerFrame => ({ type: "error", code, message: "", retryable, retryAfterMs: 0, field });
const withWindow = (window: { items: number; bytes: number }, nextSeq = 1, resume?: Extract<ServerFrame, { type: "opened" }>["resume"]) => opened(nextSeq, { window, signalsHeld: true, ...(resume ? { resume } : {}) });

export const SENDER_VECTORS: SenderVector[] = [
  {
    name: "sender-basic-stream",
    description: "Window 2 items: the sender sends items 1-2 in one chunk (credit exhausted closes it), waits for credit, sends item 3, then End.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [item(1), item(2), item(3)],
    steps: [{ at: 0, frame: open() }, { at: 1, frame: { type: "credit", maxSeq: 4, maxBytes: 1026 } }],
    expect: {
      outcome: "ok",
      transmitted: [
        { at: 0, frame: withWindow({ items: 2, bytes: 1024 }) },
        { at: 0, frame: items(1, item(1), item(2)) },
        { at: 1, frame: items(3, item(3)) },
        { at: 1, frame: end(3, 3, 3) },
      ],
    },
  },
  {
    name: "sender-credit-smaller-ignored",
    description: "A credit below the one the sender holds is ignored (absolute limits, §4.4): no violation, nothing sent; the larger one then lets item 3 out.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [item(1), item(2), item(3)],
    steps: [{ at: 0, frame: open() }, { at: 1, frame: { type: "credit", maxSeq: 1, maxBytes: 10 } }, { at: 2, frame: { type: "credit", maxSeq: 4, maxBytes: 1026 } }],
    expect: {
      outcome: "ok",
      transmitted: [{ at: 0, frame: withWindow({ items: 2, bytes: 1024 }) }, { at: 0, frame: items(1, item(1), item(2)) }, { at: 2, frame: items(3, item(3)) }, { at: 2, frame: end(3, 3, 3) }],
    },
  },
  {
    name: "sender-rejects-frame-before-open",
    description: "A Credit before Open: protocol_violation.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [],
    steps: [{ at: 0, frame: { type: "credit", maxSeq: 10, maxBytes: 10 } }],
    expect: { outcome: "error", transmitted: [{ at: 0, frame: error("protocol_violation", false) }] },
  },
  {
    name: "sender-rejects-second-open",
    description: "Open twice on one stream: protocol_violation, after the chunk already sent.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [item(1), item(2), item(3)],
    steps: [{ at: 0, frame: open() }, { at: 1, frame: open() }],
    expect: { outcome: "error", transmitted: [{ at: 0, frame: withWindow({ items: 2, bytes: 1024 }) }, { at: 0, frame: items(1, item(1), item(2)) }, { at: 1, frame: error("protocol_violation", false) }] },
  },
  {
    name: "sender-rejects-credit-beyond-window",
    description: "After 2 items sent with a 2-item window, a credit of max_seq 1000 is more than sent + window could justify: credit_violation.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [item(1), item(2), item(3)],
    steps: [{ at: 0, frame: open() }, { at: 1, frame: { type: "credit", maxSeq: 1000, maxBytes: 1026 } }],
    expect: { outcome: "error", transmitted: [{ at: 0, frame: withWindow({ items: 2, bytes: 1024 }) }, { at: 0, frame: items(1, item(1), item(2)) }, { at: 1, frame: error("credit_violation", false) }] },
  },
  {
    name: "sender-rejects-ack-beyond-sent",
    description: "An Ack of seq 50 when only 2 items were sent: protocol_violation.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [item(1), item(2), item(3)],
    steps: [{ at: 0, frame: open() }, { at: 1, frame: { type: "ack", seq: 50 } }],
    expect: { outcome: "error", transmitted: [{ at: 0, frame: withWindow({ items: 2, bytes: 1024 }) }, { at: 0, frame: items(1, item(1), item(2)) }, { at: 1, frame: error("protocol_violation", false) }] },
  },
  {
    name: "sender-rejects-zero-window",
    description: "Open with window.items 0: invalid_argument naming window.items.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [],
    steps: [{ at: 0, frame: open({ items: 0, bytes: 1024 }) }],
    expect: { outcome: "error", transmitted: [{ at: 0, frame: error("invalid_argument", false, "window.items") }] },
  },
  {
    name: "sender-default-window",
    description: "Open without a window: the session gets the stream's default window (2 items), announced in Opened.window, and the initial credit follows from it.",
    peer: "sender",
    sender: { ...SENDER, defaultWindow: { items: 2, bytes: 1024 } },
    accept: ACCEPT,
    source: [item(1), item(2), item(3)],
    steps: [{ at: 0, frame: open(null) }],
    expect: { outcome: "ok", transmitted: [{ at: 0, frame: withWindow({ items: 2, bytes: 1024 }) }, { at: 0, frame: items(1, item(1), item(2)) }] },
  },
  {
    name: "sender-default-window-clamped",
    description: "Open without a window, and a default window above the limits: Opened.window is the default clamped to max_window_items / max_window_bytes.",
    peer: "sender",
    sender: { ...SENDER, defaultWindow: { items: 5_000, bytes: 8 * 1024 * 1024 } },
    accept: ACCEPT,
    source: [],
    steps: [{ at: 0, frame: open(null) }],
    expect: { outcome: "ok", transmitted: [{ at: 0, frame: withWindow({ items: 1_000, bytes: 1_048_576 }) }, { at: 0, frame: end(0, 0, 0) }] },
  },
  {
    name: "sender-cancel-ends",
    description: "Cancel after the first chunk: the sender answers End with the last transmitted seq and sends nothing more.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [item(1), item(2), item(3)],
    steps: [{ at: 0, frame: open() }, { at: 1, frame: { type: "cancel", reason: "done" } }],
    expect: { outcome: "ok", transmitted: [{ at: 0, frame: withWindow({ items: 2, bytes: 1024 }) }, { at: 0, frame: items(1, item(1), item(2)) }, { at: 1, frame: end(2, 2, 2) }] },
  },
  {
    name: "sender-flush-deadline",
    description:
      "Live items (§5.1): an item made at 10 ms waits alone in its chunk until the 5 ms flush deadline (15 ms); two more at 20 and 21 ms leave together at 25 ms. A quiet source never holds an item longer than the deadline.",
    peer: "sender",
    sender: { limits: LIMITS, chunk: { maxItems: 100, maxBytes: 32_768, flushDelayMs: 5 } },
    accept: ACCEPT,
    source: [],
    sourceEnds: false,
    steps: [{ at: 0, frame: open({ items: 10, bytes: 1024 }) }, { at: 10, item: item(1) }, { at: 15, timeout: true }, { at: 20, item: item(2) }, { at: 21, item: item(3) }, { at: 25, timeout: true }, { at: 30, timeout: true }],
    expect: { outcome: "ok", transmitted: [{ at: 0, frame: withWindow({ items: 10, bytes: 1024 }) }, { at: 15, frame: items(1, item(1)) }, { at: 25, frame: items(2, item(2), item(3)) }] },
  },
  {
    name: "sender-heartbeats",
    description:
      "The sender pings every 5 s from Opened (id 1, 2, ...) whether or not it is busy, answers the client's ping 9 at once, and fails the session after 15 s of client silence: heartbeat_timeout, retryable.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [],
    sourceEnds: false,
    steps: [{ at: 0, frame: open({ items: 10, bytes: 1024 }) }, { at: 5_000, timeout: true }, { at: 5_001, frame: pong(1) }, { at: 5_002, frame: ping(9) }, { at: 10_000, timeout: true }, { at: 20_002, timeout: true }],
    expect: {
      outcome: "error",
      transmitted: [{ at: 0, frame: withWindow({ items: 10, bytes: 1024 }) }, { at: 5_000, frame: ping(1) }, { at: 5_002, frame: pong(9) }, { at: 10_000, frame: ping(2) }, { at: 20_002, frame: error("heartbeat_timeout", true) }],
    },
  },
  {
    name: "sender-holds-pong-for-riding-ping",
    description:
      "A client ping that rides on a pong (one Heartbeat with both) is answered with the sender's next ping, carrying the pong and how long it was held in pong_delay_us (§6); a ping alone is answered at once.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [],
    sourceEnds: false,
    steps: [
      { at: 0, frame: open({ items: 10, bytes: 1024 }) },
      { at: 5_000, timeout: true },
      { at: 5_001, frame: { type: "heartbeat", ping: 9, pong: 1 } },
      { at: 10_000, timeout: true },
      { at: 10_001, frame: ping(10) },
      { at: 25_001, timeout: true },
    ],
    expect: {
      outcome: "error",
      transmitted: [
        { at: 0, frame: withWindow({ items: 10, bytes: 1024 }) },
        { at: 5_000, frame: ping(1) },
        { at: 10_000, frame: { type: "heartbeat", ping: 2, pong: 9, pongDelayUs: 4_999_000 } },
        { at: 10_001, frame: pong(10) },
        { at: 25_001, frame: error("heartbeat_timeout", true) },
      ],
    },
  },
  {
    name: "sender-resume",
    description: "An Open resuming after seq 4: the session starts at next_seq 5 and announces the ResumeResult; End reports the stream's last seq and this session's counts.",
    peer: "sender",
    sender: SENDER,
    accept: { ...ACCEPT, nextSeq: 5, resume: { requestedSeq: 4, nextSeq: 5, replayed: 4 } },
    source: [item(5), item(6)],
    steps: [{ at: 0, frame: open({ items: 10, bytes: 1024 }, { resume: { seq: 4, cursor: NONE, cursorSeq: 0, sessionId: "s0" } }) }],
    expect: { outcome: "ok", transmitted: [{ at: 0, frame: withWindow({ items: 10, bytes: 1024 }, 5, { requestedSeq: 4, nextSeq: 5, replayed: 4 }) }, { at: 0, frame: items(5, item(5), item(6)) }, { at: 0, frame: end(6, 2, 2) }] },
  },
  {
    name: "sender-resume-at-end",
    description: "A resume exactly at the end of a finite stream (after seq 10 of 10): Opened, then End with last_seq 10 and nothing sent (§8).",
    peer: "sender",
    sender: SENDER,
    accept: { ...ACCEPT, nextSeq: 11, resume: { requestedSeq: 10, nextSeq: 11, replayed: 0 } },
    source: [],
    steps: [{ at: 0, frame: open({ items: 10, bytes: 1024 }, { resume: { seq: 10, cursor: text("c10"), cursorSeq: 10, sessionId: "s0" } }) }],
    expect: { outcome: "ok", transmitted: [{ at: 0, frame: withWindow({ items: 10, bytes: 1024 }, 11, { requestedSeq: 10, nextSeq: 11, replayed: 0 }) }, { at: 0, frame: end(10, 0, 0) }] },
  },
  {
    name: "sender-gap",
    description: "The source drops seqs 2 and 3 (a gap): the chunk holding item 1 closes, the gap rides on the chunk of item 4 (from_seq + count = first_seq), and End counts seq 4.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [item(1), { gap: 2, reason: "dropped_oldest" }, item(4)],
    steps: [{ at: 0, frame: open({ items: 10, bytes: 1024 }) }],
    expect: {
      outcome: "ok",
      transmitted: [
        { at: 0, frame: withWindow({ items: 10, bytes: 1024 }) },
        { at: 0, frame: items(1, item(1)) },
        { at: 0, frame: { type: "chunk", firstSeq: 4, items: [item(4)], cursor: NONE, gap: { fromSeq: 2, count: 2, reason: "dropped_oldest" } } },
        { at: 0, frame: end(4, 2, 2) },
      ],
    },
  },
  {
    name: "sender-fragments",
    description: "A 10-byte item with chunks of 4 bytes goes as three fragments (offsets 0, 4, 8), one per chunk, the last one completing it.",
    peer: "sender",
    sender: { limits: LIMITS, chunk: { maxItems: 100, maxBytes: 4, flushDelayMs: 1_000 } },
    accept: ACCEPT,
    source: [text("0123456789")],
    steps: [{ at: 0, frame: open({ items: 10, bytes: 1024 }) }],
    expect: {
      outcome: "ok",
      transmitted: [
        { at: 0, frame: withWindow({ items: 10, bytes: 1024 }) },
        { at: 0, frame: { type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 10, offset: 0, data: text("0123") }, cursor: NONE } },
        { at: 0, frame: { type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 10, offset: 4, data: text("4567") }, cursor: NONE } },
        { at: 0, frame: { type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 10, offset: 8, data: text("89") }, cursor: NONE } },
        { at: 0, frame: end(1, 1, 10) },
      ],
    },
  },
  {
    name: "sender-oversized-item-waits",
    description:
      "Byte window 4: item 1 (3 bytes) goes; item 2 (6 bytes) fits neither the window nor the exception, so it waits, and a heartbeat with held_bytes 6 says so at once, ahead of the data (§4.5 rule 2). A credit of max_bytes 7 reports item 1 consumed (7 − 4 = 3 = its offset): the exception of §4.3 lets it go.",
    peer: "sender",
    sender: SENDER,
    accept: ACCEPT,
    source: [text("aaa"), text("bbbbbb")],
    steps: [{ at: 0, frame: open({ items: 10, bytes: 4 }) }, { at: 1, frame: { type: "credit", maxSeq: 11, maxBytes: 7 } }],
    expect: {
      outcome: "ok",
      transmitted: [
        { at: 0, frame: withWindow({ items: 10, bytes: 4 }) },
        { at: 0, frame: { type: "heartbeat", ping: 0, pong: 0, heldBytes: 6 } },
        { at: 0, frame: items(1, text("aaa")) },
        { at: 1, frame: items(2, text("bbbbbb")) },
        { at: 1, frame: end(2, 2, 9) },
      ],
    },
  },
  {
    name: "sender-stall-timeout",
    description: "Stall timeout 100 ms: the window is used up at 0 ms and no credit comes: stall_timeout (retryable) at 100 ms.",
    peer: "sender",
    sender: { ...SENDER, stallTimeoutMs: 100 },
    accept: ACCEPT,
    source: [item(1), item(2), item(3)],
    steps: [{ at: 0, frame: open() }, { at: 100, timeout: true }],
    expect: { outcome: "error", transmitted: [{ at: 0, frame: withWindow({ items: 2, bytes: 1024 }) }, { at: 0, frame: items(1, item(1), item(2)) }, { at: 100, frame: error("stall_timeout", true) }] },
  },
  {
    name: "sender-yield-timeout",
    description: "Yield timeout 100 ms: credit is there but the source yields nothing: yield_timeout (retryable) at 100 ms.",
    peer: "sender",
    sender: { ...SENDER, yieldTimeoutMs: 100 },
    accept: ACCEPT,
    source: [],
    sourceEnds: false,
    steps: [{ at: 0, frame: open() }, { at: 100, timeout: true }],
    expect: { outcome: "error", transmitted: [{ at: 0, frame: withWindow({ items: 2, bytes: 1024 }) }, { at: 100, frame: error("yield_timeout", true) }] },
  },
];

export { b };
