/**
 * @sluice/protocol/ws: the generated Connect-over-WebSocket envelope
 * (proto/sluice/ws/v1, PROTOCOL.md §14), and the varint helpers its hand
 * encoder shares with the chunk encoder.
 *
 * @module @sluice/protocol/ws
 */
export * from "./gen/sluice/ws/v1/websocket_pb.js";
export { varintSize, writeVarint } from "./varint.js";
