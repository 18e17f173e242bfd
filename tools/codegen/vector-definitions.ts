/**
 * The conformance vectors, written as core frames with hand-written expected
 * outcomes (PROTOCOL.md §12). write-vectors.ts turns them into
 * proto/vectors/v1/*.json with each frame's protobuf JSON form and its binary
 * encoding as hex. Expectations are normative: they come from PROTOCOL.md,
 * never from running an implementation.
 */
import type { ClientFrame, ServerFrame } from "@sluice/core";

const b = (...bytes: number[]) => new Uint8Array(bytes);
const text = (s: string) => new TextEncoder().encode(s);
const LIMITS = { maxFrameBytes: 4_194_304, maxItemBytes: 1_048_576, maxWindowItems: 1_000, maxWindowBytes: 1_048_576, heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 15_000 };
const opened = (nextSeq = 1): ServerFrame => ({ type: "opened", sessionId: "s1", sessionSecret: b(1, 2, 3, 4), nextSeq, limits: LIMITS, contentType: "application/json" });

export interface ReceiverVector {
  readonly name: string;
  readonly description: string;
  readonly peer: "receiver";
  /** The receiver's Open window (absent: it asks for the stream's default). */
  readonly window?: { items: number; bytes: number };
  readonly maxItemBytes?: number;
  /** Server frames fed to the receiver, in order; the app reads everything after each. */
  readonly steps: ServerFrame[];
  readonly expect:
    | { outcome: "ok"; delivered: { seq: number; data: Uint8Array }[]; gaps?: { fromSeq: number; count: number }[]; ended: boolean }
    | { outcome: "error"; code: string; retryable: boolean; delivered: { seq: number; data: Uint8Array }[] };
}

export interface SenderVector {
  readonly name: string;
  readonly description: string;
  readonly peer: "sender";
  /** Items the source yields (pushed while there is demand). */
  readonly source: Uint8Array[];
  /** Chunk options the sender runs with, so the expected frames are exact. */
  readonly chunk: { maxItems: number; maxBytes: number };
  /** The stream's default window, for an Open without one (absent: the implementation's default). */
  readonly defaultWindow?: { items: number; bytes: number };
  /** Client frames fed to the sender, in order (the first is Open). */
  readonly steps: ClientFrame[];
  readonly expect:
    | { outcome: "ok"; transmitted: ServerFrame[] }
    | { outcome: "error"; code: string; retryable: boolean };
}

export type Vector = ReceiverVector | SenderVector;

const open: ClientFrame = { type: "open", stream: "numbers", params: { limit: 3 }, window: { items: 2, bytes: 1024 }, heartbeatIntervalMs: 0, clientInfo: "vectors" };
const item = (n: number) => text(String(n));
const WIN = { items: 10, bytes: 1024 };

export const VECTORS: Vector[] = [
  {
    name: "receiver-basic-stream",
    description: "Opened, one chunk of three items, End: all three are delivered in order and the stream ends.",
    peer: "receiver",
    window: WIN,
    steps: [opened(), { type: "chunk", firstSeq: 1, items: [item(1), item(2), item(3)], cursor: text("c3") }, { type: "end", lastSeq: 3, cursor: text("c3"), sessionItems: 3, sessionBytes: 3 }],
    expect: { outcome: "ok", delivered: [1, 2, 3].map((s) => ({ seq: s, data: item(s) })), ended: true },
  },
  {
    name: "receiver-uses-opened-window",
    description: "The receiver asked for no window; Opened.window grants 2 items, so item 3 of the first chunk exceeds the credit: credit_violation after items 1 and 2.",
    peer: "receiver",
    steps: [{ ...opened(), window: { items: 2, bytes: 1024 } } as ServerFrame, { type: "chunk", firstSeq: 1, items: [item(1), item(2), item(3)], cursor: new Uint8Array() }],
    expect: { outcome: "error", code: "ERROR_CODE_CREDIT_VIOLATION", retryable: false, delivered: [1, 2].map((s) => ({ seq: s, data: item(s) })) },
  },
  {
    name: "receiver-opened-window-within-request",
    description: "Opened.window may not exceed the window the receiver asked for: protocol_violation.",
    peer: "receiver",
    window: { items: 2, bytes: 1024 },
    steps: [{ ...opened(), window: { items: 5, bytes: 1024 } } as ServerFrame],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, delivered: [] },
  },
  {
    name: "receiver-needs-a-window",
    description: "The receiver asked for no window and Opened names none: protocol_violation (the receiver cannot know its credit).",
    peer: "receiver",
    steps: [opened()],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, delivered: [] },
  },
  {
    name: "receiver-duplicate-chunk-ignored",
    description: "A chunk received twice (a resent frame) is delivered once.",
    peer: "receiver",
    window: WIN,
    steps: [opened(), { type: "chunk", firstSeq: 1, items: [item(1), item(2)], cursor: new Uint8Array() }, { type: "chunk", firstSeq: 1, items: [item(1), item(2)], cursor: new Uint8Array() }, { type: "end", lastSeq: 2, cursor: new Uint8Array(), sessionItems: 2, sessionBytes: 2 }],
    expect: { outcome: "ok", delivered: [1, 2].map((s) => ({ seq: s, data: item(s) })), ended: true },
  },
  {
    name: "receiver-overlapping-chunk-trimmed",
    description: "A chunk overlapping items already received delivers only the new ones.",
    peer: "receiver",
    window: WIN,
    steps: [opened(), { type: "chunk", firstSeq: 1, items: [item(1), item(2)], cursor: new Uint8Array() }, { type: "chunk", firstSeq: 2, items: [item(2), item(3)], cursor: new Uint8Array() }, { type: "end", lastSeq: 3, cursor: new Uint8Array(), sessionItems: 3, sessionBytes: 3 }],
    expect: { outcome: "ok", delivered: [1, 2, 3].map((s) => ({ seq: s, data: item(s) })), ended: true },
  },
  {
    name: "receiver-fragmented-item",
    description: "An item sent as three fragments is reassembled into one delivery.",
    peer: "receiver",
    window: WIN,
    steps: [
      opened(),
      { type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 6, offset: 0, data: text("ab") }, cursor: new Uint8Array() },
      { type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 6, offset: 2, data: text("cd") }, cursor: new Uint8Array() },
      { type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 6, offset: 4, data: text("ef") }, cursor: text("c1") },
      { type: "end", lastSeq: 1, cursor: text("c1"), sessionItems: 1, sessionBytes: 6 },
    ],
    expect: { outcome: "ok", delivered: [{ seq: 1, data: text("abcdef") }], ended: true },
  },
  {
    name: "receiver-gap-reported",
    description: "A chunk carrying a gap (seqs 2..4 dropped by the topic's policy) delivers item 1, the gap, then item 5.",
    peer: "receiver",
    window: WIN,
    steps: [
      opened(),
      { type: "chunk", firstSeq: 1, items: [item(1)], cursor: new Uint8Array() },
      { type: "chunk", firstSeq: 5, items: [item(5)], cursor: new Uint8Array(), gap: { fromSeq: 2, count: 3, reason: "dropped_oldest" } },
      { type: "end", lastSeq: 5, cursor: new Uint8Array(), sessionItems: 2, sessionBytes: 2 },
    ],
    expect: { outcome: "ok", delivered: [1, 5].map((s) => ({ seq: s, data: item(s) })), gaps: [{ fromSeq: 2, count: 3 }], ended: true },
  },
  {
    name: "receiver-credit-violation-items",
    description: "The server sends item 3 while the window (2 items) only allows seq <= 2: credit_violation, not retryable.",
    peer: "receiver",
    window: { items: 2, bytes: 1024 },
    steps: [opened(), { type: "chunk", firstSeq: 1, items: [item(1), item(2), item(3)], cursor: new Uint8Array() }],
    expect: { outcome: "error", code: "ERROR_CODE_CREDIT_VIOLATION", retryable: false, delivered: [1, 2].map((s) => ({ seq: s, data: item(s) })) },
  },
  {
    name: "receiver-credit-violation-bytes",
    description: "Byte window 4: items of 3 bytes at offsets 0 and 3; the second ends at 6 > 4 while item 1 is unconsumed: credit_violation.",
    peer: "receiver",
    window: { items: 10, bytes: 4 },
    steps: [opened(), { type: "chunk", firstSeq: 1, items: [text("aaa"), text("bbb")], cursor: new Uint8Array() }],
    expect: { outcome: "error", code: "ERROR_CODE_CREDIT_VIOLATION", retryable: false, delivered: [{ seq: 1, data: text("aaa") }] },
  },
  {
    name: "receiver-oversized-item-allowed-alone",
    description: "Byte window 4, one 10-byte item with nothing before it: allowed (an item larger than the window may go when the receiver has consumed everything).",
    peer: "receiver",
    window: { items: 10, bytes: 4 },
    steps: [opened(), { type: "chunk", firstSeq: 1, items: [text("0123456789")], cursor: new Uint8Array() }, { type: "end", lastSeq: 1, cursor: new Uint8Array(), sessionItems: 1, sessionBytes: 10 }],
    expect: { outcome: "ok", delivered: [{ seq: 1, data: text("0123456789") }], ended: true },
  },
  {
    name: "receiver-fragment-over-max-item",
    description: "A fragment announcing a 2 MiB item when the max item size is 1 MiB: limit_exceeded before any allocation.",
    peer: "receiver",
    window: WIN,
    steps: [opened(), { type: "chunk", firstSeq: 1, items: [], fragment: { totalBytes: 2_097_152, offset: 0, data: text("x") }, cursor: new Uint8Array() }],
    expect: { outcome: "error", code: "ERROR_CODE_LIMIT_EXCEEDED", retryable: false, delivered: [] },
  },
  {
    name: "receiver-sequence-break-resumes",
    description: "Item 3 arrives after item 1 (item 2 lost): the session is broken, retryable, so the client resumes.",
    peer: "receiver",
    window: WIN,
    steps: [opened(), { type: "chunk", firstSeq: 1, items: [item(1)], cursor: new Uint8Array() }, { type: "chunk", firstSeq: 3, items: [item(3)], cursor: new Uint8Array() }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: true, delivered: [{ seq: 1, data: item(1) }] },
  },
  {
    name: "receiver-end-before-items",
    description: "End says the last seq is 3 but only item 1 arrived: the session is broken, retryable.",
    peer: "receiver",
    window: WIN,
    steps: [opened(), { type: "chunk", firstSeq: 1, items: [item(1)], cursor: new Uint8Array() }, { type: "end", lastSeq: 3, cursor: new Uint8Array(), sessionItems: 3, sessionBytes: 3 }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: true, delivered: [{ seq: 1, data: item(1) }] },
  },
  {
    name: "receiver-server-error-terminal",
    description: "An Error frame stream_not_found (not retryable) ends the stream with that error.",
    peer: "receiver",
    window: WIN,
    steps: [{ type: "error", code: "stream_not_found", message: "stream not configured: books", retryable: false, retryAfterMs: 0, field: "" }],
    expect: { outcome: "error", code: "ERROR_CODE_STREAM_NOT_FOUND", retryable: false, delivered: [] },
  },
  {
    name: "sender-basic-stream",
    description: "Window 2 items: the sender sends items 1-2 in one chunk, waits for credit, sends item 3, then End.",
    peer: "sender",
    source: [item(1), item(2), item(3)],
    chunk: { maxItems: 100, maxBytes: 32_768 },
    steps: [open, { type: "credit", maxSeq: 4, maxBytes: 1026 }],
    expect: {
      outcome: "ok",
      transmitted: [
        { type: "opened", sessionId: "s1", sessionSecret: b(1, 2, 3, 4), nextSeq: 1, limits: LIMITS, contentType: "application/json", window: { items: 2, bytes: 1024 } },
        { type: "chunk", firstSeq: 1, items: [item(1), item(2)], cursor: new Uint8Array() },
        { type: "chunk", firstSeq: 3, items: [item(3)], cursor: new Uint8Array() },
        { type: "end", lastSeq: 3, cursor: new Uint8Array(), sessionItems: 3, sessionBytes: 3 },
      ],
    },
  },
  {
    name: "sender-rejects-frame-before-open",
    description: "A Credit before Open: protocol_violation.",
    peer: "sender",
    source: [],
    chunk: { maxItems: 100, maxBytes: 32_768 },
    steps: [{ type: "credit", maxSeq: 10, maxBytes: 10 }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false },
  },
  {
    name: "sender-rejects-second-open",
    description: "Open twice on one stream: protocol_violation.",
    peer: "sender",
    source: [item(1), item(2), item(3)],
    chunk: { maxItems: 100, maxBytes: 32_768 },
    steps: [open, open],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false },
  },
  {
    name: "sender-rejects-credit-beyond-window",
    description: "After 2 items sent with a 2-item window, a credit of max_seq 1000 is more than sent + window could justify: credit_violation.",
    peer: "sender",
    source: [item(1), item(2), item(3)],
    chunk: { maxItems: 100, maxBytes: 32_768 },
    steps: [open, { type: "credit", maxSeq: 1000, maxBytes: 1026 }],
    expect: { outcome: "error", code: "ERROR_CODE_CREDIT_VIOLATION", retryable: false },
  },
  {
    name: "sender-rejects-ack-beyond-sent",
    description: "An Ack of seq 50 when only 2 items were sent: protocol_violation.",
    peer: "sender",
    source: [item(1), item(2), item(3)],
    chunk: { maxItems: 100, maxBytes: 32_768 },
    steps: [open, { type: "ack", seq: 50 }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false },
  },
  {
    name: "sender-rejects-zero-window",
    description: "Open with window.items 0: invalid_argument naming window.items.",
    peer: "sender",
    source: [],
    chunk: { maxItems: 100, maxBytes: 32_768 },
    steps: [{ ...open, window: { items: 0, bytes: 1024 } } as ClientFrame],
    expect: { outcome: "error", code: "ERROR_CODE_INVALID_ARGUMENT", retryable: false },
  },
  {
    name: "sender-default-window",
    description: "Open without a window: the session gets the stream's default window (2 items), announced in Opened.window, and the initial credit follows from it.",
    peer: "sender",
    source: [item(1), item(2), item(3)],
    chunk: { maxItems: 100, maxBytes: 32_768 },
    defaultWindow: { items: 2, bytes: 1024 },
    steps: [{ ...open, window: undefined } as ClientFrame],
    expect: {
      outcome: "ok",
      transmitted: [
        { type: "opened", sessionId: "s1", sessionSecret: b(1, 2, 3, 4), nextSeq: 1, limits: LIMITS, contentType: "application/json", window: { items: 2, bytes: 1024 } },
        { type: "chunk", firstSeq: 1, items: [item(1), item(2)], cursor: new Uint8Array() },
      ],
    },
  },
  {
    name: "sender-default-window-clamped",
    description: "Open without a window, and a default window above the limits: Opened.window is the default clamped to max_window_items / max_window_bytes.",
    peer: "sender",
    source: [],
    chunk: { maxItems: 100, maxBytes: 32_768 },
    defaultWindow: { items: 5_000, bytes: 8 * 1024 * 1024 },
    steps: [{ ...open, window: undefined } as ClientFrame],
    expect: {
      outcome: "ok",
      transmitted: [
        { type: "opened", sessionId: "s1", sessionSecret: b(1, 2, 3, 4), nextSeq: 1, limits: LIMITS, contentType: "application/json", window: { items: 1_000, bytes: 1_048_576 } },
        { type: "end", lastSeq: 0, cursor: new Uint8Array(), sessionItems: 0, sessionBytes: 0 },
      ],
    },
  },
  {
    name: "sender-cancel-ends",
    description: "Cancel after the first chunk: the sender answers End with the last transmitted seq and sends nothing more.",
    peer: "sender",
    source: [item(1), item(2), item(3)],
    chunk: { maxItems: 100, maxBytes: 32_768 },
    steps: [open, { type: "cancel", reason: "done" }],
    expect: {
      outcome: "ok",
      transmitted: [
        { type: "opened", sessionId: "s1", sessionSecret: b(1, 2, 3, 4), nextSeq: 1, limits: LIMITS, contentType: "application/json", window: { items: 2, bytes: 1024 } },
        { type: "chunk", firstSeq: 1, items: [item(1), item(2)], cursor: new Uint8Array() },
        { type: "end", lastSeq: 2, cursor: new Uint8Array(), sessionItems: 2, sessionBytes: 2 },
      ],
    },
  },
];

export { LIMITS as VECTOR_LIMITS };
