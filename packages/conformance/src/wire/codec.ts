/**
 * The messages of the Subscribe service in either codec Connect speaks:
 * binary protobuf or proto3 JSON (PROTOCOL.md §2, §3). Frames go through
 * @sluice/protocol's mapping, so a value the wire allows but a JavaScript
 * peer must refuse (above 2^53 − 1) fails here as it would in any client.
 */
import { create, fromBinary, fromJsonString, toBinary, toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { ClientFrame, ServerFrame } from "@sluice/core";
import { clientFrameToWire, ControlRequestSchema, serverFrameFromWire, SubscribeHalfDuplexRequestSchema, SubscribeHalfDuplexResponseSchema, SubscribeRequestSchema, SubscribeResponseSchema, type Open } from "@sluice/protocol";

/** The codec of a call: binary protobuf or proto3 JSON. */
export type Codec = "binary" | "json";

/** Content type of a streaming call (Connect: application/connect+proto | +json). */
export function streamContentType(codec: Codec): string {
  return codec === "binary" ? "application/connect+proto" : "application/connect+json";
}

/** Content type of a unary call (Connect: application/proto | application/json). */
export function unaryContentType(codec: Codec): string {
  return codec === "binary" ? "application/proto" : "application/json";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeMessage<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, codec: Codec): Uint8Array {
  return codec === "binary" ? toBinary(schema, message) : encoder.encode(toJsonString(schema, message));
}

export function decodeMessage<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array, codec: Codec): MessageShape<Desc> {
  return codec === "binary" ? fromBinary(schema, bytes) : fromJsonString(schema, decoder.decode(bytes), { ignoreUnknownFields: true });
}

/** A SubscribeRequest carrying `frame`. */
export function encodeSubscribeRequest(frame: ClientFrame, codec: Codec): Uint8Array {
  return encodeMessage(SubscribeRequestSchema, create(SubscribeRequestSchema, { frame: clientFrameToWire(frame) }), codec);
}

/** The SubscribeHalfDuplexRequest carrying an Open. */
export function encodeHalfDuplexRequest(open: ClientFrame & { type: "open" }, codec: Codec): Uint8Array {
  const wire = clientFrameToWire(open).kind.value as Open;
  return encodeMessage(SubscribeHalfDuplexRequestSchema, create(SubscribeHalfDuplexRequestSchema, { open: wire }), codec);
}

/** A ControlRequest. */
export function encodeControlRequest(sessionId: string, sessionSecret: Uint8Array, frames: readonly ClientFrame[], codec: Codec): Uint8Array {
  return encodeMessage(ControlRequestSchema, create(ControlRequestSchema, { sessionId, sessionSecret, frames: frames.map(clientFrameToWire) }), codec);
}

/** The server frame of a SubscribeResponse / SubscribeHalfDuplexResponse (same shape: field 1 `frame`). */
export function decodeServerFrameMessage(bytes: Uint8Array, codec: Codec, halfDuplex: boolean): ServerFrame {
  const message = halfDuplex ? decodeMessage(SubscribeHalfDuplexResponseSchema, bytes, codec) : decodeMessage(SubscribeResponseSchema, bytes, codec);
  if (!message.frame) throw new Error("response message without a frame");
  return serverFrameFromWire(message.frame);
}
