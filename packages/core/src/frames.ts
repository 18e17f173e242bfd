/**
 * The frames of Sluice protocol v1 as plain values (PROTOCOL.md §3).
 *
 * Core speaks these, not the generated protobuf classes: they use JS numbers
 * for seq and byte offsets (exact up to 2^53 - 1, which PROTOCOL.md §2 makes a
 * hard limit for JS peers), carry no reflection metadata, and keep core free
 * of any dependency. `@sluice/protocol` maps them to and from the wire.
 */
import type { ErrorCode } from "./errors.js";

/** A JSON value, as carried by `Open.params` (a protobuf Struct on the wire). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** How much a receiver is willing to buffer beyond what it has consumed. */
export interface Window {
  readonly items: number;
  readonly bytes: number;
}

/** Absolute limits: items with seq <= maxSeq, session payload up to maxBytes. */
export interface Credit {
  readonly maxSeq: number;
  readonly maxBytes: number;
}

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

export type GapReason = "unspecified" | "dropped_oldest" | "dropped_newest" | "history_expired" | "restarted";

/** Seqs [fromSeq, fromSeq + count) were skipped and will never be sent. */
export interface Gap {
  readonly fromSeq: number;
  readonly count: number;
  readonly reason: GapReason;
}

export interface Fragment {
  readonly totalBytes: number;
  readonly offset: number;
  readonly data: Uint8Array;
}

export interface Limits {
  readonly maxFrameBytes: number;
  readonly maxItemBytes: number;
  readonly maxWindowItems: number;
  readonly maxWindowBytes: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
}

export interface ResumeResult {
  readonly requestedSeq: number;
  readonly nextSeq: number;
  readonly replayed: number;
  readonly gap?: Gap | undefined;
}

// ---- client -> server -------------------------------------------------------

export interface OpenFrame {
  readonly type: "open";
  readonly stream: string;
  readonly params: JsonObject;
  /** Absent: the stream's default window, announced in Opened (PROTOCOL.md §4.1). */
  readonly window?: Window | undefined;
  readonly heartbeatIntervalMs: number;
  readonly resume?: ResumePosition | undefined;
  readonly clientInfo: string;
}

export interface CreditFrame extends Credit {
  readonly type: "credit";
}

export interface AckFrame {
  readonly type: "ack";
  readonly seq: number;
}

/** ping != 0 asks for a pong; pong != 0 answers a ping. Both peers send these. */
export interface HeartbeatFrame {
  readonly type: "heartbeat";
  readonly ping: number;
  readonly pong: number;
}

export interface CancelFrame {
  readonly type: "cancel";
  readonly reason: string;
}

// ---- server -> client -------------------------------------------------------

export interface OpenedFrame {
  readonly type: "opened";
  readonly sessionId: string;
  readonly sessionSecret: Uint8Array;
  readonly nextSeq: number;
  readonly limits: Limits;
  readonly contentType: string;
  readonly resume?: ResumeResult | undefined;
  /** The window in force: Open's, clamped, or the stream's default (absent from servers before it existed). */
  readonly window?: Window | undefined;
}

export interface ChunkFrame {
  readonly type: "chunk";
  readonly firstSeq: number;
  /** Whole items firstSeq, firstSeq + 1, ...; empty when `fragment` is set. */
  readonly items: readonly Uint8Array[];
  readonly fragment?: Fragment | undefined;
  /** Cursor after the last complete item of the chunk; empty when none. */
  readonly cursor: Uint8Array;
  readonly gap?: Gap | undefined;
}

export interface EndFrame {
  readonly type: "end";
  readonly lastSeq: number;
  readonly cursor: Uint8Array;
  readonly sessionItems: number;
  readonly sessionBytes: number;
}

export interface ErrorFrame {
  readonly type: "error";
  readonly code: ErrorCode;
  readonly message: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number;
  readonly field: string;
}

export type ClientFrame = OpenFrame | CreditFrame | AckFrame | HeartbeatFrame | CancelFrame;
export type ServerFrame = OpenedFrame | ChunkFrame | HeartbeatFrame | EndFrame | ErrorFrame;

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** Payload bytes of a chunk: item data or fragment data (what byte credit counts). */
export function chunkPayloadBytes(chunk: ChunkFrame): number {
  if (chunk.fragment) return chunk.fragment.data.byteLength;
  let total = 0;
  for (const item of chunk.items) total += item.byteLength;
  return total;
}
