/**
 * The half-duplex session registry (PROTOCOL.md §3.3): a session opened by
 * SubscribeHalfDuplex gets its later client frames through unary Control
 * calls, which must prove the session's secret (and, with `authorize`, come
 * from the principal that opened it). Unknown, ended and wrong-secret
 * sessions get one answer, so ids cannot be probed.
 *
 * With a ControlRelay, a Control call for a session another instance owns
 * (its id names that instance) is forwarded there and answered by the
 * owner's registry: the secret and principal are checked in one place, the
 * owner's, by the same rules as a local call.
 */
import { create } from "@bufbuild/protobuf";
import { SluiceError, type ClientFrame } from "@sluice/core";
import { FrameQueue } from "@sluice/driver";
import { clientFrameFromWire, ControlResponseSchema, type ControlRequest, type ControlResponse } from "@sluice/protocol";
import type { ControlRelay, ControlStats } from "./control-relay.js";
import { sessionOwner, type SessionKeys } from "./session-keys.js";

/** Client frames one Control call may carry, and half-duplex frames waiting for the session. */
export const MAX_CONTROL_FRAMES = 256;
export const MAX_QUEUED_CONTROL_FRAMES = 1_024;

interface HalfDuplexSession {
  readonly secret: Uint8Array;
  readonly inbound: FrameQueue<ClientFrame>;
  /** Who opened it (once resolved); Control calls must come from the same principal. */
  principal: string | undefined;
}

const noSuchSession = () => new SluiceError("permission_denied", "no session with this id and secret", { blame: "remote" });

/** Compares secrets in time independent of where they differ. */
function sameSecret(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.byteLength ^ b.byteLength;
  for (let i = 0; i < b.byteLength; i++) diff |= (a[i] ?? 0) ^ b[i]!;
  return diff === 0;
}

export class HalfDuplexSessions {
  readonly #sessions = new Map<string, HalfDuplexSession>();
  readonly #relay: ControlRelay | undefined;
  readonly #stats = { forwarded: 0, served: 0, forwardUnanswered: 0 };

  /** With `relay`, answers Control calls other instances forward here, and forwards those for their sessions. */
  constructor(relay?: ControlRelay) {
    this.#relay = relay;
    relay?.serve((request, principal) => {
      this.#stats.served++;
      // Only the local registry: a forwarded call is never forwarded again.
      return this.#answer(request, principal);
    });
  }

  /** Control calls forwarded to and from other instances so far. */
  get stats(): ControlStats {
    return { ...this.#stats };
  }

  /**
   * Runs `serve` over a new session's inbound frames, the Open first, and
   * keeps the session reachable by Control while it runs. Registered once
   * iterated, so a call that never starts leaves nothing behind.
   */
  async *run<T>(open: ClientFrame, keys: SessionKeys, serve: (inbound: AsyncIterable<ClientFrame>) => AsyncIterable<T>): AsyncIterable<T> {
    const inbound = new FrameQueue<ClientFrame>(MAX_QUEUED_CONTROL_FRAMES);
    void inbound.push(open);
    const session: HalfDuplexSession = { secret: keys.sessionSecret, inbound, principal: undefined };
    this.#sessions.set(keys.sessionId, session);
    keys.onPrincipal = (principal) => (session.principal = principal);
    try {
      yield* serve(inbound);
    } finally {
      this.#sessions.delete(keys.sessionId);
      inbound.close();
    }
  }

  /**
   * One Control call: its frames go to the session in order, as if they had
   * come on a full-duplex stream. `principal` is the caller's when the
   * server authorizes (undefined: it does not). Throws a SluiceError for the
   * call's answer. A session this instance does not hold, whose id names
   * another instance, is that instance's to answer: the call is forwarded
   * through the relay (`unavailable` when the owner does not answer).
   */
  async control(request: ControlRequest, principal: string | undefined): Promise<ControlResponse> {
    const relay = this.#relay;
    if (!relay || this.#sessions.has(request.sessionId)) return this.#answer(request, principal);
    const owner = sessionOwner(request.sessionId);
    // An id that names no instance, or this one, is answered here: permission_denied like any unknown id.
    if (owner === undefined || owner === relay.instanceId) return this.#answer(request, principal);
    this.#stats.forwarded++;
    try {
      return await relay.forward(owner, request, principal);
    } catch (error) {
      // The owner's own answers are never unavailable (see #answer): this one is the relay's, for an owner that did not answer.
      if (error instanceof SluiceError && error.code === "unavailable") this.#stats.forwardUnanswered++;
      throw error;
    }
  }

  /** One Control call answered by this instance's registry alone. */
  #answer(request: ControlRequest, principal: string | undefined): ControlResponse {
    const session = this.#sessions.get(request.sessionId);
    // Unknown, ended, wrong secret and someone else's look the same, so ids cannot be probed.
    if (!session || !sameSecret(request.sessionSecret, session.secret)) throw noSuchSession();
    if (principal !== undefined && session.principal !== undefined && session.principal !== principal) throw noSuchSession();
    if (request.frames.length > MAX_CONTROL_FRAMES) {
      throw new SluiceError("limit_exceeded", `frames: ${request.frames.length} frames in one Control call, over the limit ${MAX_CONTROL_FRAMES}`, { field: "frames", blame: "remote" });
    }
    if (session.inbound.size + request.frames.length > MAX_QUEUED_CONTROL_FRAMES) {
      throw new SluiceError("limit_exceeded", `frames: more than ${MAX_QUEUED_CONTROL_FRAMES} control frames queued for the session`, { field: "frames", blame: "remote" });
    }
    const frames: ClientFrame[] = [];
    for (const [i, wire] of request.frames.entries()) {
      try {
        frames.push(clientFrameFromWire(wire));
      } catch (error) {
        if (!(error instanceof SluiceError)) throw error;
        // One rule for a frame that does not decode, in every mode: it ends
        // the session with PROTOCOL_VIOLATION (PROTOCOL.md §3.3). The call
        // fails too, naming the frame; none of its frames is applied.
        const named = new SluiceError(error.code, `frames[${i}]: ${error.message}`, { field: `frames[${i}]`, blame: "remote" });
        session.inbound.close(named);
        throw named;
      }
    }
    // A frame that breaks a rule (an Open, a credit violation) ends the
    // session with an Error frame on the response stream.
    for (const frame of frames) void session.inbound.push(frame);
    return create(ControlResponseSchema);
  }
}
