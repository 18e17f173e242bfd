/**
 * Maps @sluice/core frames to the generated wire messages and back, and
 * encodes/decodes the stream messages with a size check before decoding.
 *
 * uint64 fields arrive as bigint; core uses JS numbers, so anything above
 * 2^53 - 1 is rejected as a protocol violation naming the field
 * (PROTOCOL.md §2) instead of silently losing precision.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  EMPTY_BYTES,
  ERROR_CODES,
  SluiceError,
  type ClientFrame,
  type ErrorCode,
  type Gap,
  type GapReason,
  type HeartbeatFrame,
  type Limits,
  type Priority,
  type ServerFrame,
} from "@sluice/core";
import type { ErrorCode as WireErrorCode } from "./gen/sluice/v1/errors_pb.js";
import {
  ClientFrameSchema,
  GapReason as WireGapReason,
  ServerFrameSchema,
  type ClientFrame as WireClientFrame,
  type Gap as WireGap,
  type Limits as WireLimits,
  type ServerFrame as WireServerFrame,
} from "./gen/sluice/v1/frames_pb.js";
import { SubscribeRequestSchema, SubscribeResponseSchema } from "./gen/sluice/v1/service_pb.js";
import { decodeChunkMessage, encodeChunkFrameField, TAG_RESPONSE_FRAME } from "./chunk-encoding.js";
import { decodeControlMessage, encodeControlMessage } from "./control-encoding.js";
import { priorityFromWire, priorityToWire } from "./priority.js";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A heartbeat's wire value, both directions (sent_seq only when the frame has one). */
function heartbeatToWire(frame: HeartbeatFrame): { ping: bigint; pong: bigint; sentSeq?: bigint; heldBytes?: bigint; pongDelayUs?: bigint } {
  return {
    ping: BigInt(frame.ping),
    pong: BigInt(frame.pong),
    ...(frame.sentSeq ? { sentSeq: BigInt(frame.sentSeq) } : {}),
    ...(frame.heldBytes ? { heldBytes: BigInt(frame.heldBytes) } : {}),
    ...(frame.pongDelayUs ? { pongDelayUs: BigInt(frame.pongDelayUs) } : {}),
  };
}

/** A wire heartbeat as a core frame (sent_seq 0: none). */
function heartbeatFromWire(value: { ping: bigint; pong: bigint; sentSeq: bigint; heldBytes: bigint; pongDelayUs: bigint }): HeartbeatFrame {
  return {
    type: "heartbeat",
    ping: num(value.ping, "heartbeat.ping"),
    pong: num(value.pong, "heartbeat.pong"),
    ...(value.sentSeq !== 0n ? { sentSeq: num(value.sentSeq, "heartbeat.sent_seq") } : {}),
    ...(value.heldBytes !== 0n ? { heldBytes: num(value.heldBytes, "heartbeat.held_bytes") } : {}),
    ...(value.pongDelayUs !== 0n ? { pongDelayUs: num(value.pongDelayUs, "heartbeat.pong_delay_us") } : {}),
  };
}

/** A uint64 off the wire as a JS number; above 2^53 - 1 it is a protocol violation naming `field` (PROTOCOL.md §2). */
export function num(value: bigint, field: string): number {
  if (value > MAX_SAFE) {
    throw new SluiceError("protocol_violation", `${field} is ${value}, above 2^53-1`, { blame: "remote", field });
  }
  return Number(value);
}

const GAP_REASONS: Record<WireGapReason, GapReason> = {
  [WireGapReason.UNSPECIFIED]: "unspecified",
  [WireGapReason.DROPPED_OLDEST]: "dropped_oldest",
  [WireGapReason.DROPPED_NEWEST]: "dropped_newest",
  [WireGapReason.HISTORY_EXPIRED]: "history_expired",
  [WireGapReason.RESTARTED]: "restarted",
};
const WIRE_GAP_REASONS: Record<GapReason, WireGapReason> = {
  unspecified: WireGapReason.UNSPECIFIED,
  dropped_oldest: WireGapReason.DROPPED_OLDEST,
  dropped_newest: WireGapReason.DROPPED_NEWEST,
  history_expired: WireGapReason.HISTORY_EXPIRED,
  restarted: WireGapReason.RESTARTED,
};

/** Core error code for a wire enum value (enum value n is ERROR_CODES[n-1]). */
export function errorCodeFromWire(code: WireErrorCode): ErrorCode {
  return ERROR_CODES[code - 1] ?? "internal";
}

/** Wire enum value for a core error code (the inverse of {@link errorCodeFromWire}). */
export function errorCodeToWire(code: ErrorCode): WireErrorCode {
  return (ERROR_CODES.indexOf(code) + 1) as WireErrorCode;
}

function gapFromWire(gap: WireGap | undefined, field: string): Gap | undefined {
  if (!gap) return undefined;
  return { fromSeq: num(gap.fromSeq, `${field}.from_seq`), count: num(gap.count, `${field}.count`), reason: GAP_REASONS[gap.reason] ?? "unspecified" };
}

function gapToWire(gap: Gap | undefined) {
  return gap ? { fromSeq: BigInt(gap.fromSeq), count: BigInt(gap.count), reason: WIRE_GAP_REASONS[gap.reason] } : undefined;
}

function limitsFromWire(l: WireLimits | undefined): Limits {
  if (!l) throw new SluiceError("protocol_violation", "opened.limits: required", { blame: "remote", field: "opened.limits" });
  return {
    maxFrameBytes: l.maxFrameBytes,
    maxItemBytes: l.maxItemBytes,
    maxWindowItems: l.maxWindowItems,
    maxWindowBytes: num(l.maxWindowBytes, "opened.limits.max_window_bytes"),
    heartbeatIntervalMs: l.heartbeatIntervalMs,
    heartbeatTimeoutMs: l.heartbeatTimeoutMs,
  };
}

/** Core client frame -> wire init object (for `create`). */
export function clientFrameToWire(frame: ClientFrame): WireClientFrame {
  switch (frame.type) {
    case "open":
      return create(ClientFrameSchema, {
        kind: {
          case: "open",
          value: {
            stream: frame.stream,
            params: frame.params,
            window: frame.window && { items: frame.window.items, bytes: BigInt(frame.window.bytes) },
            heartbeatIntervalMs: frame.heartbeatIntervalMs,
            resume: frame.resume && {
              seq: BigInt(frame.resume.seq),
              cursor: frame.resume.cursor,
              cursorSeq: BigInt(frame.resume.cursorSeq),
              sessionId: frame.resume.sessionId,
            },
            clientInfo: frame.clientInfo,
          },
        },
      });
    case "credit":
      return create(ClientFrameSchema, { kind: { case: "credit", value: { maxSeq: BigInt(frame.maxSeq), maxBytes: BigInt(frame.maxBytes) } } });
    case "ack":
      return create(ClientFrameSchema, { kind: { case: "ack", value: { seq: BigInt(frame.seq) } } });
    case "heartbeat":
      return create(ClientFrameSchema, { kind: { case: "heartbeat", value: heartbeatToWire(frame) } });
    case "cancel":
      return create(ClientFrameSchema, { kind: { case: "cancel", value: { reason: frame.reason } } });
  }
}

/** Wire client frame -> core frame. Throws protocol_violation (blame remote) on an empty or out-of-range frame. */
export function clientFrameFromWire(wire: WireClientFrame): ClientFrame {
  const kind = wire.kind;
  switch (kind.case) {
    case "open": {
      const o = kind.value;
      // No window: the stream's default (PROTOCOL.md §4.1).
      return {
        type: "open",
        stream: o.stream,
        params: o.params ?? {},
        window: o.window && { items: o.window.items, bytes: num(o.window.bytes, "window.bytes") },
        heartbeatIntervalMs: o.heartbeatIntervalMs,
        resume: o.resume && {
          seq: num(o.resume.seq, "resume.seq"),
          cursor: o.resume.cursor,
          cursorSeq: num(o.resume.cursorSeq, "resume.cursor_seq"),
          sessionId: o.resume.sessionId,
        },
        clientInfo: o.clientInfo,
      };
    }
    case "credit":
      return { type: "credit", maxSeq: num(kind.value.maxSeq, "credit.max_seq"), maxBytes: num(kind.value.maxBytes, "credit.max_bytes") };
    case "ack":
      return { type: "ack", seq: num(kind.value.seq, "ack.seq") };
    case "heartbeat":
      return heartbeatFromWire(kind.value);
    case "cancel":
      return { type: "cancel", reason: kind.value.reason };
    case undefined:
      throw new SluiceError("protocol_violation", "client frame has no kind set (empty or unknown frame)", { blame: "remote" });
  }
}

/** Core server frame -> wire message. */
export function serverFrameToWire(frame: ServerFrame): WireServerFrame {
  switch (frame.type) {
    case "opened":
      return create(ServerFrameSchema, {
        kind: {
          case: "opened",
          value: {
            sessionId: frame.sessionId,
            sessionSecret: frame.sessionSecret,
            nextSeq: BigInt(frame.nextSeq),
            limits: { ...frame.limits, maxWindowBytes: BigInt(frame.limits.maxWindowBytes) },
            contentType: frame.contentType,
            resume: frame.resume && {
              requestedSeq: BigInt(frame.resume.requestedSeq),
              nextSeq: BigInt(frame.resume.nextSeq),
              replayed: BigInt(frame.resume.replayed),
              gap: gapToWire(frame.resume.gap),
            },
            window: frame.window && { items: frame.window.items, bytes: BigInt(frame.window.bytes) },
            ...(frame.cursor ? { cursor: frame.cursor } : {}),
            ...(frame.signalsHeld ? { signalsHeld: true } : {}),
          },
        },
      });
    case "chunk":
      return create(ServerFrameSchema, {
        kind: {
          case: "chunk",
          value: {
            firstSeq: BigInt(frame.firstSeq),
            items: frame.items as Uint8Array[],
            fragment: frame.fragment && { totalBytes: BigInt(frame.fragment.totalBytes), offset: BigInt(frame.fragment.offset), data: frame.fragment.data },
            cursor: frame.cursor,
            priority: priorityToWire(frame.priority),
            gap: gapToWire(frame.gap),
            ...(frame.subjects ? { subjects: frame.subjects as string[] } : {}),
          },
        },
      });
    case "heartbeat":
      return create(ServerFrameSchema, { kind: { case: "heartbeat", value: heartbeatToWire(frame) } });
    case "end":
      return create(ServerFrameSchema, {
        kind: { case: "end", value: { lastSeq: BigInt(frame.lastSeq), cursor: frame.cursor, sessionItems: BigInt(frame.sessionItems), sessionBytes: BigInt(frame.sessionBytes) } },
      });
    case "error":
      return create(ServerFrameSchema, {
        kind: { case: "error", value: { code: errorCodeToWire(frame.code), message: frame.message, retryable: frame.retryable, retryAfterMs: frame.retryAfterMs, field: frame.field } },
      });
  }
}

/**
 * Wire server frame -> core frame. Throws protocol_violation (blame remote) on
 * an empty or out-of-range frame, or on an Opened without limits.
 */
export function serverFrameFromWire(wire: WireServerFrame): ServerFrame {
  const kind = wire.kind;
  switch (kind.case) {
    case "opened": {
      const o = kind.value;
      return {
        type: "opened",
        sessionId: o.sessionId,
        sessionSecret: o.sessionSecret,
        nextSeq: num(o.nextSeq, "opened.next_seq"),
        limits: limitsFromWire(o.limits),
        contentType: o.contentType,
        resume: o.resume && {
          requestedSeq: num(o.resume.requestedSeq, "opened.resume.requested_seq"),
          nextSeq: num(o.resume.nextSeq, "opened.resume.next_seq"),
          replayed: num(o.resume.replayed, "opened.resume.replayed"),
          gap: gapFromWire(o.resume.gap, "opened.resume.gap"),
        },
        window: o.window && { items: o.window.items, bytes: num(o.window.bytes, "opened.window.bytes") },
        ...(o.cursor.byteLength > 0 ? { cursor: o.cursor } : {}),
        ...(o.signalsHeld ? { signalsHeld: true } : {}),
      };
    }
    case "chunk": {
      const c = kind.value;
      const f = c.fragment;
      if (f && c.items.length > 0) {
        throw new SluiceError("protocol_violation", "chunk carries both items and a fragment", { blame: "remote" });
      }
      if (c.subjects.length > 0) {
        // One subject per item; a fragmented item's rides on the fragment that completes it (PROTOCOL.md §7.10).
        const completes = f !== undefined && f.offset + BigInt(f.data.byteLength) === f.totalBytes;
        const want = f ? (completes ? 1 : 0) : c.items.length;
        if (c.subjects.length !== want) {
          throw new SluiceError("protocol_violation", `chunk.subjects: ${c.subjects.length} subjects for ${f ? (completes ? "the fragment that completes an item (1)" : "a fragment that does not complete its item (0)") : `${c.items.length} items`}`, { blame: "remote", field: "chunk.subjects" });
        }
      }
      return {
        type: "chunk",
        firstSeq: num(c.firstSeq, "chunk.first_seq"),
        items: c.items,
        fragment: f && { totalBytes: num(f.totalBytes, "chunk.fragment.total_bytes"), offset: num(f.offset, "chunk.fragment.offset"), data: f.data },
        cursor: c.cursor.byteLength > 0 ? c.cursor : EMPTY_BYTES,
        gap: gapFromWire(c.gap, "chunk.gap"),
        ...priorityField(c.priority),
        ...(c.subjects.length > 0 ? { subjects: c.subjects } : {}),
      };
    }
    case "heartbeat":
      return heartbeatFromWire(kind.value);
    case "end":
      return {
        type: "end",
        lastSeq: num(kind.value.lastSeq, "end.last_seq"),
        cursor: kind.value.cursor,
        sessionItems: num(kind.value.sessionItems, "end.session_items"),
        sessionBytes: num(kind.value.sessionBytes, "end.session_bytes"),
      };
    case "error":
      return {
        type: "error",
        code: errorCodeFromWire(kind.value.code),
        message: kind.value.message,
        retryable: kind.value.retryable,
        retryAfterMs: kind.value.retryAfterMs,
        field: kind.value.field,
      };
    case undefined:
      throw new SluiceError("protocol_violation", "server frame has no kind set (empty or unknown frame)", { blame: "remote" });
  }
}

/** Refuses a message over the max frame size before decoding it (limit_exceeded, blame remote). */
export function checkFrameSize(bytes: Uint8Array, maxFrameBytes: number): void {
  if (bytes.byteLength > maxFrameBytes) {
    throw new SluiceError("limit_exceeded", `frame of ${bytes.byteLength} bytes exceeds the max frame size ${maxFrameBytes}`, { blame: "remote" });
  }
}

/** The protocol_violation for bytes that do not decode as `what`. */
export function malformedFrame(what: string, cause: unknown): SluiceError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new SluiceError("protocol_violation", `malformed ${what}: ${detail}`, { blame: "remote", cause });
}

/** Encodes a client frame as a SubscribeRequest message (the bytes on the wire). */
export function encodeClientFrame(frame: ClientFrame): Uint8Array {
  const control = encodeControlMessage(frame, "client");
  if (control) return control;
  return toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { frame: clientFrameToWire(frame) }));
}

/** Decodes a SubscribeRequest; checks the size first, then the frame's contents. */
export function decodeClientFrame(bytes: Uint8Array, maxFrameBytes: number): ClientFrame {
  checkFrameSize(bytes, maxFrameBytes);
  const control = decodeControlMessage(bytes, "client");
  if (control) return control;
  let message;
  try {
    message = fromBinary(SubscribeRequestSchema, bytes, { readUnknownFields: false });
  } catch (cause) {
    throw malformedFrame("client frame", cause);
  }
  if (!message.frame) throw new SluiceError("protocol_violation", "client frame missing", { blame: "remote" });
  return clientFrameFromWire(message.frame);
}

/**
 * Encodes a server frame as a SubscribeResponse message (the bytes on the
 * wire); chunks without a gap take the hand-written chunk encoder, with the
 * same bytes.
 */
export function encodeServerFrame(frame: ServerFrame): Uint8Array {
  const chunk = frame.type === "chunk" ? encodeChunkFrameField(frame, TAG_RESPONSE_FRAME) : undefined;
  if (chunk) return chunk;
  const control = encodeControlMessage(frame, "server");
  if (control) return control;
  return toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, { frame: serverFrameToWire(frame) }));
}

/** Decodes a SubscribeResponse; checks the size first, then the frame's contents. */
export function decodeServerFrame(bytes: Uint8Array, maxFrameBytes: number): ServerFrame {
  checkFrameSize(bytes, maxFrameBytes);
  const control = decodeControlMessage(bytes, "server");
  if (control) return control;
  const chunk = decodeChunkMessage(bytes);
  if (chunk) return chunk;
  let message;
  try {
    message = fromBinary(SubscribeResponseSchema, bytes, { readUnknownFields: false });
  } catch (cause) {
    throw malformedFrame("server frame", cause);
  }
  if (!message.frame) throw new SluiceError("protocol_violation", "server frame missing", { blame: "remote" });
  return serverFrameFromWire(message.frame);
}

/** A chunk's wire priority as core's optional field: absent for NORMAL (and UNSPECIFIED), so normal chunks look as they did before priorities. */
function priorityField(wire: number): { priority?: Priority } {
  if (wire === 0) return {};
  const priority = priorityFromWire(wire, "chunk.priority");
  return priority === undefined ? {} : { priority };
}
