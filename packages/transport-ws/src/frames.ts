/**
 * Frames on the wire (PROTOCOL.md §14.1): one WebSocketFrame per binary
 * message, with @sluice/protocol's generated codec, except CallData's
 * header, encoded by hand on the hot path; and header lists.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { varintSize, WebSocketFrameSchema, writeVarint, type Header, type WebSocketFrame } from "@sluice/protocol/ws";
import { messageTooBig, protocolError, type SocketClose } from "./close-codes.js";

/** What a frame carries (the `kind` oneof), as given to `encodeFrame`. */
export type FrameKind = NonNullable<MessageInitShape<typeof WebSocketFrameSchema>["kind"]>;

export function encodeFrame(callId: number, kind: FrameKind): Uint8Array {
  return toBinary(WebSocketFrameSchema, create(WebSocketFrameSchema, { callId, kind }));
}

/** The frame in one WebSocket message, or why the socket must close (1002 not binary or not a frame, 1009 too big). */
export function decodeFrame(data: unknown, maxFrameBytes: number): WebSocketFrame | SocketClose {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : undefined;
  if (!bytes) return protocolError("text message: frames are binary");
  if (bytes.byteLength > maxFrameBytes) return messageTooBig(bytes.byteLength, maxFrameBytes);
  try {
    return fromBinary(WebSocketFrameSchema, bytes);
  } catch (error) {
    return protocolError(`malformed frame: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The bytes of WebSocketFrame{call_id, data: CallData{data}} that precede the
 * payload, as protobuf encodes them (field order, minimal varints). By hand:
 * it is the hot path, and protobuf's writer would grow a buffer by doubling
 * and copy the payload several times.
 */
export function dataFrameHeader(callId: number, dataLength: number): Uint8Array {
  // proto3 leaves out an empty bytes field: CallData{} is empty then.
  const innerLength = dataLength > 0 ? 1 + varintSize(dataLength) + dataLength : 0;
  const header = new Uint8Array((callId > 0 ? 1 + varintSize(callId) : 0) + 1 + varintSize(innerLength) + (dataLength > 0 ? 1 + varintSize(dataLength) : 0));
  let pos = 0;
  if (callId > 0) {
    header[pos++] = 0x08; // call_id (field 1), varint; proto3 omits zero
    pos = writeVarint(header, pos, callId);
  }
  header[pos++] = 0x22; // data (field 4), length-delimited
  pos = writeVarint(header, pos, innerLength);
  if (dataLength === 0) return header;
  header[pos++] = 0x0a; // CallData.data (field 1), length-delimited
  writeVarint(header, pos, dataLength);
  return header;
}

/**
 * The longest header `dataFrameHeader` makes (three tags and three 5-byte
 * varints): a writer that leaves this many free bytes before its payload
 * lets the frame be built in place, without a copy (MuxCall.write's
 * `headroom`).
 */
export const DATA_FRAME_HEADROOM_BYTES = 18;

/** The whole CallData frame in one buffer (one copy of the payload). */
export function encodeDataFrame(callId: number, data: Uint8Array): Uint8Array {
  const header = dataFrameHeader(callId, data.byteLength);
  const frame = new Uint8Array(header.byteLength + data.byteLength);
  frame.set(header, 0);
  frame.set(data, header.byteLength);
  return frame;
}

export function toHeaderList(headers: Headers): Header[] {
  const list: Header[] = [];
  headers.forEach((value, name) => list.push({ $typeName: "sluice.ws.v1.Header", name, value }));
  return list;
}

/** Headers from the wire, or undefined if a name or value is not valid HTTP. */
export function fromHeaderList(list: readonly Header[]): Headers | undefined {
  const headers = new Headers();
  try {
    for (const { name, value } of list) headers.append(name, value);
  } catch {
    return undefined;
  }
  return headers;
}

/** Whether `decodeFrame` refused the message. */
export function isSocketClose(decoded: WebSocketFrame | SocketClose): decoded is SocketClose {
  return !("$typeName" in decoded);
}
