/**
 * @sluice/protocol/ws: the generated Connect-over-WebSocket envelope
 * (proto/sluice/ws/v1, PROTOCOL.md §14).
 */
export * from "./gen/sluice/ws/v1/websocket_pb.js";
