/**
 * A ControlRelay on NATS request/reply (PROTOCOL.md §3.3): each instance
 * answers the Control calls forwarded to it on `<prefix>.control.<instance
 * id>`, and forwards the ones for other instances' sessions there.
 *
 * The wire, on core NATS (nothing is stored: a Control call is only worth
 * answering now):
 * - request: the ControlRequest in protobuf binary; header
 *   `Sluice-Principal` (percent-encoded, absent when the forwarding instance
 *   does not authorize) carries the principal authorize returned there.
 * - reply: the ControlResponse in protobuf binary; or, for a refused call,
 *   header `Sluice-Error` (the Sluice code) and a JSON body with the error's
 *   code, message, field, blame and retry hints, so the forwarding instance
 *   answers exactly as the owner did.
 * - no responder on the subject (the owner is gone) or no reply within
 *   `timeoutMs`: `unavailable`, retryable.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { ERROR_CODE_INFO, SluiceError, type Blame, type ErrorCode } from "@sluice/core";
import { ControlRequestSchema, ControlResponseSchema, type ControlRequest, type ControlResponse } from "@sluice/protocol";
import type { ControlHandler, ControlRelay } from "@sluice/server";

/** A {@link NatsControlRelay}'s connection, subjects, instance id and timeout. */
export interface NatsControlRelayOptions {
  /** The NATS connection; the caller owns it and closes it (after the relay). */
  readonly connection: NatsConnection;
  /** This instance's id: letters, digits, "_" and "-", at most 64. Default: 10 random characters. */
  readonly instanceId?: string;
  /** The subjects' prefix (NATS tokens joined by "."). Default "sluice": calls for instance X go to `sluice.control.X`. */
  readonly prefix?: string;
  /** How long a forwarded call waits for the owner's answer before it fails with `unavailable`, in milliseconds. Default 2 000. */
  readonly timeoutMs?: number;
}

const PRINCIPAL_HEADER = "Sluice-Principal";
const ERROR_HEADER = "Sluice-Error";
const INSTANCE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** A refused call as it travels back to the forwarding instance. */
interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly field: string;
  readonly blame: Blame;
  readonly retryable: boolean;
  readonly retryAfterMs: number;
}

/** Forwards Control calls between server instances on one NATS; see the module comment for the wire. */
export class NatsControlRelay implements ControlRelay {
  /** This instance's id, in front of the session ids it issues. */
  readonly instanceId: string;
  /** The subject this instance answers on. */
  readonly subject: string;
  readonly #connection: NatsConnection;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  #subscription: Subscription | undefined;
  #closed = false;

  constructor(options: NatsControlRelayOptions) {
    const prefix = options.prefix ?? "sluice";
    if (!PREFIX.test(prefix)) throw new SluiceError("invalid_argument", `prefix: NATS subject tokens (letters, digits, "_", "-") joined by ".", got ${JSON.stringify(prefix)}`, { field: "prefix" });
    const instanceId = options.instanceId ?? randomInstanceId();
    // Session ids carry it up to their first ".", and it is a subject token: nothing else fits both.
    if (!INSTANCE_ID.test(instanceId)) throw new SluiceError("invalid_argument", `instanceId: 1 to 64 letters, digits, "_" or "-", got ${JSON.stringify(instanceId)}`, { field: "instanceId" });
    const timeoutMs = options.timeoutMs ?? 2_000;
    if (!(timeoutMs > 0)) throw new SluiceError("invalid_argument", `timeoutMs: must be above 0, got ${timeoutMs}`, { field: "timeoutMs" });
    this.#connection = options.connection;
    this.#prefix = prefix;
    this.#timeoutMs = timeoutMs;
    this.instanceId = instanceId;
    this.subject = this.#subjectOf(instanceId);
  }

  /** Answers the calls forwarded to this instance with `handle`, until close(). */
  serve(handle: ControlHandler): void {
    if (this.#closed) throw new SluiceError("internal", `control relay of instance ${this.instanceId} is closed: it serves no more`);
    if (this.#subscription) throw new SluiceError("internal", `control relay of instance ${this.instanceId} serves already: one SluiceServer per relay`);
    this.#subscription = this.#connection.subscribe(this.subject, {
      callback: (error, msg) => {
        // A subscription error (permissions) ends it; forwarders then see no responder and answer unavailable.
        if (!error) this.#answer(msg, handle);
      },
    });
  }

  /** Forwards a Control call to instance `instanceId`: its answer, its SluiceError, or `unavailable`. */
  async forward(instanceId: string, request: ControlRequest, principal: string | undefined): Promise<ControlResponse> {
    if (this.#closed) throw new SluiceError("unavailable", `control relay of instance ${this.instanceId} is closed: cannot forward to instance ${instanceId}`);
    // The server forwards only for ids that name an instance; anything else would not be one subject token.
    if (!INSTANCE_ID.test(instanceId)) throw new SluiceError("invalid_argument", `control relay: ${JSON.stringify(instanceId)} is not an instance id`, { field: "instanceId" });
    const requestHeaders = headers();
    if (principal !== undefined) requestHeaders.set(PRINCIPAL_HEADER, encodeURIComponent(principal));
    let reply: Msg;
    try {
      reply = await this.#connection.request(this.#subjectOf(instanceId), toBinary(ControlRequestSchema, request), { timeout: this.#timeoutMs, headers: requestHeaders });
    } catch (error) {
      const noResponder = (error as { isNoResponders?: () => boolean }).isNoResponders?.() === true;
      const why = noResponder ? "nothing answers there (the instance is gone)" : `no answer within ${this.#timeoutMs} ms (${(error as Error).message})`;
      throw new SluiceError("unavailable", `control relay: the session's instance ${instanceId} did not take the forwarded Control call: ${why}`, { cause: error });
    }
    if (reply.headers?.has(ERROR_HEADER)) throw errorFromReply(reply, instanceId);
    try {
      return fromBinary(ControlResponseSchema, reply.data);
    } catch (error) {
      throw new SluiceError("internal", `control relay: instance ${instanceId} answered with a ControlResponse that does not decode: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Stops answering forwarded calls (those in hand are answered first) and refuses new forwards; the connection stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const subscription = this.#subscription;
    this.#subscription = undefined;
    if (subscription && !this.#connection.isClosed()) await subscription.drain().catch(() => subscription.unsubscribe());
  }

  #subjectOf(instanceId: string): string {
    return `${this.#prefix}.control.${instanceId}`;
  }

  #answer(msg: Msg, handle: ControlHandler): void {
    let response: ControlResponse;
    try {
      let request: ControlRequest;
      try {
        request = fromBinary(ControlRequestSchema, msg.data);
      } catch (error) {
        throw new SluiceError("internal", `control relay: a forwarded ControlRequest does not decode: ${(error as Error).message}`);
      }
      const encoded = msg.headers?.has(PRINCIPAL_HEADER) ? msg.headers.get(PRINCIPAL_HEADER) : undefined;
      response = handle(request, encoded === undefined ? undefined : decodeURIComponent(encoded));
    } catch (error) {
      const refused = error instanceof SluiceError ? error : new SluiceError("internal", `control relay: answering a forwarded Control call failed: ${(error as Error).message}`);
      const replyHeaders = headers();
      replyHeaders.set(ERROR_HEADER, refused.code);
      const wire: WireError = { code: refused.code, message: refused.message, field: refused.field, blame: refused.blame, retryable: refused.retryable, retryAfterMs: refused.retryAfterMs };
      msg.respond(JSON.stringify(wire), { headers: replyHeaders });
      return;
    }
    msg.respond(toBinary(ControlResponseSchema, response));
  }
}

/** The owner's refusal, as the owner made it. */
function errorFromReply(reply: Msg, instanceId: string): SluiceError {
  let wire: Partial<WireError>;
  try {
    wire = reply.json<Partial<WireError>>();
  } catch (error) {
    return new SluiceError("internal", `control relay: instance ${instanceId} refused the forwarded Control call with an error that does not decode: ${(error as Error).message}`);
  }
  const code = typeof wire.code === "string" && Object.hasOwn(ERROR_CODE_INFO, wire.code) ? wire.code : "internal";
  return new SluiceError(code, typeof wire.message === "string" ? wire.message : `instance ${instanceId} refused the forwarded Control call`, {
    ...(typeof wire.field === "string" ? { field: wire.field } : {}),
    ...(wire.blame === "local" || wire.blame === "remote" ? { blame: wire.blame } : {}),
    ...(typeof wire.retryable === "boolean" ? { retryable: wire.retryable } : {}),
    ...(typeof wire.retryAfterMs === "number" ? { retryAfterMs: wire.retryAfterMs } : {}),
  });
}

/** 10 characters of [0-9a-z]: about 51 bits, so instances sharing a NATS do not collide. */
function randomInstanceId(): string {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  // 252 is the largest multiple of 36 below 256: rejecting the rest keeps every character equally likely.
  let id = "";
  while (id.length < 10) for (const byte of crypto.getRandomValues(new Uint8Array(16))) if (byte < 252 && id.length < 10) id += alphabet[byte % 36];
  return id;
}
