/**
 * The conformance vectors, written as frames with hand-written expected
 * outcomes (PROTOCOL.md §12). write-vectors.ts turns them into
 * proto/vectors/v1/*.json with each frame's protobuf JSON form and its binary
 * encoding as hex. Expectations are normative: they come from PROTOCOL.md,
 * never from running an implementation.
 */
import { CONTROL_VECTORS } from "./vectors/control.js";
import { INGEST_VECTORS, PUBLISHER_VECTORS } from "./vectors/publish.js";
import { RECEIVER_VECTORS } from "./vectors/receiver.js";
import { SENDER_VECTORS } from "./vectors/sender.js";
import type { Vector } from "./vectors/types.js";
import { WEBSOCKET_VECTORS } from "./vectors/websocket.js";

export type { ControlVector, IngestVector, PublisherVector, ReceiverVector, SenderVector, Vector, WebSocketVector } from "./vectors/types.js";
export { LIMITS as VECTOR_LIMITS } from "./vectors/common.js";

export const VECTORS: Vector[] = [...RECEIVER_VECTORS, ...SENDER_VECTORS, ...CONTROL_VECTORS, ...WEBSOCKET_VECTORS, ...PUBLISHER_VECTORS, ...INGEST_VECTORS];
