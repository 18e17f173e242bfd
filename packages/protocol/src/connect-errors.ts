/**
 * Sluice errors and Connect errors, one table each way (PROTOCOL.md §9.3).
 *
 * - Out: every Sluice code travels as one Connect code (core's
 *   ERROR_CODE_INFO), where no Error frame can carry it (a refused unary
 *   Control call, a call that fails before its stream starts).
 * - In: a call that fails at the Connect level (no Error frame) becomes a
 *   SluiceError. The client then knows one thing for certain: whether a new
 *   session may succeed. Transport trouble is retryable; a request the server
 *   (or a proxy) refused for what it is, is not, so it is never retried
 *   forever.
 *
 * Connect code numbers are Connect's own (connectrpc.com/docs/protocol#error-codes);
 * this layer knows them without importing Connect.
 */
import { ERROR_CODE_INFO, SluiceError, type ConnectCodeName, type ErrorCode } from "@sluice/core";

/** Every Connect code: wire name → number. */
export const CONNECT_CODE_NUMBERS = {
  /** The call was cancelled, usually by the caller. */
  canceled: 1,
  /** An error of unclear origin; also what Connect makes of an unexpected HTTP status. */
  unknown: 2,
  /** The request is invalid, whatever the server's state. */
  invalid_argument: 3,
  /** The call's deadline passed before it completed. */
  deadline_exceeded: 4,
  /** The requested resource does not exist. */
  not_found: 5,
  /** The resource the call would create already exists. */
  already_exists: 6,
  /** The caller may not do this. */
  permission_denied: 7,
  /** Some resource (a quota, a limit, the consumer's pace) is exhausted. */
  resource_exhausted: 8,
  /** The system is not in the state the call needs. */
  failed_precondition: 9,
  /** The call was aborted, typically by a concurrency conflict. */
  aborted: 10,
  /** The call went past the valid range. */
  out_of_range: 11,
  /** The method is not implemented, supported or enabled (an HTTP 404). */
  unimplemented: 12,
  /** An invariant of the server was broken. */
  internal: 13,
  /** The service is unavailable for now; retrying later may work. */
  unavailable: 14,
  /** Unrecoverable data loss or corruption. */
  data_loss: 15,
  /** The caller has no valid credentials. */
  unauthenticated: 16,
} as const;

/** Any Connect code by its wire name, including those Sluice never sends (core's ConnectCodeName). */
export type AnyConnectCodeName = keyof typeof CONNECT_CODE_NUMBERS;

const NAMES_BY_NUMBER = Object.fromEntries(Object.entries(CONNECT_CODE_NUMBERS).map(([name, number]) => [number, name])) as Record<number, AnyConnectCodeName>;

/** The Connect code (number) a Sluice error travels as. */
export function connectCodeNumberOf(code: ErrorCode): number {
  return CONNECT_CODE_NUMBERS[ERROR_CODE_INFO[code].connectCode as ConnectCodeName];
}

/**
 * How a client reads a Connect code that came without an Error frame: the
 * Sluice code it reports, and whether a new session may succeed.
 */
export const CONNECT_FAILURES: Record<
  AnyConnectCodeName,
  {
    /** The Sluice code the client reports. */
    readonly code: ErrorCode;
    /** Whether a new session may succeed. */
    readonly retryable: boolean;
  }
> = {
  // The request itself was refused: the same request would be refused again.
  invalid_argument: { code: "invalid_argument", retryable: false },
  out_of_range: { code: "invalid_argument", retryable: false },
  already_exists: { code: "invalid_argument", retryable: false },
  failed_precondition: { code: "invalid_argument", retryable: false },
  not_found: { code: "stream_not_found", retryable: false },
  // An unknown path (HTTP 404 maps here): a server without this service.
  unimplemented: { code: "stream_not_found", retryable: false },
  unauthenticated: { code: "unauthenticated", retryable: false },
  permission_denied: { code: "permission_denied", retryable: false },
  // The connection or the server is in trouble: a new session may work.
  unavailable: { code: "unavailable", retryable: true },
  canceled: { code: "unavailable", retryable: true },
  aborted: { code: "unavailable", retryable: true },
  deadline_exceeded: { code: "unavailable", retryable: true },
  resource_exhausted: { code: "unavailable", retryable: true },
  internal: { code: "unavailable", retryable: true },
  data_loss: { code: "unavailable", retryable: true },
  unknown: { code: "unavailable", retryable: true },
};

/**
 * HTTP statuses that say the request is wrong, whatever Connect code they
 * were mapped to (Connect maps 400 to internal and 415, 505 to unknown): a
 * proxy or server refusing the request the same way next time.
 */
const PERMANENT_HTTP_STATUSES = new Set([400, 401, 403, 404, 405, 411, 413, 414, 415, 431, 501, 505]);

/**
 * A failed call as a SluiceError. `httpStatus` is the status of a response
 * that was not a Connect answer (connect-es says "HTTP 415" in the message);
 * a refusing status makes the failure permanent whatever its code.
 */
export function errorFromConnect(code: AnyConnectCodeName | number, message: string, options: { httpStatus?: number; cause?: unknown } = {}): SluiceError {
  const name = typeof code === "number" ? (NAMES_BY_NUMBER[code] ?? "unknown") : code;
  const failure = CONNECT_FAILURES[name];
  const refused = options.httpStatus !== undefined && PERMANENT_HTTP_STATUSES.has(options.httpStatus);
  const retryable = failure.retryable && !refused;
  const sluiceCode: ErrorCode = refused && failure.retryable ? "invalid_argument" : failure.code;
  const text = retryable || refused ? `call failed (${name}${options.httpStatus ? `, HTTP ${options.httpStatus}` : ""}): ${message}` : message;
  return new SluiceError(sluiceCode, text, { retryable, blame: "remote", ...(options.cause !== undefined ? { cause: options.cause } : {}) });
}
