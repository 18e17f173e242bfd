/**
 * @sluice/protocol/testing: a service with every Connect method kind
 * (proto/sluice/testing/v1), for transport tests. Not part of the protocol.
 *
 * @module @sluice/protocol/testing
 */
export * from "./gen/sluice/testing/v1/echo_pb.js";
