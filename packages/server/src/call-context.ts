/**
 * What a session needs of its call, whoever carries it: a Connect handler's
 * context, or a transport that speaks the call itself (server-node's direct
 * path and WebSocket server).
 */
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { SessionSignal } from "@sluice/driver";

/**
 * What a server needs of one Connect call, whatever adapter carries it: its
 * headers, its lifetime, and the connection it runs on.
 */
export interface CallInfo {
  /** Request headers (credentials for `authorize`). */
  readonly requestHeader: Headers;
  /** Aborts when the call is gone (the client left, the connection dropped); an AbortSignal will do. */
  readonly signal: SessionSignal;
  /** The connection the call runs on (any object that identifies it), for the per-connection budget. */
  readonly connection?: object;
}

/** The Connect context value carrying the call's connection (set by server-node's `listen` and the WebSocket server). */
export const CONNECTION = createContextKey<object | undefined>(undefined, { description: "sluice connection" });

/** A Connect handler's call as CallInfo, with the connection its adapter put in the context values. */
export function callInfoOf(context: HandlerContext): CallInfo {
  const connection = context.values.get(CONNECTION);
  return { requestHeader: context.requestHeader, signal: context.signal, ...(connection ? { connection } : {}) };
}
