/**
 * The WebSocket close codes of sluice.ws.v1 (PROTOCOL.md §14.1, §14.4), why
 * each is sent, and what a close means for the calls still open on the
 * socket: the one place that says so.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** WebSocket close codes this transport uses. */
export const CloseCode = {
  /** A side is done with the socket (a client closing its transport). */
  normal: 1000,
  /** The server is shutting down, after go_away. */
  goingAway: 1001,
  /** A malformed frame, an unknown call id, data after half-close, a window overrun. */
  protocolError: 1002,
  /** Too many pings. */
  policyViolation: 1008,
  /** A message over the size limit (the `ws` server closes with this on its own). */
  messageTooBig: 1009,
  /** Nothing arrived within the keepalive timeout. */
  keepaliveTimeout: 4000,
} as const;

export type CloseCodeName = keyof typeof CloseCode;

export interface CloseCodeRule {
  /** When a side closes with it. */
  readonly when: string;
  /** The code the calls still open on the socket fail with. */
  readonly callsFailWith: Code;
}

/**
 * Every close fails the open calls with UNAVAILABLE (§14.4: "a socket closed
 * without go_away fails its open calls with UNAVAILABLE"): whatever broke the
 * socket, the call itself may succeed on a new one, so clients retry it.
 */
export const CLOSE_CODE_RULES: { readonly [name in CloseCodeName]: CloseCodeRule } = {
  normal: { when: "a side is done with the socket (a client closing its transport)", callsFailWith: Code.Unavailable },
  goingAway: { when: "the server is shutting down: after go_away, once its last call ended or at the end of the grace", callsFailWith: Code.Unavailable },
  protocolError: { when: "a text or malformed frame, a frame without a kind, an unknown or reused call id, data after half-close, a window overrun or overflow, a frame from the wrong side", callsFailWith: Code.Unavailable },
  policyViolation: { when: "a ping flood (more than the allowed pings per second)", callsFailWith: Code.Unavailable },
  messageTooBig: { when: "a message over the receiver's frame limit", callsFailWith: Code.Unavailable },
  keepaliveTimeout: { when: "the peer was silent for the keepalive timeout", callsFailWith: Code.Unavailable },
};

/** Why a socket must close: the code to send and a reason naming what was wrong. */
export interface SocketClose {
  readonly code: number;
  readonly reason: string;
}

export const protocolError = (reason: string): SocketClose => ({ code: CloseCode.protocolError, reason });
export const pingFlood = (pingsPerSecond: number): SocketClose => ({ code: CloseCode.policyViolation, reason: `ping flood: more than ${pingsPerSecond} pings per second` });
export const messageTooBig = (bytes: number, limit: number): SocketClose => ({ code: CloseCode.messageTooBig, reason: `frame of ${bytes} bytes, over the limit ${limit}` });
export const keepaliveTimeout = (silentMs: number): SocketClose => ({ code: CloseCode.keepaliveTimeout, reason: `keepalive timeout: peer silent for ${Math.round(silentMs)} ms` });

/** The error the calls still open fail with when the socket closes with `code` (a code from the peer or the network too: 1006 has no rule and fails them the same way). */
export function socketClosedError(code: number, reason: string): ConnectError {
  const name = (Object.keys(CloseCode) as CloseCodeName[]).find((key) => CloseCode[key] === code);
  const callsFailWith = name ? CLOSE_CODE_RULES[name].callsFailWith : Code.Unavailable;
  return new ConnectError(`websocket closed (${code}${reason ? ` ${reason}` : ""})`, callsFailWith);
}

/** A close frame's reason may hold 123 bytes of UTF-8 (RFC 6455 §5.5): longer ones make send() throw. */
const MAX_REASON_BYTES = 120;

/** `reason` cut to fit a close frame, never inside a character. */
export function closeFrameReason(reason: string): string {
  if (reason.length <= MAX_REASON_BYTES / 3) return reason; // fits whatever the characters
  const bytes = new TextEncoder().encode(reason);
  if (bytes.byteLength <= MAX_REASON_BYTES) return reason;
  let end = MAX_REASON_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back to a character's first byte
  return new TextDecoder().decode(bytes.subarray(0, end));
}
