/**
 * Which frame may arrive in which state, for both peers, in one table
 * (h11 `_state.py`). A missing entry is a protocol violation
 * that ends the session; `null` means "ignore quietly" (late frames that can
 * cross a close on any honest connection).
 */
import type { ClientFrame, ServerFrame } from "./frames.js";

/** The sending peer (the server of a subscription). */
export type SenderState = "awaiting_open" | "accepting" | "streaming" | "ending" | "closed";

/** The receiving peer (the client of a subscription), per session. */
export type ReceiverState = "idle" | "opening" | "streaming" | "cancelling" | "closed";

type Table<S extends string, F extends { type: string }> = {
  readonly [state in S]: { readonly [type in F["type"]]?: S | null };
};

/** State after the sender receives a client frame of each type. */
export const SENDER_TRANSITIONS: Table<SenderState, ClientFrame> = {
  awaiting_open: { open: "accepting" },
  // The server is resolving the source and authorising; the client may only
  // wait, heartbeat or give up.
  accepting: { heartbeat: "accepting", cancel: "closed" },
  streaming: { credit: "streaming", ack: "streaming", heartbeat: "streaming", cancel: "closed" },
  ending: { credit: "ending", ack: "ending", heartbeat: "ending", cancel: "closed" },
  closed: { open: null, credit: null, ack: null, heartbeat: null, cancel: null },
};

/** State after the receiver receives a server frame of each type. */
export const RECEIVER_TRANSITIONS: Table<ReceiverState, ServerFrame> = {
  idle: { opened: null, chunk: null, heartbeat: null, end: null, error: null },
  opening: { opened: "streaming", heartbeat: "opening", error: "closed" },
  // Opened again is checked by the receiver: a resent one of the same session is ignored.
  streaming: { opened: "streaming", chunk: "streaming", heartbeat: "streaming", end: "closed", error: "closed" },
  // After Cancel the server may still have chunks in flight.
  cancelling: { opened: null, chunk: null, heartbeat: "cancelling", end: "closed", error: "closed" },
  closed: { opened: null, chunk: null, heartbeat: null, end: null, error: null },
};

export type Transition<S> = { readonly kind: "move"; readonly to: S } | { readonly kind: "ignore" } | { readonly kind: "violation"; readonly message: string };

export function senderTransition(state: SenderState, frame: ClientFrame): Transition<SenderState> {
  return lookup(SENDER_TRANSITIONS[state], state, frame.type, "server");
}

export function receiverTransition(state: ReceiverState, frame: ServerFrame): Transition<ReceiverState> {
  return lookup(RECEIVER_TRANSITIONS[state], state, frame.type, "client");
}

function lookup<S extends string>(row: { readonly [type: string]: S | null | undefined }, state: S, type: string, peer: string): Transition<S> {
  const to = row[type];
  if (to === undefined) return { kind: "violation", message: `${type} frame not allowed while the ${peer} session is ${state}` };
  if (to === null) return { kind: "ignore" };
  return { kind: "move", to };
}
