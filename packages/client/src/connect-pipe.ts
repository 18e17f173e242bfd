/**
 * One full-duplex Subscribe call as a frame pipe: the only place where
 * Connect meets the driver on the client side.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { ERROR_CODES, SluiceError, type ClientFrame, type ErrorCode, type IngestFrame, type OpenFrame, type PublishFrame, type ServerFrame } from "@sluice/core";
import { FrameQueue, type FramePipe } from "@sluice/driver";
import { clientFrameToWire, errorFromConnect, ingestFrameFromWire, publishFrameToWire, serverFrameFromWire, SubscribeRequestSchema, type PublishResponse, type PublishService, type ServerFrame as WireServerFrame, type SubscribeHalfDuplexRequest, type SubscribeService } from "@sluice/protocol";

/**
 * A failed call as a SluiceError, by @sluice/protocol's one table
 * (PROTOCOL.md §9.3): a refused request is permanent, transport trouble is
 * retryable. connect-es reports a response that was no Connect answer as
 * "HTTP <status>"; the status then decides.
 */
export function callError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  const connectError = ConnectError.from(error);
  // A unary call's Sluice error, carried in headers (PROTOCOL.md §9.3): its own code wins over the table's.
  const code = connectError.metadata.get("sluice-error");
  if (code !== null && (ERROR_CODES as readonly string[]).includes(code)) {
    const field = connectError.metadata.get("sluice-field");
    return new SluiceError(code as ErrorCode, connectError.rawMessage, { retryable: connectError.metadata.get("sluice-retryable") === "true", blame: "remote", ...(field ? { field } : {}), cause: error });
  }
  const status = /^HTTP (\d{3})$/.exec(connectError.rawMessage)?.[1];
  return errorFromConnect(connectError.code, connectError.rawMessage, { ...(status ? { httpStatus: Number(status) } : {}), cause: error });
}

export function openSubscribeCall(client: Client<typeof SubscribeService>, signal: AbortSignal): FramePipe<ServerFrame, ClientFrame> {
  const outbound = new FrameQueue<ClientFrame>(1_024);
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  async function* requests() {
    for await (const frame of outbound) yield create(SubscribeRequestSchema, { frame: clientFrameToWire(frame) });
  }
  const responses = client.subscribe(requests(), { signal: abort.signal });
  return {
    inbound: serverFrames(responses, () => signal.removeEventListener("abort", onAbort)),
    send: (frame) => outbound.push(frame),
    close: () => {
      outbound.close();
      // The session is over (End, Error or lost): tear the call down.
      queueMicrotask(() => abort.abort());
    },
  };
}

/** One full-duplex Publish call as a frame pipe (PROTOCOL.md §3.4): publish frames out, ingest frames in. */
export function openPublishCall(client: Client<typeof PublishService>, signal: AbortSignal): FramePipe<IngestFrame, PublishFrame> {
  const outbound = new FrameQueue<PublishFrame>(1_024);
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  async function* requests() {
    for await (const frame of outbound) yield publishFrameToWire(frame);
  }
  const responses = client.publish(requests(), { signal: abort.signal });
  return {
    inbound: ingestFrames(responses, () => signal.removeEventListener("abort", onAbort)),
    send: (frame) => outbound.push(frame),
    close: () => {
      outbound.close();
      queueMicrotask(() => abort.abort());
    },
  };
}

/** A Publish call's responses as ingest frames; call failures become SluiceErrors. */
async function* ingestFrames(responses: AsyncIterable<PublishResponse>, done: () => void): AsyncIterable<IngestFrame> {
  try {
    for await (const response of responses) yield ingestFrameFromWire(response);
  } catch (error) {
    throw callError(error);
  } finally {
    done();
  }
}

/** How long a half-duplex receiver holds an ack (a Control request each, PROTOCOL.md §3.3, §7.2). */
export const HALF_DUPLEX_ACK_DELAY_MS = 250;

/**
 * One half-duplex session as a frame pipe (PROTOCOL.md §3.3), for transports
 * that cannot stream requests (HTTP/1.1, browsers' fetch): the Open starts a
 * server-streaming SubscribeHalfDuplex call, and every later client frame goes
 * out in unary Control calls carrying the session id and secret from Opened.
 * One Control call is in flight at a time, so frames arrive in order; frames
 * queued meanwhile travel together in the next call.
 */
export function openHalfDuplexCall(client: Client<typeof SubscribeService>, signal: AbortSignal, stream: HalfDuplexStream = connectHalfDuplexStream(client)): FramePipe<ServerFrame, ClientFrame> {
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  let session: { readonly sessionId: string; readonly sessionSecret: Uint8Array } | undefined;
  let queued: ClientFrame[] = [];
  let sending: Promise<void> | undefined;
  let closed = false;
  /** The server no longer knows the session (it ended): no more Control calls. */
  let sessionGone = false;
  let startCall!: (open: OpenFrame) => void;
  const opening = new Promise<OpenFrame>((resolve) => (startCall = resolve));

  const flush = (): Promise<void> | undefined => {
    if (sending || !session || sessionGone || queued.length === 0 || abort.signal.aborted) return sending;
    const { sessionId, sessionSecret } = session;
    sending = (async () => {
      try {
        while (queued.length > 0 && !abort.signal.aborted) {
          const frames = queued;
          queued = [];
          await client.control({ sessionId, sessionSecret, frames: frames.map(clientFrameToWire) }, { signal: abort.signal });
        }
      } catch (error) {
        if (ConnectError.from(error).code === Code.PermissionDenied) {
          // The session ended (its End or Error may be racing this answer on
          // the response stream, and wins): stop sending, let the stream end
          // (PROTOCOL.md §3.3). A stream that ends without End is lost as usual.
          sessionGone = true;
          queued = [];
        } else {
          // A lost Control call means lost credit or acks: treat the session
          // as broken, so the subscription reconnects and resumes (§7.5).
          abort.abort();
        }
      } finally {
        sending = undefined;
      }
    })();
    return sending;
  };

  async function* inbound(): AsyncIterable<ServerFrame> {
    const open = await opening;
    try {
      for await (const frame of stream(open, abort.signal)) {
        if (frame.type === "opened") {
          session = { sessionId: frame.sessionId, sessionSecret: frame.sessionSecret };
          void flush();
        }
        // The session is over on the server: a Control call now would only be
        // refused (403 "no session", which browsers log as a failed request).
        if (frame.type === "end" || frame.type === "error") {
          sessionGone = true;
          queued = [];
        }
        yield frame;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  return {
    inbound: inbound(),
    // Each batch of client frames is a Control request: acks wait longer than on a stream.
    ackDelayMs: HALF_DUPLEX_ACK_DELAY_MS,
    send(frame) {
      if (closed) return;
      if (frame.type === "open") return startCall(frame);
      // Before Opened there is no session to address: cancelling means
      // abandoning the call, which ends the session on the server (§3.3).
      if (frame.type === "cancel" && !session) return abort.abort();
      queued.push(frame);
      void flush();
    },
    close() {
      if (closed) return;
      closed = true;
      // Let a final Cancel or ack reach the server, then tear the call down.
      const pending = flush();
      if (pending) void pending.finally(() => abort.abort());
      else queueMicrotask(() => abort.abort());
    },
  };
}

/**
 * Where a half-duplex session's server frames come from, given its Open:
 * connect-es' SubscribeHalfDuplex call, or the direct path's
 * (direct-subscribe.ts' directHalfDuplexFrames). Call failures are SluiceErrors.
 */
export type HalfDuplexStream = (open: OpenFrame, signal: AbortSignal) => AsyncIterable<ServerFrame>;

/** SubscribeHalfDuplex through connect-es. */
function connectHalfDuplexStream(client: Client<typeof SubscribeService>): HalfDuplexStream {
  return (open, signal) => {
    const wireOpen = clientFrameToWire(open).kind.value as SubscribeHalfDuplexRequest["open"];
    return serverFrames(client.subscribeHalfDuplex({ open: wireOpen }, { signal }), () => undefined);
  };
}

/** A call's responses as server frames; call failures become SluiceErrors. `done` runs once it ends. */
async function* serverFrames(responses: AsyncIterable<{ frame?: WireServerFrame }>, done: () => void): AsyncIterable<ServerFrame> {
  try {
    for await (const response of responses) {
      if (!response.frame) throw new SluiceError("protocol_violation", "response without a frame", { blame: "remote", retryable: true });
      yield serverFrameFromWire(response.frame);
    }
  } catch (error) {
    throw callError(error);
  } finally {
    done();
  }
}
