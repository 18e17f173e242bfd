/** What every raw call of the runner offers, whatever carries it. */
import type { ClientFrame } from "@sluice/core";
import type { Received } from "./inbox.js";

/** How a call ended, as seen on the wire. */
export interface CallEnd {
  /** HTTP status of the response head (0 when none arrived). */
  readonly status: number;
  /** Connect's end-of-stream message arrived: the response ended cleanly. */
  readonly endStream: boolean;
  /** The error the end of stream (or a unary error body) carried. */
  readonly error?: {
    /** The Connect code, by its wire name. */
    readonly code: string;
    /** The error message. */
    readonly message: string;
  };
  /** "clean", or what broke: "reset", "truncated body", "socket closed (1006)", ... */
  readonly transport: string;
  /** The body of a non-Connect answer (a 404 page, a 415), as text. */
  readonly body?: string;
}

/**
 * One streaming call of the runner, spoken by hand over HTTP/2, HTTP/1.1 or
 * WebSocket: frames (or raw bytes) out, server frames in, and how it ended.
 */
export interface RawCall {
  /** Writes one SubscribeRequest (full duplex) in the call's codec. */
  sendFrame(frame: ClientFrame): void;
  /** Writes raw bytes on the request body (hostile input: broken envelopes). */
  sendBytes(bytes: Uint8Array): void;
  /** Ends the request body. */
  halfClose(): void;
  /** The next server frame (undefined once the response ended); rejects on timeout. */
  next(timeoutMs?: number): Promise<Received | undefined>;
  /** Settles when the call is over, with how it ended. */
  readonly ended: Promise<CallEnd>;
  /** Cuts the connection under the call, as a network failure would. */
  cut(): void;
}

/** Connect's end-of-stream JSON: {} or {"error": {"code", "message"}}. */
export function parseEndStream(bytes: Uint8Array): { error?: { code: string; message: string } } {
  const json = JSON.parse(new TextDecoder().decode(bytes)) as { error?: { code?: string; message?: string } };
  return json.error ? { error: { code: json.error.code ?? "unknown", message: json.error.message ?? "" } } : {};
}
