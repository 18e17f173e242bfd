/** What the vectors share: the limits the sender runs with, Opened as the server sends it, item payloads. */
import type { ClientFrame, Limits, ResumeResult, ServerFrame, Window } from "@sluice/core";
import type { ReceiverConfig } from "./types.js";

export const b = (...bytes: number[]) => new Uint8Array(bytes);
export const text = (s: string) => new TextEncoder().encode(s);
export const NONE = new Uint8Array();
/** Item `n`'s payload: its number as text. */
export const item = (n: number) => text(String(n));

export const LIMITS: Limits = { maxFrameBytes: 4_194_304, maxItemBytes: 1_048_576, maxWindowItems: 1_000, maxWindowBytes: 1_048_576, heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 15_000 };
export const SECRET = b(1, 2, 3, 4);
export const WIN: Window = { items: 10, bytes: 1024 };

export function opened(nextSeq = 1, extra: { window?: Window; resume?: ResumeResult; sessionId?: string; signalsHeld?: boolean } = {}): ServerFrame {
  return {
    type: "opened",
    sessionId: extra.sessionId ?? "s1",
    sessionSecret: SECRET,
    nextSeq,
    limits: LIMITS,
    contentType: "application/json",
    ...(extra.window ? { window: extra.window } : {}),
    ...(extra.resume ? { resume: extra.resume } : {}),
    ...(extra.signalsHeld ? { signalsHeld: true } : {}),
  };
}

export function chunk(firstSeq: number, count: number, cursor: Uint8Array = NONE, extra: Partial<Extract<ServerFrame, { type: "chunk" }>> = {}): ServerFrame {
  return { type: "chunk", firstSeq, items: Array.from({ length: count }, (_, i) => item(firstSeq + i)), cursor, ...extra };
}

export function end(lastSeq: number, sessionItems: number, sessionBytes: number, cursor: Uint8Array = NONE): ServerFrame {
  return { type: "end", lastSeq, cursor, sessionItems, sessionBytes };
}

export const credit = (maxSeq: number, maxBytes: number): ClientFrame => ({ type: "credit", maxSeq, maxBytes });
export const ack = (seq: number): ClientFrame => ({ type: "ack", seq });
export const ping = (id: number): ClientFrame & ServerFrame => ({ type: "heartbeat", ping: id, pong: 0 }) as ClientFrame & ServerFrame;
export const pong = (id: number): ClientFrame & ServerFrame => ({ type: "heartbeat", ping: 0, pong: id }) as ClientFrame & ServerFrame;

/** The receiver most vectors run: window 10 items / 1 KiB, an ack every 2 items or after 50 ms. */
export const RECEIVER: ReceiverConfig = {
  stream: "numbers",
  params: { count: 3 },
  window: WIN,
  ackEveryItems: 2,
  ackDelayMs: 50,
  heartbeat: { intervalMs: 1_000, timeoutMs: 3_000 },
  heartbeatIntervalMs: 0,
  clientInfo: "vectors",
  app: "read",
};

/** The Open the receiver sends with `config` (and `resume`, on a later session). */
export function openOf(config: ReceiverConfig, resume?: { seq: number; cursor: Uint8Array; cursorSeq: number; sessionId: string }): ClientFrame {
  return { type: "open", stream: config.stream, params: config.params, window: config.window, heartbeatIntervalMs: config.heartbeatIntervalMs, resume, clientInfo: config.clientInfo };
}
