/**
 * What the client runners (Subscription, Publication) share around their
 * reconnect loops: how a transport failure becomes an error, the backoff
 * sleep on the runner's clock, and the transport's name for stats.
 */
import { SluiceError } from "@sluice/core";
import type { Clock } from "./clock.js";

/** A runner's session was lost; the next try comes after `delayMs` (a state of Subscription and Publication). */
export interface ReconnectingState {
  /** Tells the states apart. */
  readonly state: "reconnecting";
  /** Which retry comes next (1 the first). */
  readonly attempt: number;
  /** The backoff delay before it, in milliseconds. */
  readonly delayMs: number;
  /** The error that ended the session. */
  readonly error: SluiceError;
}

/** Final: a runner failed for good (a state of Subscription and Publication). */
export interface FailedState {
  /** Tells the states apart. */
  readonly state: "failed";
  /** Why: the error the stream's iteration throws, or the publisher's items are rejected with. */
  readonly error: SluiceError;
}

/** A transport failure as a retryable SluiceError (unavailable), unless it is one already. */
export function asSluiceError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SluiceError("unavailable", `connection failed: ${message}`, { cause: error });
}

/** Resolves after `ms` on `clock`, or at once when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const cancel = clock.schedule(clock.now() + ms, done);
    function done() {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      cancel();
      resolve();
    }
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The transport name for stats ("custom" when none is given). */
export function transportNameOf(name: string | (() => string) | undefined): string {
  return (typeof name === "function" ? name() : name) ?? "custom";
}
