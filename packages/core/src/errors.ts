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
  /** A parameter, Open field or resume position is wrong; `field` names it. */
  invalid_argument: { connectCode: "invalid_argument", retryable: false },
  /** A frame could not be decoded, came in the wrong state, or broke a rule. */
  protocol_violation: { connectCode: "invalid_argument", retryable: false },
  /** No stream of that name is configured. */
  stream_not_found: { connectCode: "not_found", retryable: false },
  /** Missing or bad credentials. */
  unauthenticated: { connectCode: "unauthenticated", retryable: false },
  /** The caller may not do this; also a Control call for a wrong or ended session. */
  permission_denied: { connectCode: "permission_denied", retryable: false },
  /** A frame, item or other limit was exceeded (PROTOCOL.md §10). */
  limit_exceeded: { connectCode: "resource_exhausted", retryable: false },
  // A slow consumer that was cut off may resume; the topic's history decides
  // whether its position is still there.
  /** The subscriber fell behind a topic's `disconnect` overflow policy. */
  slow_consumer: { connectCode: "resource_exhausted", retryable: true },
  /** No credit arrived for the stream's stall timeout. */
  stall_timeout: { connectCode: "resource_exhausted", retryable: true },
  /** The resume position is no longer retained, or cannot be honoured. */
  resume_position_lost: { connectCode: "failed_precondition", retryable: false },
  /** The peer sent beyond its credit, or granted more than it was sent. */
  credit_violation: { connectCode: "failed_precondition", retryable: false },
  /** The server is draining or unreachable: resume elsewhere. */
  unavailable: { connectCode: "unavailable", retryable: true },
  // Transient by default (a database hiccup); a source marks permanent
  // failures itself.
  /** The stream's source failed. */
  source_failed: { connectCode: "internal", retryable: true },
  /** The source yielded nothing for the stream's yield timeout. */
  yield_timeout: { connectCode: "deadline_exceeded", retryable: true },
  /** The peer was silent for the heartbeat timeout. */
  heartbeat_timeout: { connectCode: "deadline_exceeded", retryable: true },
  /** The stream was cancelled. */
  cancelled: { connectCode: "canceled", retryable: false },
  /** A bug on the side that reports it; also any unknown code. */
  internal: { connectCode: "internal", retryable: false },
} as const satisfies Record<string, { connectCode: ConnectCodeName; retryable: boolean }>;

/** A Sluice error code: a key of {@link ERROR_CODE_INFO}, one to one with the proto `ErrorCode` enum. */
export type ErrorCode = keyof typeof ERROR_CODE_INFO;

/** In proto enum order (value 1 first); the protocol package maps by index. */
export const ERROR_CODES = Object.keys(ERROR_CODE_INFO) as readonly ErrorCode[];

/**
 * Who broke the rule (h11's LocalProtocolError / RemoteProtocolError): `local`
 * errors are ours to report to the peer; `remote` ones came from the peer.
 */
export type Blame = "local" | "remote";

/** What a {@link SluiceError} carries beyond its code and message; each has a default. */
export interface SluiceErrorOptions {
  /** Overrides the code's default retryability (e.g. a source marking a permanent failure). */
  readonly retryable?: boolean;
  /** When retryable: the least wait before a retry (default 0: the client's backoff). */
  readonly retryAfterMs?: number;
  /** For invalid_argument: the offending field path (default ""). */
  readonly field?: string;
  /** Default "local". */
  readonly blame?: Blame;
  /** The underlying error, kept as the Error's `cause`. */
  readonly cause?: unknown;
}

/**
 * The one error type of Sluice, on both sides: a code with its Connect code,
 * retryability and blame. Sources and authorize hooks throw it; clients report
 * it.
 */
export class SluiceError extends Error {
  /** Always "SluiceError". */
  override readonly name: string = "SluiceError";
  /** What went wrong. */
  readonly code: ErrorCode;
  /** Whether the same request may succeed later (the code's default unless overridden). */
  readonly retryable: boolean;
  /** When retryable: wait at least this long (0 means "use your backoff"). */
  readonly retryAfterMs: number;
  /** For invalid_argument: the offending field path. */
  readonly field: string;
  /** Whether this peer (`local`) or the other one (`remote`) broke the rule. */
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

  /** This error as the Error frame that reports it to the peer. */
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

/** Whether `value` is a {@link SluiceError} (a type guard for `catch` blocks). */
export function isSluiceError(value: unknown): value is SluiceError {
  return value instanceof SluiceError;
}
