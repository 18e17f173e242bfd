/**
 * The frames of Sluice protocol v1 as plain values (PROTOCOL.md §3).
 *
 * Core speaks these, not the generated protobuf classes: they use JS numbers
 * for seq and byte offsets (exact up to 2^53 - 1, which PROTOCOL.md §2 makes a
 * hard limit for JS peers), carry no reflection metadata, and keep core free
 * of any dependency. `@sluice/protocol` maps them to and from the wire.
 */
import type { ErrorCode } from "./errors.js";
import type { Priority } from "./priority-queue.js";

/** A JSON value, as carried by `Open.params` (a protobuf Struct on the wire). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object: the shape of `Open.params`, the parameters a stream takes. */
export type JsonObject = { [key: string]: JsonValue };

/** How much a receiver is willing to buffer beyond what it has consumed. */
export interface Window {
  /** Items the receiver accepts beyond what it has consumed (at least 1). */
  readonly items: number;
  /** Payload bytes the receiver accepts beyond what it has consumed (at least 1). */
  readonly bytes: number;
}

/** Absolute limits: items with seq <= maxSeq, session payload up to maxBytes. */
export interface Credit {
  /** The sender may send items with seq <= maxSeq. */
  readonly maxSeq: number;
  /** The sender may send payload up to this byte offset of the session. */
  readonly maxBytes: number;
}

/** Where a resumed session continues: the server numbers on after `seq` (PROTOCOL.md §7.3, §7.6). */
export interface ResumePosition {
  /** Last seq the client processed; nothing <= seq is sent again. */
  readonly seq: number;
  /** Cursor of the last chunk at or before `seq` (empty when unknown). */
  readonly cursor: Uint8Array;
  /** Seq of the last item `cursor` covers. */
  readonly cursorSeq: number;
  /** Session whose replay buffer may still hold the items (may be ""). */
  readonly sessionId: string;
}

/**
 * Why seqs were skipped: a slow subscriber's queue dropped them, the history no
 * longer holds them, or the source restarted since the resume position.
 */
export type GapReason = "unspecified" | "dropped_oldest" | "dropped_newest" | "history_expired" | "restarted";

/** Seqs [fromSeq, fromSeq + count) were skipped and will never be sent. */
export interface Gap {
  /** First skipped seq. */
  readonly fromSeq: number;
  /** How many consecutive seqs were skipped. */
  readonly count: number;
  /** Why they were skipped. */
  readonly reason: GapReason;
}

/** One piece of an item too large for one chunk (PROTOCOL.md §5.3). */
export interface Fragment {
  /** Size of the whole item. */
  readonly totalBytes: number;
  /** Offset of `data` within the item. */
  readonly offset: number;
  /** The bytes of this piece (never empty). */
  readonly data: Uint8Array;
}

/** The limits a server applies to a session, announced in Opened (PROTOCOL.md §10). */
export interface Limits {
  /** Largest encoded RPC message either side accepts, without the envelope prefix. */
  readonly maxFrameBytes: number;
  /** Largest item; bounds fragment reassembly. */
  readonly maxItemBytes: number;
  /** The server clamps `window.items` to this. */
  readonly maxWindowItems: number;
  /** The server clamps `window.bytes` to this. */
  readonly maxWindowBytes: number;
  /** How often each peer pings, after heartbeat negotiation (PROTOCOL.md §6). */
  readonly heartbeatIntervalMs: number;
  /** A peer silent this long is dead (heartbeat_timeout). */
  readonly heartbeatTimeoutMs: number;
}

/** How a resume went, so the application can tell what happened (PROTOCOL.md §7.7). */
export interface ResumeResult {
  /** The seq the client asked to resume after (`resume.seq`). */
  readonly requestedSeq: number;
  /** The first seq this session sends. */
  readonly nextSeq: number;
  /** Items the server re-read or re-sent to honour the position. */
  readonly replayed: number;
  /** Set when seqs between `requestedSeq` and `nextSeq` are lost. */
  readonly gap?: Gap | undefined;
}

// ---- client -> server -------------------------------------------------------

/**
 * First frame of a subscription, exactly once: which stream, with which
 * parameters, window and heartbeat interval, and where to resume.
 */
export interface OpenFrame {
  /** Tells client frames apart. */
  readonly type: "open";
  /** Name of a stream configured on the server. */
  readonly stream: string;
  /** Stream parameters, validated by the server (errors name the field). */
  readonly params: JsonObject;
  /** Absent: the stream's default window, announced in Opened (PROTOCOL.md §4.1). */
  readonly window?: Window | undefined;
  /** Heartbeat interval the client asks for; 0 lets the server choose. */
  readonly heartbeatIntervalMs: number;
  /** Present when resuming an earlier subscription. */
  readonly resume?: ResumePosition | undefined;
  /** Free-form client identification for logs ("sluice-client-node/0.1"). */
  readonly clientInfo: string;
}

/** An absolute credit limit; a smaller value than one already received is ignored. */
export interface CreditFrame extends Credit {
  /** Tells client frames apart. */
  readonly type: "credit";
}

/** Cumulative acknowledgement: every item with seq <= `seq` is processed (PROTOCOL.md §7.1). */
export interface AckFrame {
  /** Tells client frames apart. */
  readonly type: "ack";
  /** Highest processed seq (0: nothing yet). */
  readonly seq: number;
}

/** ping != 0 asks for a pong; pong != 0 answers a ping. Both peers send these. */
export interface HeartbeatFrame {
  /** Tells heartbeats apart from the other frames. */
  readonly type: "heartbeat";
  /** Non-zero: asks the peer to answer with pong = ping. */
  readonly ping: number;
  /** Non-zero: answers the peer's ping with that value. */
  readonly pong: number;
  /** A data sender's: the last seq whose item went out whole before this heartbeat (absent: none this session). */
  readonly sentSeq?: number;
  /** A data sender's: the size of an item it holds because the byte rule does not admit it yet (PROTOCOL.md §4.5; absent: none). */
  readonly heldBytes?: number;
  /** With a pong: how long the peer held it, in microseconds (PROTOCOL.md §6: a data sender answers a ping that rode on a pong with its next ping; absent: at once). */
  readonly pongDelayUs?: number;
}

/** The client no longer wants the stream; the server stops the source and answers with End. */
export interface CancelFrame {
  /** Tells client frames apart. */
  readonly type: "cancel";
  /** Why the client cancelled, for logs. */
  readonly reason: string;
}

// ---- server -> client -------------------------------------------------------

/**
 * The server's answer to Open: the session's identity, limits and first seq.
 * Precedes every Chunk, End and server ping of the session.
 */
export interface OpenedFrame {
  /** Tells server frames apart. */
  readonly type: "opened";
  /** Identifies the session (logs, resume from the replay buffer, Control calls). */
  readonly sessionId: string;
  /** Secret binding half-duplex Control calls to this session. */
  readonly sessionSecret: Uint8Array;
  /** Seq of the first item the session sends. */
  readonly nextSeq: number;
  /** The limits this session runs under. */
  readonly limits: Limits;
  /** MIME type of item payloads ("application/json", "application/x-protobuf; ..."). */
  readonly contentType: string;
  /** Present exactly when the Open resumed: how the resume went. */
  readonly resume?: ResumeResult | undefined;
  /** The window in force: Open's, clamped, or the stream's default (absent from servers before it existed). */
  readonly window?: Window | undefined;
  /** The source cursor at seq nextSeq − 1, when the server knows it (PROTOCOL.md §7.3): the receiver's first checkpoint. */
  readonly cursor?: Uint8Array | undefined;
  /** The server signals an item it holds for byte credit (heartbeat heldBytes), so its receiver grants on drain only then (§4.5). */
  readonly signalsHeld?: boolean;
}

/** Consecutive whole items, or one fragment of an item, optionally preceded by a gap (PROTOCOL.md §5). */
export interface ChunkFrame {
  /** Tells server frames apart. */
  readonly type: "chunk";
  /** Seq of `items[0]`, or of the item `fragment` belongs to. */
  readonly firstSeq: number;
  /** Whole items firstSeq, firstSeq + 1, ...; empty when `fragment` is set. */
  readonly items: readonly Uint8Array[];
  /** A piece of item `firstSeq`; set only when `items` is empty. */
  readonly fragment?: Fragment | undefined;
  /** Cursor after the last complete item of the chunk; empty when none. */
  readonly cursor: Uint8Array;
  /** Seqs skipped right before `firstSeq`; a gap consumes no credit. */
  readonly gap?: Gap | undefined;
  /** Publish only: the priority of every item of the chunk, for the server's ingest queue (absent: NORMAL; PROTOCOL.md §3.4 rule 10). */
  readonly priority?: Priority | undefined;
  /**
   * A filtered stream's chunks (PROTOCOL.md §7.10): each item's subject,
   * `subjects[i]` for `items[i]`; one entry on the fragment that completes
   * an item. Absent for streams without subjects.
   */
  readonly subjects?: readonly string[] | undefined;
}

/** The stream is complete, or the answer to Cancel. Nothing follows it (PROTOCOL.md §8). */
export interface EndFrame {
  /** Tells server frames apart. */
  readonly type: "end";
  /** Seq of the last item of the stream, or the last one sent before a Cancel (0: none). */
  readonly lastSeq: number;
  /** Source cursor after the last item (empty: none). */
  readonly cursor: Uint8Array;
  /** Whole items this session transmitted. */
  readonly sessionItems: number;
  /** Payload bytes this session transmitted. */
  readonly sessionBytes: number;
}

/** The session failed; nothing follows. The fields mirror {@link SluiceError}. */
export interface ErrorFrame {
  /** Tells server frames apart. */
  readonly type: "error";
  /** What went wrong. */
  readonly code: ErrorCode;
  /** Human-readable, names the offending thing ("stream not configured: books"). */
  readonly message: string;
  /** Whether the same request may succeed later. */
  readonly retryable: boolean;
  /** When retryable: wait at least this long before retrying (0: the client's backoff). */
  readonly retryAfterMs: number;
  /** For invalid_argument: the offending field path ("params.limit"). */
  readonly field: string;
}

/** Every frame a subscriber sends, told apart by `type`. */
export type ClientFrame = OpenFrame | CreditFrame | AckFrame | HeartbeatFrame | CancelFrame;
/** Every frame a server sends, told apart by `type`. */
export type ServerFrame = OpenedFrame | ChunkFrame | HeartbeatFrame | EndFrame | ErrorFrame;

/** A shared empty byte array: the empty cursor, secret or item. */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** Payload bytes of a chunk: item data or fragment data (what byte credit counts). */
export function chunkPayloadBytes(chunk: ChunkFrame): number {
  if (chunk.fragment) return chunk.fragment.data.byteLength;
  let total = 0;
  for (const item of chunk.items) total += item.byteLength;
  return total;
}

// ---- publish (ingest): publisher -> server, server -> publisher -------------

/**
 * First frame of a publish session, exactly once (PROTOCOL.md §3.4): which
 * stream to publish into, as which publisher, and the last seq the publisher
 * knows was accepted. The server answers Opened, whose next_seq says where the
 * publisher's numbering continues.
 */
export interface PublishOpenFrame {
  /** Tells the frames apart. */
  readonly type: "publish_open";
  /** The stream (a topic or sink configured on the server). */
  readonly stream: string;
  /** Who publishes: the server deduplicates by (publisher id, seq). */
  readonly publisherId: string;
  /** The last seq the publisher knows was accepted (0: none). */
  readonly resumeAfterSeq: number;
  /** The heartbeat interval the publisher asks for; 0 lets the server choose. */
  readonly heartbeatIntervalMs: number;
  /** The publisher signals an item it holds for byte credit (heartbeat heldBytes), so the server grants on drain only then (§4.5). */
  readonly signalsHeld?: boolean;
}

/** One item the server did not take into the stream, and why (it went to a dead-letter stream). */
export interface DeadLetter {
  /** The publisher's seq of the item. */
  readonly seq: number;
  /** Why it was refused ("validation: ...", "sink: ..."). */
  readonly reason: string;
  /** The stream the item was parked in; empty when there is none. */
  readonly deadLetterTopic: string;
  /** The server's ingest queue dropped it by its overflow policy: it is in no stream (PROTOCOL.md §3.4 rule 10). */
  readonly dropped?: boolean;
}

/**
 * Cumulative: every item of the publisher up to `seq` was accepted by the sink
 * or dead-lettered (those are listed, once each).
 */
export interface PublishAckFrame {
  /** Tells the frames apart. */
  readonly type: "publish_ack";
  /** The highest seq accepted or dead-lettered, with all below it. */
  readonly seq: number;
  /** The items up to `seq` that were dead-lettered and not reported before. */
  readonly deadLetters: readonly DeadLetter[];
  /** The stream's lag-based throttle for the last batch this ack covers (absent: the stream has none). */
  readonly throttle?: PublishThrottle;
  /** The ack before this one in the session (the first: resume_after_seq); its dead letters are those in (afterSeq, seq]. */
  readonly afterSeq?: number;
}

/** Where a stream's lag-based throttle stood for a batch (PROTOCOL.md §3.4.2). */
export interface PublishThrottle {
  /** normal (no delay), throttled (a fixed delay), backoff (an exponential one). */
  readonly state: "normal" | "throttled" | "backoff";
  /** The backoff level (0 unless backing off). */
  readonly level: number;
  /** How long the batch waited before its sink write. */
  readonly delayMs: number;
}

/** What a publisher sends: a subscription's sender frames, with PublishOpen first and Cancel to give up. */
export type PublishFrame = PublishOpenFrame | ChunkFrame | HeartbeatFrame | EndFrame | CancelFrame;
/** What the server answers a publisher: a subscription's receiver frames, with PublishAck for Ack, and Opened, End and Error. */
export type IngestFrame = OpenedFrame | CreditFrame | PublishAckFrame | HeartbeatFrame | EndFrame | ErrorFrame;
