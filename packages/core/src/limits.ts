/**
 * Default limits and the Open validation every server runs (PROTOCOL.md §10).
 */
import { SluiceError } from "./errors.js";
import type { Limits, OpenFrame, Window } from "./frames.js";

export const DEFAULT_LIMITS: Limits = {
  // 4 MiB: connect-es' default max message size; a frame never needs more
  // because chunks close at 32 KiB and big items are fragmented.
  maxFrameBytes: 4 * 1024 * 1024,
  maxItemBytes: 16 * 1024 * 1024,
  // A session's memory on the server is bounded by its window: the clamp is
  // sized for a shared server (a thousand slow subscribers at the max hold
  // 8 GiB; the server's buffered-bytes budget refuses new streams first).
  maxWindowItems: 65_536,
  maxWindowBytes: 8 * 1024 * 1024,
  heartbeatIntervalMs: 5_000,
  heartbeatTimeoutMs: 15_000,
};

/**
 * The window a session gets when its Open names none and the stream sets no
 * default: 8 192 items / 4 MiB, enough for full speed over a LAN for items
 * up to ~512 bytes while bounding what a receiver buffers.
 */
export const DEFAULT_WINDOW: Window = { items: 8_192, bytes: 4 * 1024 * 1024 };

export const MAX_STREAM_NAME_LENGTH = 256;
/** Heartbeats more often than this are clamped: they would cost more than they tell. */
export const MIN_HEARTBEAT_INTERVAL_MS = 50;
/** ... and rarer than this too: a silent peer must be noticed within minutes, and the timeout must fit uint32. */
export const MAX_HEARTBEAT_INTERVAL_MS = 300_000;

export interface AcceptedOpen {
  /** The window clamped to the server's limits. */
  readonly window: Window;
  /** The limits this session runs under, as announced in Opened. */
  readonly limits: Limits;
}

/**
 * Validates an Open against the server's limits. Throws invalid_argument
 * naming the field; clamps (does not reject) a window larger than allowed.
 * An Open without a window gets `defaultWindow` (clamped the same way).
 */
export function acceptOpen(open: OpenFrame, limits: Limits, defaultWindow: Window = DEFAULT_WINDOW): AcceptedOpen {
  const bad = (field: string, message: string) => new SluiceError("invalid_argument", `${field}: ${message}`, { field, blame: "remote" });
  if (open.stream.length === 0) throw bad("stream", "required");
  if (open.stream.length > MAX_STREAM_NAME_LENGTH) throw bad("stream", `longer than ${MAX_STREAM_NAME_LENGTH} characters`);
  const requested = open.window ?? defaultWindow;
  if (!(requested.items >= 1)) throw bad("window.items", `must be at least 1, got ${requested.items}`);
  if (!(requested.bytes >= 1)) throw bad("window.bytes", `must be at least 1, got ${requested.bytes}`);
  const resume = open.resume;
  if (resume && resume.seq >= Number.MAX_SAFE_INTEGER) {
    // The session would start at seq 2^53 or later, past what every peer can represent (PROTOCOL.md §2).
    throw bad("resume.seq", `${resume.seq} leaves no seq below 2^53-1 to continue with`);
  }
  if (resume && resume.cursorSeq > resume.seq) {
    throw bad("resume.cursor_seq", `${resume.cursorSeq} is after resume.seq ${resume.seq}`);
  }
  const window: Window = {
    items: Math.min(requested.items, limits.maxWindowItems),
    bytes: Math.min(requested.bytes, limits.maxWindowBytes),
  };
  let { heartbeatIntervalMs, heartbeatTimeoutMs } = limits;
  if (open.heartbeatIntervalMs > 0) {
    // Keep the server's timeout/interval ratio for the interval the client asked for.
    const ratio = limits.heartbeatTimeoutMs / limits.heartbeatIntervalMs;
    heartbeatIntervalMs = Math.min(MAX_HEARTBEAT_INTERVAL_MS, Math.max(MIN_HEARTBEAT_INTERVAL_MS, open.heartbeatIntervalMs));
    heartbeatTimeoutMs = Math.ceil(heartbeatIntervalMs * ratio);
  }
  return { window, limits: { ...limits, heartbeatIntervalMs, heartbeatTimeoutMs } };
}
