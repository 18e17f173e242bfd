/** What a check is, and the few helpers every check uses. */
import type { ErrorFrame, OpenFrame, ServerFrame } from "@sluice/core";
import { Violation, type StrictSession } from "./strict-session.js";
import type { Codec } from "./wire/codec.js";
import type { Mode, Target } from "./wire/raw-session.js";

/** The streams a server under test declares (README: "What the server needs"). */
export const STREAMS = {
  /** Finite, 64-byte items, at least 3 000, as fast as credit allows; params.count asks for fewer. */
  items: "conformance.items",
  /** Items larger than one chunk (> 128 KiB), at least 3. */
  large: "conformance.large",
  /** Live, about 20 items/s, each JSON {"at": ms since the epoch}; heartbeat 200 ms / 600 ms. */
  ticks: "conformance.ticks",
  /** A topic published to often, history of 50, resumeExpired gap. */
  topic: "conformance.topic",
  /** The same, resumeExpired fail. */
  topicStrict: "conformance.topic-strict",
} as const;

/** Where and how one run of a check speaks to the server. */
export interface CheckContext {
  /** The server under test. */
  readonly target: Target;
  /** The mode this run uses. */
  readonly mode: Mode;
  /** The codec this run uses. */
  readonly codec: Codec;
}

/** One rule of PROTOCOL.md checked from the wire, in each mode and codec it applies to. */
export interface Check {
  /** A sentence of the spec, as the line the runner prints. */
  readonly title: string;
  /** The sections it checks. */
  readonly spec: string;
  /** Modes it runs in (default: all); "once" checks run a single time. */
  readonly modes?: readonly Mode[] | "once";
  /** Codecs it runs with (default: both). */
  readonly codecs?: readonly Codec[];
  /** Runs the check once; throws a Violation (or any error) when the server fails it. */
  run(context: CheckContext): Promise<void>;
}

export function openFrame(stream: string, extra: Partial<OpenFrame> = {}): OpenFrame {
  return { type: "open", stream, params: {}, window: { items: 100, bytes: 1 << 20 }, heartbeatIntervalMs: 0, clientInfo: "sluice-conformance", ...extra };
}

/** Fails the check naming what was expected and what came. */
export function expectThat(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Violation(message);
}

/** The session's Error frame, checked against the expected code (and field). */
export function expectError(frame: ServerFrame | undefined, code: ErrorFrame["code"], options: { retryable?: boolean; field?: string } = {}): ErrorFrame {
  expectThat(frame?.type === "error", `expected an Error ${code}, got ${frame ? describe(frame) : "the end of the stream"}`);
  const error = frame as ErrorFrame;
  expectThat(error.code === code, `expected Error ${code}, got ${error.code}: ${error.message}`);
  if (options.retryable !== undefined) expectThat(error.retryable === options.retryable, `Error ${code} must ${options.retryable ? "" : "not "}be retryable`);
  if (options.field !== undefined) expectThat(error.field === options.field, `Error ${code} must name field ${options.field}, named ${JSON.stringify(error.field)}`);
  return error;
}

export function describe(frame: ServerFrame): string {
  switch (frame.type) {
    case "chunk":
      return `a chunk at seq ${frame.firstSeq}`;
    case "error":
      return `Error ${frame.code}: ${frame.message}`;
    case "end":
      return `End (last seq ${frame.lastSeq})`;
    default:
      return frame.type;
  }
}

/** Reads frames until an Error (returned) or the end; anything else but heartbeats and data fails. */
export async function errorOf(session: StrictSession, timeoutMs = 5_000): Promise<ServerFrame | undefined> {
  return (await session.readUntil((f) => f.type === "error" || f.type === "end", timeoutMs)) ?? undefined;
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
