/**
 * Control calls between server instances (PROTOCOL.md §3.3): behind a load
 * balancer a half-duplex session's Control calls may reach another instance
 * than the one that owns the session. Session ids then name their owner
 * (`<instance id>.<rest>`), and the instance a call reached forwards it
 * there through a ControlRelay. The transport is the relay's business (NATS
 * request/reply in @sluice/topic-nats); this package depends on none.
 */
import type { ControlRequest, ControlResponse } from "@sluice/protocol";

/**
 * How server instances pass Control calls to the instance that owns the
 * session. Set one as SluiceServerOptions.controlRelay on every instance;
 * the caller owns it and closes it once the server stops serving.
 */
export interface ControlRelay {
  /**
   * This instance's id, put in front of the session ids it issues so other
   * instances know where to forward: 1 to 64 letters, digits, "_" or "-"
   * (it ends at a session id's first ".", and is safe in an address such as
   * a NATS subject).
   */
  readonly instanceId: string;
  /**
   * Starts answering Control calls forwarded to this instance. `handle`
   * answers as a local call would (the session's secret and principal
   * checked there), and throws a SluiceError for a refused call, which the
   * relay hands back to the forwarding instance. The server calls it once,
   * when it is constructed.
   */
  serve(handle: ControlHandler): void;
  /**
   * Forwards a Control call for a session owned by `instanceId`, with the
   * principal authorize returned for it on this instance (undefined: this
   * instance does not authorize). Resolves with the owner's answer; rejects
   * with the owner's SluiceError (code, message, field, blame and retry
   * hints kept), or with `unavailable` (retryable) when the owner does not
   * answer in time.
   */
  forward(instanceId: string, request: ControlRequest, principal: string | undefined): Promise<ControlResponse>;
  /** Stops answering forwarded calls and refuses new forwards. */
  close(): Promise<void>;
}

/** What a ControlRelay calls to answer a forwarded Control call here: returns the answer, or throws a SluiceError. */
export type ControlHandler = (request: ControlRequest, principal: string | undefined) => ControlResponse;

/** How many Control calls went between this instance and others (SluiceServer.controlStats, for metrics). */
export interface ControlStats {
  /** Control calls for another instance's session that this instance forwarded to it, whatever the answer. */
  readonly forwarded: number;
  /** Control calls other instances forwarded to this one that it answered, whatever the answer. */
  readonly served: number;
  /** Of the forwarded calls, those the owner did not answer in time (it is gone, or too slow): answered `unavailable`. */
  readonly forwardUnanswered: number;
}
