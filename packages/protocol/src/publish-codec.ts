/**
 * Maps @sluice/core's publish frames to the generated PublishRequest and
 * PublishResponse messages and back, and encodes/decodes them with a size
 * check before decoding (PROTOCOL.md §3.4). The frames a publish session
 * shares with a subscription (Chunk, Heartbeat, End, Opened, Credit, Error)
 * map exactly as they do there: through the subscription's codec, so one
 * rule lives in one place.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { SluiceError, type IngestFrame, type PublishAckFrame, type PublishFrame } from "@sluice/core";
import { checkFrameSize, clientFrameFromWire, clientFrameToWire, malformedFrame, num, serverFrameFromWire, serverFrameToWire } from "./codec.js";
import { ClientFrameSchema, ServerFrameSchema } from "./gen/sluice/v1/frames_pb.js";
import { PublishRequestSchema, PublishResponseSchema, ThrottleState, type PublishAck, type PublishAckSchema, type PublishRequest, type PublishResponse } from "./gen/sluice/v1/service_pb.js";

/** A server frame's wire value (Opened, Chunk, Heartbeat, End, Error), as the subscription codec makes it. */
function serverValue(frame: Parameters<typeof serverFrameToWire>[0]) {
  return serverFrameToWire(frame).kind;
}

/** Core publish frame -> PublishRequest. */
export function publishFrameToWire(frame: PublishFrame): PublishRequest {
  switch (frame.type) {
    case "publish_open":
      return create(PublishRequestSchema, {
        kind: {
          case: "open",
          value: {
            stream: frame.stream,
            publisherId: frame.publisherId,
            resumeAfterSeq: BigInt(frame.resumeAfterSeq),
            heartbeatIntervalMs: frame.heartbeatIntervalMs,
            ...(frame.signalsHeld ? { signalsHeld: true } : {}),
          },
        },
      });
    case "chunk":
    case "heartbeat":
    case "end": {
      const kind = serverValue(frame);
      return create(PublishRequestSchema, { kind: kind as PublishRequest["kind"] });
    }
    case "cancel":
      return create(PublishRequestSchema, { kind: { case: "cancel", value: { reason: frame.reason } } });
  }
}

/** PublishRequest -> core publish frame. Throws protocol_violation (blame remote) on an empty or out-of-range frame. */
export function publishFrameFromWire(wire: PublishRequest): PublishFrame {
  const kind = wire.kind;
  switch (kind.case) {
    case "open":
      return {
        type: "publish_open",
        stream: kind.value.stream,
        publisherId: kind.value.publisherId,
        resumeAfterSeq: num(kind.value.resumeAfterSeq, "open.resume_after_seq"),
        heartbeatIntervalMs: kind.value.heartbeatIntervalMs,
        ...(kind.value.signalsHeld ? { signalsHeld: true } : {}),
      };
    case "chunk":
    case "heartbeat":
    case "end":
      return serverFrameFromWire(create(ServerFrameSchema, { kind })) as PublishFrame;
    case "cancel":
      return { type: "cancel", reason: kind.value.reason };
    case undefined:
      throw new SluiceError("protocol_violation", "publish request has no kind set (empty or unknown frame)", { blame: "remote" });
  }
}

const THROTTLE_STATES = ["normal", "throttled", "backoff"] as const;
const THROTTLE_STATE_WIRE = { normal: ThrottleState.NORMAL, throttled: ThrottleState.THROTTLED, backoff: ThrottleState.BACKOFF } as const;

/** A core PublishAck (with its dead letters and throttle) as the wire's message, for streams and for PublishBatch answers. */
export function publishAckToWire(frame: Omit<PublishAckFrame, "type">): MessageInitShape<typeof PublishAckSchema> {
  return {
    seq: BigInt(frame.seq),
    deadLetters: frame.deadLetters.map((d) => ({ seq: BigInt(d.seq), reason: d.reason, deadLetterTopic: d.deadLetterTopic, ...(d.dropped ? { dropped: true } : {}) })),
    ...(frame.throttle ? { throttle: { state: THROTTLE_STATE_WIRE[frame.throttle.state], level: frame.throttle.level, delayMs: Math.min(frame.throttle.delayMs, 0xffff_ffff) } } : {}),
    ...(frame.afterSeq !== undefined ? { afterSeq: BigInt(frame.afterSeq) } : {}),
  };
}

/** The wire's PublishAck as a core frame (an absent one: seq 0). Throws protocol_violation (blame remote) on out-of-range values. */
export function publishAckFromWire(ack: PublishAck | undefined): PublishAckFrame {
  const throttle = ack?.throttle;
  if (throttle && !(throttle.state >= ThrottleState.NORMAL && throttle.state <= ThrottleState.BACKOFF)) {
    throw new SluiceError("protocol_violation", `ack.throttle.state: unknown value ${throttle.state}`, { field: "ack.throttle.state", blame: "remote" });
  }
  return {
    type: "publish_ack",
    seq: num(ack?.seq ?? 0n, "ack.seq"),
    deadLetters: (ack?.deadLetters ?? []).map((d, i) => ({ seq: num(d.seq, `ack.dead_letters[${i}].seq`), reason: d.reason, deadLetterTopic: d.deadLetterTopic, ...(d.dropped ? { dropped: true } : {}) })),
    ...(throttle ? { throttle: { state: THROTTLE_STATES[throttle.state - ThrottleState.NORMAL]!, level: throttle.level, delayMs: throttle.delayMs } } : {}),
    ...(ack?.afterSeq !== undefined ? { afterSeq: num(ack.afterSeq, "ack.after_seq") } : {}),
  };
}

/** Core ingest frame -> PublishResponse. */
export function ingestFrameToWire(frame: IngestFrame): PublishResponse {
  switch (frame.type) {
    case "opened":
    case "heartbeat":
    case "end":
    case "error":
      return create(PublishResponseSchema, { kind: serverValue(frame) as PublishResponse["kind"] });
    case "credit":
      return create(PublishResponseSchema, { kind: clientFrameToWire(frame).kind as PublishResponse["kind"] });
    case "publish_ack":
      return create(PublishResponseSchema, { kind: { case: "ack", value: publishAckToWire(frame) } });
  }
}

/** PublishResponse -> core ingest frame. Throws protocol_violation (blame remote) on an empty or out-of-range frame. */
export function ingestFrameFromWire(wire: PublishResponse): IngestFrame {
  const kind = wire.kind;
  switch (kind.case) {
    case "opened":
    case "heartbeat":
    case "end":
    case "error":
      return serverFrameFromWire(create(ServerFrameSchema, { kind })) as IngestFrame;
    case "credit":
      return clientFrameFromWire(create(ClientFrameSchema, { kind })) as IngestFrame;
    case "ack":
      return publishAckFromWire(kind.value);
    case undefined:
      throw new SluiceError("protocol_violation", "publish response has no kind set (empty or unknown frame)", { blame: "remote" });
  }
}

/** Encodes a publish frame as a PublishRequest (the bytes on the wire). */
export function encodePublishFrame(frame: PublishFrame): Uint8Array {
  return toBinary(PublishRequestSchema, publishFrameToWire(frame));
}

/** Decodes a PublishRequest; checks the size first, then the frame's contents. */
export function decodePublishFrame(bytes: Uint8Array, maxFrameBytes: number): PublishFrame {
  checkFrameSize(bytes, maxFrameBytes);
  let message;
  try {
    message = fromBinary(PublishRequestSchema, bytes, { readUnknownFields: false });
  } catch (cause) {
    throw malformedFrame("publish request", cause);
  }
  return publishFrameFromWire(message);
}

/** Encodes an ingest frame as a PublishResponse (the bytes on the wire). */
export function encodeIngestFrame(frame: IngestFrame): Uint8Array {
  return toBinary(PublishResponseSchema, ingestFrameToWire(frame));
}

/** Decodes a PublishResponse; checks the size first, then the frame's contents. */
export function decodeIngestFrame(bytes: Uint8Array, maxFrameBytes: number): IngestFrame {
  checkFrameSize(bytes, maxFrameBytes);
  let message;
  try {
    message = fromBinary(PublishResponseSchema, bytes, { readUnknownFields: false });
  } catch (cause) {
    throw malformedFrame("publish response", cause);
  }
  return ingestFrameFromWire(message);
}
