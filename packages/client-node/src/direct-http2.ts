/**
 * Subscribe calls over HTTP/2 without connect-es' generic client pipeline:
 * the client half of the server's direct path. connect-es runs every message
 * through its async-iterable plumbing (an envelope reader built from
 * `cons`/`head` buffers, a promise chain per message, an AbortSignal per
 * call); for a stream of small chunks that is most of what a reader spends.
 * Here the HTTP/2 stream's data goes straight into Connect envelopes (a flag
 * byte, a 32-bit length, a SubscribeResponse) and each becomes a core frame.
 *
 * It is the same Connect call on the wire (`application/connect+proto`, an
 * end-of-stream message that carries the call's error), on connect-node's
 * own Http2SessionManager, so connection reuse, keep-alive pings and
 * `resetConnection` are unchanged. Everything the protocol decides stays in
 * core and the driver: this is only the pipe.
 */
import type { ClientHttp2Stream, IncomingHttpHeaders, IncomingHttpStatusHeader } from "node:http2";
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, endStreamFlag, endStreamFromJson } from "@connectrpc/connect/protocol-connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { SluiceError, type ClientFrame, type ServerFrame } from "@sluice/core";
import type { Credentials } from "@sluice/client";
import { callError, credentialHeaders } from "@sluice/client/internal";
import { FrameQueue, type FramePipe } from "@sluice/driver";
import { clientFrameToWire, serverFrameFromWire, SubscribeRequestSchema, SubscribeResponseSchema, SubscribeService } from "@sluice/protocol";

const ENVELOPE_HEADER = 5;
/** A response message larger than this is a broken or hostile server (the server's frames are capped far below). */
const MAX_ENVELOPE_BYTES = 64 * 1024 * 1024;

/** What a direct call needs: the connection manager of the client's HTTP/2 transport, and where and as whom to call. */
export interface DirectSubscribeOptions {
  readonly sessionManager: Http2SessionManager;
  readonly baseUrl: string;
  readonly credentials: Credentials;
}

/** A factory of duplex Subscribe pipes on the direct path (SluiceClientOptions.subscribeCall). */
export function directSubscribeCall(options: DirectSubscribeOptions): (signal: AbortSignal) => FramePipe<ServerFrame, ClientFrame> {
  const base = new URL(options.baseUrl).pathname.replace(/\/$/, "");
  const path = `${base}/${SubscribeService.typeName}/${SubscribeService.method.subscribe.name}`;
  return (signal) => openDirectCall(options, path, signal);
}

function openDirectCall(options: DirectSubscribeOptions, path: string, signal: AbortSignal): FramePipe<ServerFrame, ClientFrame> {
  const inbound = new FrameQueue<ServerFrame>(Number.MAX_SAFE_INTEGER);
  let stream: ClientHttp2Stream | undefined;
  /** Frames sent before the stream exists; written as soon as it does. */
  let early: Uint8Array[] = [];
  let finished = false;
  const fail = (error: unknown) => {
    if (finished) return;
    finished = true;
    inbound.close(callError(error));
    stream?.close();
  };
  const onAbort = () => fail(new ConnectError("the subscription was cancelled", Code.Canceled));
  signal.addEventListener("abort", onAbort, { once: true });
  const done = () => signal.removeEventListener("abort", onAbort);

  void (async () => {
    const headers = await credentialHeaders(options.credentials);
    if (finished) return;
    const opened = await options.sessionManager.request("POST", path, { "content-type": "application/connect+proto", "connect-protocol-version": "1", "user-agent": "sluice-client-node", ...headers }, {});
    if (finished) {
      opened.close();
      return;
    }
    stream = opened;
    readResponse(opened, options.sessionManager, inbound, () => (finished = true), fail);
    for (const envelope of early) opened.write(envelope);
    early = [];
  })().catch(fail);

  return {
    inbound: (async function* () {
      try {
        yield* inbound;
      } finally {
        done();
      }
    })(),
    send(frame) {
      if (finished) return;
      const envelope = envelopeOf(toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { frame: clientFrameToWire(frame) })));
      if (!stream) {
        early.push(envelope);
        return;
      }
      if (stream.write(envelope)) return;
      const waiting = stream;
      return new Promise<void>((resolve) => {
        const go = () => {
          waiting.off("drain", go);
          waiting.off("close", go);
          resolve();
        };
        waiting.on("drain", go);
        waiting.on("close", go);
      });
    },
    close() {
      // The session is over (End, Error or lost): end our side, and tear the call down once the server's side is read.
      if (finished) return;
      finished = true;
      inbound.close();
      if (stream) stream.close();
      else early = [];
    },
  };
}

function envelopeOf(message: Uint8Array): Uint8Array {
  const envelope = new Uint8Array(ENVELOPE_HEADER + message.byteLength);
  new DataView(envelope.buffer).setUint32(1, message.byteLength);
  envelope.set(message, ENVELOPE_HEADER);
  return envelope;
}

/** Reads the call's response: headers, then envelopes as they complete, then the end-of-stream message. */
function readResponse(stream: ClientHttp2Stream, manager: Http2SessionManager, inbound: FrameQueue<ServerFrame>, ended: () => void, fail: (error: unknown) => void): void {
  // Received bytes not yet taken as envelopes: a message arrives in many DATA
  // frames, and is joined once when it is complete (not once per frame).
  let chunks: Buffer[] = [];
  let buffered = 0;
  let sawEnd = false;
  /** The first `n` buffered bytes as one buffer (joining chunks only when they straddle). */
  const head = (n: number): Buffer => {
    if (chunks[0]!.byteLength < n) chunks = [Buffer.concat(chunks)];
    return chunks[0]!;
  };
  const take = (n: number): Buffer => {
    const first = head(n);
    const taken = first.subarray(0, n);
    if (first.byteLength === n) chunks.shift();
    else chunks[0] = first.subarray(n);
    buffered -= n;
    return taken;
  };
  stream.on("response", (headers: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
    const status = headers[":status"] ?? 0;
    const type = headers["content-type"] ?? "";
    if (status !== 200 || !type.startsWith("application/connect+proto")) {
      fail(new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status)));
    }
  });
  stream.on("data", (chunk: Buffer) => {
    manager.notifyResponseByteRead(stream);
    chunks.push(chunk);
    buffered += chunk.byteLength;
    try {
      while (buffered >= ENVELOPE_HEADER) {
        const header = head(ENVELOPE_HEADER);
        const flags = header[0]!;
        const length = header.readUInt32BE(1);
        if (length > MAX_ENVELOPE_BYTES) throw new SluiceError("protocol_violation", `a response message of ${length} bytes (at most ${MAX_ENVELOPE_BYTES})`, { blame: "remote" });
        if (buffered < ENVELOPE_HEADER + length) break;
        const body = take(ENVELOPE_HEADER + length).subarray(ENVELOPE_HEADER);
        if ((flags & endStreamFlag) === endStreamFlag) {
          sawEnd = true;
          const end = endStreamFromJson(body);
          if (end.error) throw end.error;
          continue;
        }
        const response = fromBinary(SubscribeResponseSchema, body);
        if (!response.frame) throw new SluiceError("protocol_violation", "response without a frame", { blame: "remote", retryable: true });
        inbound.push(serverFrameFromWire(response.frame));
      }
    } catch (error) {
      fail(error);
    }
  });
  stream.on("end", () => {
    if (!sawEnd) return fail(new ConnectError("the stream ended without an end-of-stream message", Code.Internal));
    ended();
    inbound.close();
  });
  stream.on("error", (error) => fail(ConnectError.from(error, Code.Unavailable)));
  stream.on("close", () => {
    if (stream.rstCode !== undefined && stream.rstCode !== 0) fail(new ConnectError(`the stream was reset (code ${stream.rstCode})`, Code.Unavailable));
    else if (!sawEnd) fail(new ConnectError("the stream closed before its end", Code.Unavailable));
  });
}
