/**
 * Between Connect messages and Sluice frames: requests decoded into client
 * frames (with Connect's own refusals turned into the session's error),
 * frames into response messages (chunks pre-encoded), SluiceErrors into
 * ConnectErrors for unary answers.
 */
import { create, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { SluiceError, type ClientFrame, type PublishFrame, type ServerFrame } from "@sluice/core";
import { clientFrameFromWire, connectCodeNumberOf, preEncodedChunkResponse, publishFrameFromWire, serverFrameToWire, type PublishRequest, type SubscribeHalfDuplexResponseSchema, type SubscribeRequest, type SubscribeResponseSchema } from "@sluice/protocol";

/**
 * A SluiceError as the ConnectError a unary call fails with: the Connect
 * code of @sluice/protocol's one table, and the Sluice error itself in
 * response headers (PROTOCOL.md §9.3), so a client keeps its code,
 * retryability and field.
 */
export function toConnectError(error: SluiceError): ConnectError {
  const metadata: Record<string, string> = { "sluice-error": error.code, "sluice-retryable": String(error.retryable) };
  if (error.field) metadata["sluice-field"] = error.field;
  return new ConnectError(error.message, connectCodeNumberOf(error.code) as Code, metadata, undefined, error);
}

/** Binary protobuf (Connect, gRPC, gRPC-web) rather than JSON: chunks may then go pre-encoded. */
export function isBinaryRequest(context: HandlerContext): boolean {
  return !/json/i.test(context.requestHeader.get("content-type") ?? "");
}

/**
 * The response message for a frame. Chunks, the bulk of the traffic, are
 * encoded by hand into one sized buffer when the call is binary
 * (@sluice/protocol's preEncodedChunkResponse; 1.0-1.5x faster than
 * protobuf-es per chunk, `npm run bench:chunk`). JSON calls get the plain
 * message: JSON serialization ignores unknown fields.
 */
export function responseOf<Desc extends typeof SubscribeResponseSchema | typeof SubscribeHalfDuplexResponseSchema>(schema: Desc, frame: ServerFrame, binary: boolean): MessageShape<Desc> {
  if (binary && frame.type === "chunk") {
    const fast = preEncodedChunkResponse(schema, frame);
    if (fast) return fast;
  }
  return create(schema, { frame: serverFrameToWire(frame) } as never) as MessageShape<Desc>;
}

/**
 * Client frames from Connect's request messages. A request Connect itself
 * refused becomes the session's error, as on the direct path: a message over
 * readMaxBytes (max_frame_bytes) is LIMIT_EXCEEDED, one that does not parse
 * is PROTOCOL_VIOLATION (PROTOCOL.md §2), so the client gets an Error frame
 * naming it instead of a bare end of stream.
 */
export async function* decodeRequests(requests: AsyncIterable<SubscribeRequest>): AsyncIterable<ClientFrame> {
  try {
    for await (const request of requests) {
      if (!request.frame) throw new SluiceError("protocol_violation", "request without a frame", { blame: "remote" });
      yield clientFrameFromWire(request.frame);
    }
  } catch (error) {
    throw sessionErrorOf(error);
  }
}

/** Publish frames from Connect's PublishRequest messages, with Connect's refusals as the session's error (as decodeRequests). */
export async function* decodePublishRequests(requests: AsyncIterable<PublishRequest>): AsyncIterable<PublishFrame> {
  try {
    for await (const request of requests) yield publishFrameFromWire(request);
  } catch (error) {
    throw sessionErrorOf(error);
  }
}

/** A request Connect refused, as the SluiceError the session fails with. */
function sessionErrorOf(error: unknown): unknown {
  if (error instanceof ConnectError && error.code === Code.ResourceExhausted) return new SluiceError("limit_exceeded", error.rawMessage, { blame: "remote", cause: error });
  if (error instanceof ConnectError && (error.code === Code.InvalidArgument || error.rawMessage.startsWith("parse "))) return new SluiceError("protocol_violation", error.rawMessage, { blame: "remote", cause: error });
  return error;
}
