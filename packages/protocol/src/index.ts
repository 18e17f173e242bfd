/**
 * @sluice/protocol: the generated Sluice v1 messages and services, and the
 * codec between them and @sluice/core's frames.
 *
 * @module @sluice/protocol
 */
export {
  encodeClientFrame,
  decodeClientFrame,
  encodeServerFrame,
  decodeServerFrame,
  clientFrameToWire,
  clientFrameFromWire,
  serverFrameToWire,
  serverFrameFromWire,
  errorCodeToWire,
  errorCodeFromWire,
  num as wireNumber,
} from "./codec.js";
export { encodePublishFrame, decodePublishFrame, encodeIngestFrame, decodeIngestFrame, publishFrameToWire, publishFrameFromWire, ingestFrameToWire, ingestFrameFromWire, publishAckToWire, publishAckFromWire } from "./publish-codec.js";
export { CONNECT_CODE_NUMBERS, CONNECT_FAILURES, connectCodeNumberOf, errorFromConnect, type AnyConnectCodeName } from "./connect-errors.js";
export { EnvelopeReader, encodeEnvelope, writeEnvelopePrefix, ENVELOPE_PREFIX_BYTES, ENVELOPE_FLAG_COMPRESSED, ENVELOPE_FLAG_END_STREAM, type Envelope } from "./envelope.js";
export { decodeChunkMessage, encodeChunkFrameField, preEncodedChunkResponse, TAG_RESPONSE_FRAME } from "./chunk-encoding.js";
export { decodeControlMessage, encodeControlMessage, type ControlFrame, type ControlSide } from "./control-encoding.js";
export { priorityFromWire, priorityToWire } from "./priority.js";
export * from "./gen/sluice/v1/frames_pb.js";
export * from "./gen/sluice/v1/errors_pb.js";
export * from "./gen/sluice/v1/service_pb.js";
