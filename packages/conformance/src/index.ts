/**
 * @sluice/conformance: checks a Sluice server against PROTOCOL.md from the
 * wire (the `sluice-conformance` CLI), and the raw clients it is built on,
 * which tests use to speak each mode by hand.
 *
 * @module @sluice/conformance
 */
export { runConformance, formatResult, CHECKS, type RunOptions, type RunSummary, type CheckResult } from "./runner.js";
export { StrictSession, Violation } from "./strict-session.js";
export { STREAMS as CONFORMANCE_STREAMS, type Check, type CheckContext } from "./check.js";
export { RawSession, MODES, CODECS, SUBSCRIBE_PATH, websocketUrlOf, type Mode, type Target } from "./wire/raw-session.js";
export { openH2Call, type H2CallOptions } from "./wire/h2-call.js";
export { openHalfDuplexCall, controlCall, http1Agent, type Http1Options, type UnaryResult } from "./wire/http1-call.js";
export { WsSocket, WEBSOCKET_SUBPROTOCOL, type WsSocketOptions } from "./wire/ws-call.js";
export { TimeoutError, type Received } from "./wire/inbox.js";
export type { CallEnd, RawCall } from "./wire/call.js";
export type { Codec } from "./wire/codec.js";
