/**
 * Default limits, the rules a window, a heartbeat, an item and a set of
 * limits must satisfy (each written once, here, for every peer and for
 * configuration checks), and the Open validation every server runs
 * (PROTOCOL.md §10).
 */
import { SluiceError, type Blame } from "./errors.js";
import type { Limits, OpenFrame, Window } from "./frames.js";

/** The reference limits a server announces unless configured otherwise (PROTOCOL.md §10). */
export const DEFAULT_LIMITS: Limits = {
  // 4 MiB: connect-es' default max message size. A chunk's payload stops at
  // its byte threshold (DEFAULT_CHUNK_OPTIONS.maxBytes, 32 KiB; the
  // reference server's 128 KiB) and big items are fragmented to it, so a
  // frame stays far below this even in JSON (4/3 growth plus per-item
  // overhead for up to maxItems items).
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

/** Longest stream name an Open may carry, in UTF-16 code units (PROTOCOL.md §10). */
export const MAX_STREAM_NAME_LENGTH = 256;
/** Heartbeats more often than this are clamped: they would cost more than they tell. */
export const MIN_HEARTBEAT_INTERVAL_MS = 50;
/** ... and rarer than this too: a silent peer must be noticed within minutes, and the timeout must fit uint32. */
export const MAX_HEARTBEAT_INTERVAL_MS = 300_000;

/**
 * Why an item of `size` payload bytes may not travel under `maxItemBytes`
 * (§10: above it the session fails with limit_exceeded), or undefined.
 */
export function itemSizeProblem(size: number, maxItemBytes: number): string | undefined {
  return size > maxItemBytes ? `${size} bytes, over the max item size ${maxItemBytes}` : undefined;
}

/** Throws limit_exceeded when item `seq` of `size` bytes is over `maxItemBytes`. */
export function checkItemSize(seq: number, size: number, maxItemBytes: number, blame: Blame = "local"): void {
  // The comparison first: this runs for every item sent and received.
  if (size > maxItemBytes) throw new SluiceError("limit_exceeded", `item ${seq} is ${itemSizeProblem(size, maxItemBytes)!}`, { blame });
}

/** Why `window` is no window (§4.1: at least 1 item and 1 byte), naming the dimension, or undefined. */
export function windowProblem(window: Window): {
  /** The dimension at fault. */
  readonly field: "items" | "bytes";
  /** What is wrong with it. */
  readonly reason: string } | undefined {
  // Written as negations so that NaN fails too.
  if (!(window.items >= 1)) return { field: "items", reason: `must be at least 1, got ${window.items}` };
  if (!(window.bytes >= 1)) return { field: "bytes", reason: `must be at least 1, got ${window.bytes}` };
  return undefined;
}

/** Throws invalid_argument naming `${field}.items` or `${field}.bytes` when `window` is no window. */
export function checkWindow(window: Window, field = "window", blame: Blame = "local"): void {
  const problem = windowProblem(window);
  if (problem) throw invalid(`${field}.${problem.field}`, problem.reason, blame);
}

/** Why heartbeats of this interval and timeout cannot work (§6: 0 < interval < timeout), or undefined. */
export function heartbeatProblem(intervalMs: number, timeoutMs: number): string | undefined {
  return intervalMs > 0 && timeoutMs > intervalMs ? undefined : `heartbeat timeout ${timeoutMs} ms must exceed a positive interval ${intervalMs} ms`;
}

/**
 * Why a server cannot run sessions under `limits`, naming the field, or
 * undefined: every size and window maximum at least 1, and a heartbeat that
 * can work (a timeout at or below the interval would end every session).
 */
export function limitsProblem(limits: Limits): {
  /** The limit at fault. */
  readonly field: keyof Limits;
  /** What is wrong with it. */
  readonly reason: string } | undefined {
  for (const field of ["maxFrameBytes", "maxItemBytes", "maxWindowItems", "maxWindowBytes"] as const) {
    if (!(limits[field] >= 1)) return { field, reason: `must be at least 1, got ${limits[field]}` };
  }
  const heartbeat = heartbeatProblem(limits.heartbeatIntervalMs, limits.heartbeatTimeoutMs);
  if (heartbeat) return { field: limits.heartbeatIntervalMs > 0 ? "heartbeatTimeoutMs" : "heartbeatIntervalMs", reason: heartbeat };
  return undefined;
}

/** Throws invalid_argument naming `${field}.<limit>` when a server cannot run sessions under `limits`. */
export function checkLimits(limits: Limits, field = "limits"): void {
  const problem = limitsProblem(limits);
  if (problem) throw invalid(`${field}.${problem.field}`, problem.reason, "local");
}

function invalid(field: string, reason: string, blame: Blame): SluiceError {
  return new SluiceError("invalid_argument", `${field}: ${reason}`, { field, blame });
}

/** What {@link acceptOpen} grants a valid Open. */
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
  const bad = (field: string, message: string) => invalid(field, message, "remote");
  if (open.stream.length === 0) throw bad("stream", "required");
  if (open.stream.length > MAX_STREAM_NAME_LENGTH) throw bad("stream", `longer than ${MAX_STREAM_NAME_LENGTH} characters`);
  // A client's window is the client's fault; a default that is no window is the server's.
  const requested = open.window ?? defaultWindow;
  if (open.window) checkWindow(open.window, "window", "remote");
  else checkWindow(defaultWindow, "defaultWindow");
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
