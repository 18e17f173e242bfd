/**
 * What the client runners (Subscription, Publication) share around their
 * reconnect loops: how a transport failure becomes an error, the backoff
 * sleep on the runner's clock, the transport's name for stats, and the loop
 * that reads a session's inbound frames.
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

/** What {@link readInbound} does with one session's inbound frames. */
export interface InboundHandlers<In> {
  /** Whether the pipe is still the runner's current one (a replaced pipe's frames are dropped). */
  current(): boolean;
  /** One frame, while current. */
  frame(frame: In): void;
  /** The stream closed or the transport failed, while current: the session is lost. */
  lost(error: SluiceError): void;
  /** Last, whatever happened, while current (wake the runner's loop). */
  ended(): void;
}

/**
 * Feeds one session's inbound frames to the runner's machine until the pipe
 * ends or is replaced: the read loop Subscription and Publication share.
 * It iterates (an async hop a frame) rather than taking frames pushed in the
 * transport's callback as a served session does (consumeFrames): the hop
 * lets the app read the items of a chunk before a retryable Error or the
 * end of the call right behind it in the same read loses the session, and
 * with it the items not yet delivered.
 */
export function readInbound<In>(inbound: AsyncIterable<In>, handlers: InboundHandlers<In>): void {
  void (async () => {
    try {
      for await (const frame of inbound) {
        if (!handlers.current()) return;
        handlers.frame(frame);
      }
      if (handlers.current()) handlers.lost(new SluiceError("unavailable", "the server closed the stream"));
    } catch (error) {
      if (handlers.current()) handlers.lost(asSluiceError(error));
    } finally {
      if (handlers.current()) handlers.ended();
    }
  })();
}

