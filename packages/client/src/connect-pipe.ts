/**
 * One full-duplex Subscribe call as a frame pipe: the only place where
 * Connect meets the driver on the client side.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { SluiceError, type ClientFrame, type ErrorCode, type OpenFrame, type ServerFrame } from "@sluice/core";
import { FrameQueue, type FramePipe } from "@sluice/driver";
import { clientFrameToWire, serverFrameFromWire, SubscribeRequestSchema, type ServerFrame as WireServerFrame, type SubscribeHalfDuplexRequest, type SubscribeService } from "@sluice/protocol";

const PERMANENT: Partial<Record<Code, ErrorCode>> = {
  [Code.Unauthenticated]: "unauthenticated",
  [Code.PermissionDenied]: "permission_denied",
  [Code.NotFound]: "stream_not_found",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.Unimplemented]: "stream_not_found",
};

/** A failed call as a SluiceError: auth and not-found are permanent, transport trouble is retryable. */
export function callError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  const connectError = ConnectError.from(error);
  const permanent = PERMANENT[connectError.code];
  if (permanent) return new SluiceError(permanent, connectError.rawMessage, { retryable: false, blame: "remote", cause: error });
  return new SluiceError("unavailable", `call failed (${Code[connectError.code]}): ${connectError.rawMessage}`, { retryable: true, cause: error });
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

/**
 * One half-duplex session as a frame pipe (PROTOCOL.md §3.3), for transports
 * that cannot stream requests (HTTP/1.1, browsers' fetch): the Open starts a
 * server-streaming SubscribeHalfDuplex call, and every later client frame goes
 * out in unary Control calls carrying the session id and secret from Opened.
 * One Control call is in flight at a time, so frames arrive in order; frames
 * queued meanwhile travel together in the next call.
 */
export function openHalfDuplexCall(client: Client<typeof SubscribeService>, signal: AbortSignal): FramePipe<ServerFrame, ClientFrame> {
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  let session: { readonly sessionId: string; readonly sessionSecret: Uint8Array } | undefined;
  let queued: ClientFrame[] = [];
  let sending: Promise<void> | undefined;
  let closed = false;
  let startCall!: (open: OpenFrame) => void;
  const opening = new Promise<OpenFrame>((resolve) => (startCall = resolve));

  const flush = (): Promise<void> | undefined => {
    if (sending || !session || queued.length === 0 || abort.signal.aborted) return sending;
    const { sessionId, sessionSecret } = session;
    sending = (async () => {
      try {
        while (queued.length > 0 && !abort.signal.aborted) {
          const frames = queued;
          queued = [];
          await client.control({ sessionId, sessionSecret, frames: frames.map(clientFrameToWire) }, { signal: abort.signal });
        }
      } catch {
        // A lost Control call means lost credit or acks: treat the session as
        // broken, so the subscription reconnects and resumes (PROTOCOL.md §7).
        abort.abort();
      } finally {
        sending = undefined;
      }
    })();
    return sending;
  };

  async function* inbound(): AsyncIterable<ServerFrame> {
    const open = await opening;
    const wireOpen = clientFrameToWire(open).kind.value as SubscribeHalfDuplexRequest["open"];
    const responses = client.subscribeHalfDuplex({ open: wireOpen }, { signal: abort.signal });
    for await (const frame of serverFrames(responses, () => signal.removeEventListener("abort", onAbort))) {
      if (frame.type === "opened") {
        session = { sessionId: frame.sessionId, sessionSecret: frame.sessionSecret };
        void flush();
      }
      yield frame;
    }
  }

  return {
    inbound: inbound(),
    send(frame) {
      if (closed) return;
      if (frame.type === "open") return startCall(frame);
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
