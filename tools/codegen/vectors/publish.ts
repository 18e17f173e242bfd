/**
 * Publish vectors (PROTOCOL.md §3.4): the publisher's half of a session
 * ("publisher") and the server's ("ingest"). Publishing is a subscription
 * with the roles swapped, so the expectations follow by hand from the
 * sender's rules for the publisher (initial credit §4.2, credit §4.4 and
 * §4.7, chunk closing §5.1 — credit exhausted, the 5 ms flush deadline, the
 * end of the items — heartbeats §6, End §8) and the receiver's for the
 * server (grants §4.5 with threshold 0.5 of window 10 items / 1 024 bytes:
 * 5 items or 512 bytes, or on drain; acks §7.2 every 2 items or 5 ms after
 * the first unsent one), with what §3.4 changes: PublishOpen first (rule 1),
 * no gaps (rule 2), next_seq and the fates of earlier items (rules 3 and 6),
 * PublishAck with dead letters and after_seq (rule 5), End answered once
 * every item has its fate (rule 8), priorities (rule 10).
 */
import { EMPTY_BYTES, Priority, type DeadLetter, type IngestFrame, type PublishFrame, type Window } from "@sluice/core";
import { b, item, LIMITS, NONE, ping, pong } from "./common.js";
import type { IngestConfig, IngestVector, PublisherConfig, PublisherVector } from "./types.js";

const PUBLISHER: PublisherConfig = { stream: "orders", publisherId: "p1", resumeAfterSeq: 0, heartbeatIntervalMs: 0, chunk: { maxItems: 100, maxBytes: 32_768, flushDelayMs: 5 } };
const INGEST: IngestConfig = { limits: LIMITS, window: { items: 10, bytes: 1024 }, ackEveryItems: 2, ackDelayMs: 5 };
const WINDOW: Window = { items: 10, bytes: 1024 };

const publishOpen = (resumeAfterSeq = 0, signalsHeld = true): PublishFrame => ({ type: "publish_open", stream: "orders", publisherId: "p1", resumeAfterSeq, heartbeatIntervalMs: 0, ...(signalsHeld ? { signalsHeld } : {}) });
/** The server's Opened to a publisher: session_secret and content_type empty (rule 1), the window it grants. */
const opened = (nextSeq = 1, window: Window | null = WINDOW, sessionId = "s1"): IngestFrame => ({
  type: "opened",
  sessionId,
  sessionSecret: EMPTY_BYTES,
  nextSeq,
  limits: LIMITS,
  contentType: "",
  ...(window ? { window } : {}),
});
/** A publisher's chunk of items `seqs` (item n is its number as text); NORMAL leaves `priority` unset (rule 10). */
const chunk = (firstSeq: number, seqs: number[], priority?: Priority): PublishFrame => ({ type: "chunk", firstSeq, items: seqs.map(item), cursor: NONE, ...(priority !== undefined && priority !== Priority.NORMAL ? { priority } : {}) });
/** A publisher's End: the stream of this publisher is complete (§8), counting what this session sent. */
const publisherEnd = (lastSeq: number, sessionItems: number, sessionBytes: number): PublishFrame => ({ type: "end", lastSeq, cursor: NONE, sessionItems, sessionBytes });
/** The server's End{last_seq} (rule 8): it transmitted no items itself, so its session counts are 0 (§8). */
const serverEnd = (lastSeq: number): IngestFrame => ({ type: "end", lastSeq, cursor: NONE, sessionItems: 0, sessionBytes: 0 });
const ack = (seq: number, afterSeq: number, deadLetters: DeadLetter[] = []): IngestFrame => ({ type: "publish_ack", seq, deadLetters, afterSeq });
const credit = (maxSeq: number, maxBytes: number): IngestFrame => ({ type: "credit", maxSeq, maxBytes });
const error = (code: Extract<IngestFrame, { type: "error" }>["code"], retryable: boolean, field = ""): IngestFrame => ({ type: "error", code, message: "", retryable, retryAfterMs: 0, field });
const pushes = (at: number, ...seqs: number[]) => seqs.map((seq) => ({ at, push: item(seq) }));
const DL = (seq: number, reason = "schema: missing id", deadLetterTopic = "orders.dlq"): DeadLetter => ({ seq, reason, deadLetterTopic });
const items = (priority: Priority, ...seqs: number[]) => seqs.map((seq) => ({ seq, data: item(seq), priority }));

export const PUBLISHER_VECTORS: PublisherVector[] = [
  {
    name: "publisher-basic-publish",
    description:
      "PublishOpen, Opened with window 10 / 1 024 (initial credit 10 / 1 024, §4.2), three items within it: they wait in one open chunk until end() closes it, then End{3}. PublishAck{3} acks all three; the server's End closes the session cleanly.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, ...pushes(2, 1, 2, 3), { at: 3, end: true }, { at: 4, frame: ack(3, 0) }, { at: 5, frame: serverEnd(3) }],
    expect: {
      outcome: "ok",
      closed: true,
      acked: [{ seq: 3, deadLetters: [] }],
      transmitted: [{ at: 0, frame: publishOpen() }, { at: 3, frame: chunk(1, [1, 2, 3]) }, { at: 3, frame: publisherEnd(3, 3, 3) }],
    },
  },
  {
    name: "publisher-waits-for-credit",
    description:
      "Opened grants 2 items: items 1 and 2 go at once in one chunk (credit exhausted closes it, §5.1) and item 3 waits. Credit{4, 1 026} (within sent + window, §4.7) lets it out; its chunk closes at its 5 ms flush deadline (8 ms), and End follows the end() at 9 ms.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened(1, { items: 2, bytes: 1024 }) },
      ...pushes(2, 1, 2, 3),
      { at: 3, frame: credit(4, 1026) },
      { at: 8, timeout: true },
      { at: 9, end: true },
      { at: 10, frame: ack(3, 0) },
      { at: 11, frame: serverEnd(3) },
    ],
    expect: {
      outcome: "ok",
      closed: true,
      acked: [{ seq: 3, deadLetters: [] }],
      transmitted: [{ at: 0, frame: publishOpen() }, { at: 2, frame: chunk(1, [1, 2]) }, { at: 8, frame: chunk(3, [3]) }, { at: 9, frame: publisherEnd(3, 3, 3) }],
    },
  },
  {
    name: "publisher-resume-fates",
    description:
      "A publisher that knows seqs up to 4 acked opens with resume_after_seq 4; Opened.next_seq 8 (items 5..7 reached the server, rule 3) and right after it PublishAck{7, after_seq 4} reports their fates: seq 6 dead-lettered (rule 6). The publisher reports it, numbers its next item 8, and ends.",
    peer: "publisher",
    publisher: { ...PUBLISHER, resumeAfterSeq: 4 },
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened(8, WINDOW, "s2") },
      { at: 1, frame: ack(7, 4, [DL(6)]) },
      ...pushes(2, 8),
      { at: 3, end: true },
      { at: 4, frame: ack(8, 7) },
      { at: 5, frame: serverEnd(8) },
    ],
    expect: {
      outcome: "ok",
      closed: true,
      acked: [
        { seq: 7, deadLetters: [DL(6)] },
        { seq: 8, deadLetters: [] },
      ],
      transmitted: [{ at: 0, frame: publishOpen(4) }, { at: 3, frame: chunk(8, [8]) }, { at: 3, frame: publisherEnd(8, 1, 1) }],
    },
  },
  {
    name: "publisher-dead-letters-reported-once",
    description:
      "PublishAck{2} lists seq 2 as dead-lettered: reported with that ack. The same ack arriving again is a repeat (at or below the one before, rule 5): its dead letter is not reported twice. PublishAck{3, after_seq 2} then acks seq 3 as accepted.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      ...pushes(2, 1, 2, 3),
      { at: 7, timeout: true },
      { at: 8, frame: ack(2, 0, [DL(2)]) },
      { at: 9, frame: ack(2, 0, [DL(2)]) },
      { at: 10, frame: ack(3, 2) },
      { at: 11, end: true },
      { at: 12, frame: serverEnd(3) },
    ],
    expect: {
      outcome: "ok",
      closed: true,
      acked: [
        { seq: 2, deadLetters: [DL(2)] },
        { seq: 3, deadLetters: [] },
      ],
      transmitted: [{ at: 0, frame: publishOpen() }, { at: 7, frame: chunk(1, [1, 2, 3]) }, { at: 11, frame: publisherEnd(3, 3, 3) }],
    },
  },
  {
    name: "publisher-older-ack-ignored",
    description: "After PublishAck{2}, a PublishAck{1} is at or below the ack before it: a repeat, ignored (no event, no violation, rule 5); PublishAck{3, after_seq 2} is taken.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, ...pushes(2, 1, 2, 3), { at: 7, timeout: true }, { at: 8, frame: ack(2, 0) }, { at: 9, frame: ack(1, 0) }, { at: 10, frame: ack(3, 2) }],
    expect: {
      outcome: "ok",
      closed: false,
      acked: [
        { seq: 2, deadLetters: [] },
        { seq: 3, deadLetters: [] },
      ],
      transmitted: [{ at: 0, frame: publishOpen() }, { at: 7, frame: chunk(1, [1, 2, 3]) }],
    },
  },
  {
    name: "publisher-dropped-dead-letter",
    description:
      "Two LOW items go in one chunk with priority LOW (rule 10). The server's ingest queue dropped item 2: its ack lists it with dropped true, its reason and an empty dead_letter_topic, and the publisher reports it as such.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      { at: 2, push: item(1), priority: Priority.LOW },
      { at: 2, push: item(2), priority: Priority.LOW },
      { at: 7, timeout: true },
      { at: 8, frame: ack(2, 0, [{ seq: 2, reason: "ingest queue full: drop_newest", deadLetterTopic: "", dropped: true }]) },
      { at: 9, end: true },
      { at: 10, frame: serverEnd(2) },
    ],
    expect: {
      outcome: "ok",
      closed: true,
      acked: [{ seq: 2, deadLetters: [{ seq: 2, reason: "ingest queue full: drop_newest", deadLetterTopic: "", dropped: true }] }],
      transmitted: [{ at: 0, frame: publishOpen() }, { at: 7, frame: chunk(1, [1, 2], Priority.LOW) }, { at: 9, frame: publisherEnd(2, 2, 2) }],
    },
  },
  {
    name: "publisher-priority-chunks",
    description:
      "Items CRITICAL, CRITICAL, NORMAL, LOW: a publisher puts items of one priority in a chunk (rule 10), so each change of priority closes the open chunk. Chunks carry priority CRITICAL, none (NORMAL is unset) and LOW; the last closes at its flush deadline.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [
      { at: 0, connect: true },
      { at: 1, frame: opened() },
      { at: 2, push: item(1), priority: Priority.CRITICAL },
      { at: 2, push: item(2), priority: Priority.CRITICAL },
      { at: 2, push: item(3) },
      { at: 2, push: item(4), priority: Priority.LOW },
      { at: 7, timeout: true },
      { at: 8, end: true },
      { at: 9, frame: ack(4, 0) },
      { at: 10, frame: serverEnd(4) },
    ],
    expect: {
      outcome: "ok",
      closed: true,
      acked: [{ seq: 4, deadLetters: [] }],
      transmitted: [
        { at: 0, frame: publishOpen() },
        { at: 2, frame: chunk(1, [1, 2], Priority.CRITICAL) },
        { at: 2, frame: chunk(3, [3]) },
        { at: 7, frame: chunk(4, [4], Priority.LOW) },
        { at: 8, frame: publisherEnd(4, 4, 4) },
      ],
    },
  },
  {
    name: "publisher-rejects-ack-beyond-sent",
    description: "PublishAck{5} when only seq 1 was sent: an ack above the highest seq sent is protocol_violation (§7.1), not retryable.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, ...pushes(2, 1), { at: 7, timeout: true }, { at: 8, frame: ack(5, 0) }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, acked: [], transmitted: [{ at: 0, frame: publishOpen() }, { at: 7, frame: chunk(1, [1]) }] },
  },
  {
    name: "publisher-rejects-dead-letter-beyond-ack",
    description: "PublishAck{1} listing a dead letter for seq 2: a dead letter above its ack's seq is protocol_violation (rule 5).",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, ...pushes(2, 1, 2), { at: 7, timeout: true }, { at: 8, frame: ack(1, 0, [DL(2)]) }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, acked: [], transmitted: [{ at: 0, frame: publishOpen() }, { at: 7, frame: chunk(1, [1, 2]) }] },
  },
  {
    name: "publisher-lost-ack",
    description:
      "PublishAck{1} arrives, then PublishAck{3, after_seq 2}: the ack for (1, 2] was lost, and with it possibly dead letters. Retryable protocol_violation (rule 5): the publisher keeps ack 1 and resumes after it in a new session.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, ...pushes(2, 1, 2, 3), { at: 7, timeout: true }, { at: 8, frame: ack(1, 0) }, { at: 9, frame: ack(3, 2) }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: true, acked: [{ seq: 1, deadLetters: [] }], transmitted: [{ at: 0, frame: publishOpen() }, { at: 7, frame: chunk(1, [1, 2, 3]) }] },
  },
  {
    name: "publisher-opened-needs-window",
    description: "An Opened without window: PublishOpen names none, so the window is required (rule 1, §4.1): protocol_violation naming opened.window.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened(1, null) }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, field: "opened.window", acked: [], transmitted: [{ at: 0, frame: publishOpen() }] },
  },
  {
    name: "publisher-end-with-unacked",
    description:
      "The publisher sends items 1-2 and End; the server acks 1 and answers End. A publisher that receives End while it has unacked items treats the session as lost (rule 8): a retryable error; the next session's first ack reports seq 2.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, ...pushes(2, 1, 2), { at: 3, end: true }, { at: 4, frame: ack(1, 0) }, { at: 5, frame: serverEnd(2) }],
    expect: { outcome: "error", retryable: true, acked: [{ seq: 1, deadLetters: [] }], transmitted: [{ at: 0, frame: publishOpen() }, { at: 3, frame: chunk(1, [1, 2]) }, { at: 3, frame: publisherEnd(2, 2, 2) }] },
  },
  {
    name: "publisher-connection-lost",
    description: "The connection drops after PublishAck{1}: the session is lost (retryable); what was acked stays acked.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [{ at: 0, connect: true }, { at: 1, frame: opened() }, ...pushes(2, 1), { at: 7, timeout: true }, { at: 8, frame: ack(1, 0) }, { at: 9, lost: true }],
    expect: { outcome: "error", retryable: true, acked: [{ seq: 1, deadLetters: [] }], transmitted: [{ at: 0, frame: publishOpen() }, { at: 7, frame: chunk(1, [1]) }] },
  },
  {
    name: "publisher-heartbeats",
    description:
      "Opened at 0 announces 5 s / 15 s: the publisher pings every 5 s from Opened (ids 1, 2, ...), each heartbeat carrying sent_seq 1 once item 1 left (§6), answers the server's ping 9 at once, and after 15 s without any server frame fails with heartbeat_timeout, retryable.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [
      { at: 0, connect: true },
      { at: 0, frame: opened() },
      ...pushes(1, 1),
      { at: 6, timeout: true },
      { at: 5_000, timeout: true },
      { at: 5_001, frame: pong(1) },
      { at: 5_002, frame: ping(9) },
      { at: 10_000, timeout: true },
      { at: 15_000, timeout: true },
      { at: 20_000, timeout: true },
      { at: 20_002, timeout: true },
    ],
    expect: {
      outcome: "error",
      code: "ERROR_CODE_HEARTBEAT_TIMEOUT",
      retryable: true,
      acked: [],
      transmitted: [
        { at: 0, frame: publishOpen() },
        { at: 6, frame: chunk(1, [1]) },
        { at: 5_000, frame: { type: "heartbeat", ping: 1, pong: 0, sentSeq: 1 } },
        { at: 5_002, frame: { type: "heartbeat", ping: 0, pong: 9, sentSeq: 1 } },
        { at: 10_000, frame: { type: "heartbeat", ping: 2, pong: 0, sentSeq: 1 } },
        { at: 15_000, frame: { type: "heartbeat", ping: 3, pong: 0, sentSeq: 1 } },
        { at: 20_000, frame: { type: "heartbeat", ping: 4, pong: 0, sentSeq: 1 } },
      ],
    },
  },
  {
    name: "publisher-any-frame-is-liveness",
    description:
      "Any inbound frame is liveness (§6), a repeated ack too: the server's last frame is a repeat of PublishAck{1} at 9 s, so the publisher keeps pinging every 5 s (ping 4 at 20 s) and times out only at 24 s, 15 s after it.",
    peer: "publisher",
    publisher: PUBLISHER,
    steps: [
      { at: 0, connect: true },
      { at: 0, frame: opened() },
      ...pushes(1, 1),
      { at: 6, timeout: true },
      { at: 7, frame: ack(1, 0) },
      { at: 5_000, timeout: true },
      { at: 9_000, frame: ack(1, 0) },
      { at: 10_000, timeout: true },
      { at: 15_000, timeout: true },
      { at: 20_000, timeout: true },
      { at: 24_000, timeout: true },
    ],
    expect: {
      outcome: "error",
      code: "ERROR_CODE_HEARTBEAT_TIMEOUT",
      retryable: true,
      acked: [{ seq: 1, deadLetters: [] }],
      transmitted: [
        { at: 0, frame: publishOpen() },
        { at: 6, frame: chunk(1, [1]) },
        { at: 5_000, frame: { type: "heartbeat", ping: 1, pong: 0, sentSeq: 1 } },
        { at: 10_000, frame: { type: "heartbeat", ping: 2, pong: 0, sentSeq: 1 } },
        { at: 15_000, frame: { type: "heartbeat", ping: 3, pong: 0, sentSeq: 1 } },
        { at: 20_000, frame: { type: "heartbeat", ping: 4, pong: 0, sentSeq: 1 } },
      ],
    },
  },
];

// The ingest vectors play a publisher without held signals (an older one), so every drain grants
// (§4.5 rule 2); ingest-grants-on-drain-when-publisher-holds plays one that signals.
const OPEN_STEP = { at: 0, frame: publishOpen(0, false) };
const ACCEPT_STEP = { at: 0, accept: { sessionId: "s1", nextSeq: 1 } };
const OPENED = { at: 0, frame: opened() };

/**
 * PublishRequest{chunk{first_seq: 1, items: ["1"], priority: 9}}, written
 * byte by byte: 9 is outside the Priority enum, which no codec produces.
 *   12 07            field 2 (chunk), 7 bytes
 *     08 01          first_seq = 1
 *     12 01 31       items[0] = "1"
 *     30 09          priority = 9
 */
const CHUNK_WITH_PRIORITY_9 = b(0x12, 0x07, 0x08, 0x01, 0x12, 0x01, 0x31, 0x30, 0x09);

export const INGEST_VECTORS: IngestVector[] = [
  {
    name: "ingest-grants-on-drain-when-publisher-holds",
    description:
      "A publisher that announced signals_held: the sink takes items 1..3, which drains the buffer but frees less than the thresholds (5 items, 512 bytes), so no credit. Its heartbeat with held_bytes 900 says it holds an item for byte credit: Credit{13, 1 027} at once (§4.5 rule 2).",
    peer: "ingest",
    ingest: INGEST,
    steps: [{ at: 0, frame: publishOpen() }, ACCEPT_STEP, { at: 1, frame: chunk(1, [1, 2, 3]) }, { at: 2, read: 3 }, { at: 3, frame: { type: "heartbeat", ping: 0, pong: 0, heldBytes: 900 } }],
    expect: { outcome: "ok", read: items(Priority.NORMAL, 1, 2, 3), transmitted: [OPENED, { at: 3, frame: credit(13, 1027) }] },
  },
  {
    name: "ingest-basic-publish",
    description:
      "PublishOpen, resolved: Opened (empty secret and content type, the server's window 10 / 1 024). Chunk 1..3; the sink takes all three, which drains the buffer: Credit{13, 1 027}. Accepting 2 items reaches ack_every: PublishAck{2, after_seq 0}. The publisher's End waits for item 3's fate; accepting it sends the final PublishAck{3, after_seq 2} and End{3}.",
    peer: "ingest",
    ingest: INGEST,
    steps: [OPEN_STEP, ACCEPT_STEP, { at: 1, frame: chunk(1, [1, 2, 3]) }, { at: 2, read: 3 }, { at: 3, accepted: 2 }, { at: 4, frame: publisherEnd(3, 3, 3) }, { at: 5, accepted: 3 }],
    expect: {
      outcome: "ok",
      read: items(Priority.NORMAL, 1, 2, 3),
      transmitted: [OPENED, { at: 2, frame: credit(13, 1027) }, { at: 3, frame: ack(2, 0) }, { at: 5, frame: ack(3, 2) }, { at: 5, frame: serverEnd(3) }],
    },
  },
  {
    name: "ingest-rejects-data-before-open",
    description: "A Chunk as the first publisher frame: the first MUST be PublishOpen (rule 1): protocol_violation, not retryable.",
    peer: "ingest",
    ingest: INGEST,
    steps: [{ at: 0, frame: chunk(1, [1]) }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, read: [], transmitted: [{ at: 0, frame: error("protocol_violation", false) }] },
  },
  {
    name: "ingest-rejects-second-open",
    description: "A second PublishOpen in one session: protocol_violation (rule 1).",
    peer: "ingest",
    ingest: INGEST,
    steps: [OPEN_STEP, ACCEPT_STEP, { at: 1, frame: publishOpen(0, false) }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, read: [], transmitted: [OPENED, { at: 1, frame: error("protocol_violation", false) }] },
  },
  {
    name: "ingest-rejects-gap",
    description: "A publisher's chunk carrying a gap (seqs 1-2 before item 3): a publisher has nothing to report as lost (rule 2): protocol_violation, not retryable.",
    peer: "ingest",
    ingest: INGEST,
    steps: [OPEN_STEP, ACCEPT_STEP, { at: 1, frame: { type: "chunk", firstSeq: 3, items: [item(3)], cursor: NONE, gap: { fromSeq: 1, count: 2, reason: "dropped_oldest" } } }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, read: [], transmitted: [OPENED, { at: 1, frame: error("protocol_violation", false) }] },
  },
  {
    name: "ingest-credit-violation",
    description: "The stream grants publishers 2 items (accept's window, announced in Opened.window): a chunk of items 1..3 exceeds max_seq 2: credit_violation, not retryable (§4.7).",
    peer: "ingest",
    ingest: INGEST,
    steps: [OPEN_STEP, { at: 0, accept: { sessionId: "s1", nextSeq: 1, window: { items: 2, bytes: 1024 } } }, { at: 1, frame: chunk(1, [1, 2, 3]) }],
    expect: {
      outcome: "error",
      code: "ERROR_CODE_CREDIT_VIOLATION",
      retryable: false,
      read: [],
      transmitted: [{ at: 0, frame: opened(1, { items: 2, bytes: 1024 }) }, { at: 1, frame: error("credit_violation", false) }],
    },
  },
  {
    name: "ingest-end-waits-for-fates",
    description:
      "Items 1-2 taken (drained: Credit{12, 1 026}), then the publisher's End{2}. Accepting item 1 fates only part of it; nothing is answered until item 2 is dead-lettered too: then the final PublishAck{2} with the dead letter, and End{2} (rule 8).",
    peer: "ingest",
    ingest: INGEST,
    steps: [OPEN_STEP, ACCEPT_STEP, { at: 1, frame: chunk(1, [1, 2]) }, { at: 2, read: 2 }, { at: 3, frame: publisherEnd(2, 2, 2) }, { at: 4, accepted: 1 }, { at: 5, deadLettered: DL(2) }],
    expect: {
      outcome: "ok",
      read: items(Priority.NORMAL, 1, 2),
      transmitted: [OPENED, { at: 2, frame: credit(12, 1026) }, { at: 5, frame: ack(2, 0, [DL(2)]) }, { at: 5, frame: serverEnd(2) }],
    },
  },
  {
    name: "ingest-resume-fates",
    description:
      "PublishOpen with resume_after_seq 3; the publisher's next seq is 8 and its dead letters on record are seqs 2 and 5. Right after Opened{next_seq 8}, PublishAck{7, after_seq 3} lists the dead letters in (3, 7], seq 5 only (rule 6). Item 8 is taken (drained: Credit{18, 1 025}) and accepted: one unsent ack, below ack_every 2, so PublishAck{8, after_seq 7} goes at its 5 ms ack delay (§7.2).",
    peer: "ingest",
    ingest: INGEST,
    steps: [
      { at: 0, frame: publishOpen(3, false) },
      { at: 0, accept: { sessionId: "s2", nextSeq: 8, deadLetters: [DL(2, "schema: old"), DL(5)] } },
      { at: 1, frame: chunk(8, [8]) },
      { at: 2, read: 1 },
      { at: 3, accepted: 8 },
      { at: 8, timeout: true },
    ],
    expect: {
      outcome: "ok",
      read: items(Priority.NORMAL, 8),
      transmitted: [{ at: 0, frame: opened(8, WINDOW, "s2") }, { at: 0, frame: ack(7, 3, [DL(5)]) }, { at: 2, frame: credit(18, 1025) }, { at: 8, frame: ack(8, 7) }],
    },
  },
  {
    name: "ingest-priorities",
    description:
      "Chunks of priority unset (NORMAL), CRITICAL (items 2-3), LOW and HIGH: each item the sink takes has its chunk's priority (rule 10). Taking the fifth item frees 5 items, the threshold: Credit{15, 1 029}; accepting all five sends PublishAck{5}.",
    peer: "ingest",
    ingest: INGEST,
    steps: [
      OPEN_STEP,
      ACCEPT_STEP,
      { at: 1, frame: chunk(1, [1]) },
      { at: 1, frame: chunk(2, [2, 3], Priority.CRITICAL) },
      { at: 1, frame: chunk(4, [4], Priority.LOW) },
      { at: 1, frame: chunk(5, [5], Priority.HIGH) },
      { at: 2, read: 5 },
      { at: 3, accepted: 5 },
    ],
    expect: {
      outcome: "ok",
      read: [...items(Priority.NORMAL, 1), ...items(Priority.CRITICAL, 2, 3), ...items(Priority.LOW, 4), ...items(Priority.HIGH, 5)],
      transmitted: [OPENED, { at: 2, frame: credit(15, 1029) }, { at: 3, frame: ack(5, 0) }],
    },
  },
  {
    name: "ingest-rejects-unknown-priority",
    description: "A chunk whose priority is 9, outside the Priority enum (raw bytes: no codec produces it): protocol_violation naming chunk.priority (rule 10).",
    peer: "ingest",
    ingest: INGEST,
    steps: [OPEN_STEP, ACCEPT_STEP, { at: 1, raw: CHUNK_WITH_PRIORITY_9 }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: false, read: [], transmitted: [OPENED, { at: 1, frame: error("protocol_violation", false, "chunk.priority") }] },
  },
  {
    name: "ingest-dropped-dead-letter",
    description:
      "Two LOW items taken (Credit{12, 1 026} on drain). Item 1 is accepted; the ingest queue drops item 2: the ack (now 2 unsent, ack_every) lists it with dropped true, its reason and an empty dead_letter_topic, whatever the stream's dead-letter topic (rule 10).",
    peer: "ingest",
    ingest: INGEST,
    steps: [
      OPEN_STEP,
      ACCEPT_STEP,
      { at: 1, frame: chunk(1, [1, 2], Priority.LOW) },
      { at: 2, read: 2 },
      { at: 3, accepted: 1 },
      { at: 3, deadLettered: { seq: 2, reason: "ingest queue full: drop_newest", deadLetterTopic: "orders.dlq", dropped: true } },
    ],
    expect: {
      outcome: "ok",
      read: items(Priority.LOW, 1, 2),
      transmitted: [OPENED, { at: 2, frame: credit(12, 1026) }, { at: 3, frame: ack(2, 0, [{ seq: 2, reason: "ingest queue full: drop_newest", deadLetterTopic: "", dropped: true }]) }],
    },
  },
  {
    name: "ingest-end-beyond-received",
    description: "The publisher's End says last seq 5 but only items up to 3 arrived: a sequence break (§7.4), protocol_violation, retryable (the publisher resends what is unacked).",
    peer: "ingest",
    ingest: INGEST,
    steps: [OPEN_STEP, ACCEPT_STEP, { at: 1, frame: chunk(1, [1, 2, 3]) }, { at: 2, frame: publisherEnd(5, 5, 5) }],
    expect: { outcome: "error", code: "ERROR_CODE_PROTOCOL_VIOLATION", retryable: true, read: [], transmitted: [OPENED, { at: 2, frame: error("protocol_violation", true) }] },
  },
];
