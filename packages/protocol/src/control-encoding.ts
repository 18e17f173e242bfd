/**
 * Heartbeats, credits and acks encoded and decoded by hand, as chunks are
 * (chunk-encoding.ts): they are what an idle session sends, every
 * heartbeat interval, on every session. protobuf-es builds a message object,
 * a growing writer and a bigint per field for each; with 10 000 idle
 * sessions that was a tenth of the client's heartbeat cost (issue 20).
 *
 * These frames are flat messages of varints, wrapped twice: the RPC message
 * (SubscribeRequest / SubscribeResponse, field 1) around the frame's oneof
 * field around the frame. The encoder writes protobuf-es' canonical bytes
 * (fields in number order, zeros omitted, minimal varints); the decoder
 * takes exactly that shape and anything else a canonical encoder could not
 * produce (fields out of order, repeated, or an over-long varint) it leaves
 * to protobuf-es by answering undefined, so every rule (an unknown field, a
 * value above 2^53 - 1, a truncated message) keeps its one implementation
 * there. Property tests check both against protobuf-es.
 */
import type { AckFrame, ClientFrame, CreditFrame, HeartbeatFrame, ServerFrame } from "@sluice/core";
import { allocUninitialised } from "./alloc.js";
import { varintSize, writeVarint } from "./varint.js";

/** The frames this codec takes. */
export type ControlFrame = CreditFrame | AckFrame | HeartbeatFrame;

/** Which RPC message wraps the frame: its oneof field numbers differ. */
export type ControlSide = "client" | "server";

const TAG_MESSAGE_FRAME = 0x0a; // SubscribeRequest.frame = 1 / SubscribeResponse.frame = 1, length-delimited
// The oneof field of each frame, length-delimited: ClientFrame credit = 2, ack = 3, heartbeat = 4; ServerFrame heartbeat = 3.
const CLIENT_TAG = { credit: 0x12, ack: 0x1a, heartbeat: 0x22 } as const;
const SERVER_TAG = { heartbeat: 0x1a } as const;

/** The frame's varint fields (number order, field 1 first), zeros included; `count` of them. */
function fieldValues(frame: ControlFrame, out: number[]): number {
  switch (frame.type) {
    case "credit":
      out[0] = frame.maxSeq;
      out[1] = frame.maxBytes;
      return 2;
    case "ack":
      out[0] = frame.seq;
      return 1;
    case "heartbeat":
      out[0] = frame.ping;
      out[1] = frame.pong;
      out[2] = frame.sentSeq ?? 0;
      out[3] = frame.heldBytes ?? 0;
      out[4] = frame.pongDelayUs ?? 0;
      return 5;
  }
}

const scratch: number[] = [0, 0, 0, 0, 0];

/**
 * The RPC message carrying `frame`, with `headroom` free bytes before it
 * (for the caller's envelope prefix); undefined for a frame this codec does
 * not take (Open, Cancel, Opened, Chunk, End, Error, or a credit or ack on
 * the server side, where they do not exist).
 */
export function encodeControlMessage(frame: ClientFrame | ServerFrame, side: ControlSide, headroom = 0): Uint8Array | undefined {
  const type = frame.type;
  const tag = side === "client" ? (type === "credit" || type === "ack" || type === "heartbeat" ? CLIENT_TAG[type] : undefined) : type === "heartbeat" ? SERVER_TAG.heartbeat : undefined;
  if (tag === undefined) return undefined;
  const count = fieldValues(frame as ControlFrame, scratch);
  let innerSize = 0;
  for (let i = 0; i < count; i++) if (scratch[i] !== 0) innerSize += 1 + varintSize(scratch[i]!);
  const frameSize = 1 + varintSize(innerSize) + innerSize;
  const out = allocUninitialised(headroom + 1 + varintSize(frameSize) + frameSize);
  let pos = headroom;
  out[pos++] = TAG_MESSAGE_FRAME;
  pos = writeVarint(out, pos, frameSize);
  out[pos++] = tag;
  pos = writeVarint(out, pos, innerSize);
  for (let i = 0; i < count; i++) {
    const value = scratch[i]!;
    if (value === 0) continue;
    out[pos++] = (i + 1) << 3; // field i + 1, varint
    pos = writeVarint(out, pos, value);
  }
  return out;
}

/**
 * The frame in an RPC message of canonical shape (see above), or undefined:
 * then the caller decodes it with protobuf-es, which also names whatever is
 * wrong with it.
 */
export function decodeControlMessage(bytes: Uint8Array, side: "client"): ControlFrame | undefined;
/** A server's control message: a heartbeat, the one control frame a server sends. */
export function decodeControlMessage(bytes: Uint8Array, side: "server"): HeartbeatFrame | undefined;
/** Either side's, by `side`. */
export function decodeControlMessage(bytes: Uint8Array, side: ControlSide): ControlFrame | undefined;
export function decodeControlMessage(bytes: Uint8Array, side: ControlSide): ControlFrame | undefined {
  const length = bytes.byteLength;
  if (length < 3 || bytes[0] !== TAG_MESSAGE_FRAME) return undefined;
  // Lengths of a control message fit in one varint byte (at most 5 fields of 9 bytes): anything longer is not one.
  if (bytes[1]! !== length - 2) return undefined;
  const tag = bytes[2]!;
  let type: ControlFrame["type"];
  if (side === "client") {
    if (tag === CLIENT_TAG.credit) type = "credit";
    else if (tag === CLIENT_TAG.ack) type = "ack";
    else if (tag === CLIENT_TAG.heartbeat) type = "heartbeat";
    else return undefined;
  } else if (tag === SERVER_TAG.heartbeat) type = "heartbeat";
  else return undefined;
  if (length < 4 || bytes[3]! !== length - 4) return undefined;
  const maxField = type === "credit" ? 2 : type === "ack" ? 1 : 5;
  const values = [0, 0, 0, 0, 0];
  let last = 0;
  let pos = 4;
  while (pos < length) {
    const fieldTag = bytes[pos++]!;
    const field = fieldTag >> 3;
    // Varint fields of this frame only, each at most once and in number order.
    if ((fieldTag & 7) !== 0 || field <= last || field > maxField) return undefined;
    last = field;
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      // A safe integer has at most 8 varint bytes (53 bits); longer ones go to protobuf-es.
      if (pos >= length || i === 8) return undefined;
      const byte = bytes[pos++]!;
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) {
        // A zero is omitted by a canonical encoder, and a varint does not end in a zero byte but for 0 itself.
        if ((byte === 0 && i > 0) || value === 0) return undefined;
        break;
      }
    }
    if (value > Number.MAX_SAFE_INTEGER) return undefined;
    values[field - 1] = value;
  }
  switch (type) {
    case "credit":
      return { type, maxSeq: values[0]!, maxBytes: values[1]! };
    case "ack":
      return { type, seq: values[0]! };
    case "heartbeat":
      return { type, ping: values[0]!, pong: values[1]!, ...(values[2] !== 0 ? { sentSeq: values[2]! } : {}), ...(values[3] !== 0 ? { heldBytes: values[3]! } : {}), ...(values[4] !== 0 ? { pongDelayUs: values[4]! } : {}) };
  }
}
