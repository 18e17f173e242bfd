/**
 * One full-duplex Subscribe call as a frame pipe: the only place where
 * Connect meets the driver on the client side.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { SluiceError, type ClientFrame, type ErrorCode, type ServerFrame } from "@sluice/core";
import { FrameQueue, type FramePipe } from "@sluice/driver";
import { clientFrameToWire, serverFrameFromWire, SubscribeRequestSchema, type SubscribeService } from "@sluice/protocol";

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
  async function* inbound(): AsyncIterable<ServerFrame> {
    try {
      for await (const response of responses) {
        if (!response.frame) throw new SluiceError("protocol_violation", "response without a frame", { blame: "remote", retryable: true });
        yield serverFrameFromWire(response.frame);
      }
    } catch (error) {
      throw callError(error);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
  return {
    inbound: inbound(),
    send: (frame) => outbound.push(frame),
    close: () => {
      outbound.close();
      // The session is over (End, Error or lost): tear the call down.
      queueMicrotask(() => abort.abort());
    },
  };
}
