/**
 * Errors are values with a code. One list of codes, mirrored
 * one to one by the `ErrorCode` enum in proto/sluice/v1/errors.proto (a test
 * in @sluice/protocol fails if they drift), each mapped to one Connect code
 * and a default retryability (PROTOCOL.md §9).
 */
import type { ErrorFrame } from "./frames.js";

/** Connect's error codes, by their wire names (connectrpc.com/docs/protocol#error-codes). */
export type ConnectCodeName =
  | "canceled"
  | "invalid_argument"
  | "not_found"
  | "unauthenticated"
  | "permission_denied"
  | "resource_exhausted"
  | "failed_precondition"
  | "unavailable"
  | "internal"
  | "deadline_exceeded";

/** Every Sluice error code with its Connect code and whether a retry may succeed. */
export const ERROR_CODE_INFO = {
  invalid_argument: { connectCode: "invalid_argument", retryable: false },
  protocol_violation: { connectCode: "invalid_argument", retryable: false },
  stream_not_found: { connectCode: "not_found", retryable: false },
  unauthenticated: { connectCode: "unauthenticated", retryable: false },
  permission_denied: { connectCode: "permission_denied", retryable: false },
  limit_exceeded: { connectCode: "resource_exhausted", retryable: false },
  // A slow consumer that was cut off may resume; the topic's history decides
  // whether its position is still there.
  slow_consumer: { connectCode: "resource_exhausted", retryable: true },
  stall_timeout: { connectCode: "resource_exhausted", retryable: true },
  resume_position_lost: { connectCode: "failed_precondition", retryable: false },
  credit_violation: { connectCode: "failed_precondition", retryable: false },
  unavailable: { connectCode: "unavailable", retryable: true },
  // Transient by default (a database hiccup); a source marks permanent
  // failures itself.
  source_failed: { connectCode: "internal", retryable: true },
  yield_timeout: { connectCode: "deadline_exceeded", retryable: true },
  heartbeat_timeout: { connectCode: "deadline_exceeded", retryable: true },
  cancelled: { connectCode: "canceled", retryable: false },
  internal: { connectCode: "internal", retryable: false },
} as const satisfies Record<string, { connectCode: ConnectCodeName; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODE_INFO;

/** In proto enum order (value 1 first); the protocol package maps by index. */
export const ERROR_CODES = Object.keys(ERROR_CODE_INFO) as readonly ErrorCode[];

/**
 * Who broke the rule (h11's LocalProtocolError / RemoteProtocolError): `local`
 * errors are ours to report to the peer; `remote` ones came from the peer.
 */
export type Blame = "local" | "remote";

export interface SluiceErrorOptions {
  readonly retryable?: boolean;
  readonly retryAfterMs?: number;
  readonly field?: string;
  readonly blame?: Blame;
  readonly cause?: unknown;
}

export class SluiceError extends Error {
  override readonly name = "SluiceError";
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** When retryable: wait at least this long (0 means "use your backoff"). */
  readonly retryAfterMs: number;
  /** For invalid_argument: the offending field path. */
  readonly field: string;
  readonly blame: Blame;

  constructor(code: ErrorCode, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODE_INFO[code].retryable;
    this.retryAfterMs = options.retryAfterMs ?? 0;
    this.field = options.field ?? "";
    this.blame = options.blame ?? "local";
  }

  /** The Connect code this error travels as. */
  get connectCode(): ConnectCodeName {
    return ERROR_CODE_INFO[this.code].connectCode;
  }

  /** This error as the peer sees it (blame flips). */
  static fromFrame(frame: {
    code: ErrorCode;
    message: string;
    retryable: boolean;
    retryAfterMs: number;
    field: string;
  }): SluiceError {
    return new SluiceError(frame.code, frame.message, {
      retryable: frame.retryable,
      retryAfterMs: frame.retryAfterMs,
      field: frame.field,
      blame: "remote",
    });
  }

  toFrame(): ErrorFrame {
    return {
      type: "error",
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      field: this.field,
    };
  }
}

export function isSluiceError(value: unknown): value is SluiceError {
  return value instanceof SluiceError;
}
