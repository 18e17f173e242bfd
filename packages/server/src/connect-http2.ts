/**
 * The Subscribe call over HTTP/2, spoken directly on the HTTP/2 stream:
 * Connect's streaming protocol (binary, uncompressed, no deadline), which is
 * what Sluice's own Node client sends. Every other call (JSON, gRPC,
 * gRPC-web, compression, deadlines, HTTP/1.1, the half-duplex RPCs) goes to
 * connect-node's handler as before.
 *
 * Why not connect-node's handler for this one call: each call there runs
 * through a pipeline of about 26 async generators, 80 closures and 40
 * promises (BENCHMARKS.md), which held ~44 KiB per idle call and a hand-off
 * per message in both directions. A subscription is one long call whose
 * messages are Sluice frames; the envelope is five bytes.
 *
 * The wire (connectrpc.com/docs/protocol, "Streaming"): each message is an
 * envelope, flags (1 byte) + length (4 bytes, big-endian) + message; the
 * response ends with an envelope flagged end-stream (0x02) holding JSON
 * `{}` or `{"error": {...}}`. Decoding errors in client messages are the
 * session's business (they become Sluice Error frames, as on every other
 * path); only a failure outside the session ends the call with a Connect
 * error.
 */
import type http2 from "node:http2";
import { toBinary, create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { contentTypeStreamProto, endStreamFlag, endStreamToJson } from "@connectrpc/connect/protocol-connect";
import { SluiceError, type ClientFrame, type ServerFrame } from "@sluice/core";
import { decodeClientFrame, encodeChunkFrameField, encodeEnvelope, EnvelopeReader, ENVELOPE_FLAG_COMPRESSED, ENVELOPE_PREFIX_BYTES, serverFrameToWire, SubscribeResponseSchema, TAG_RESPONSE_FRAME, writeEnvelopePrefix } from "@sluice/protocol";
import type { SluiceServer } from "./sluice-server.js";

export const SUBSCRIBE_PATH = "/sluice.v1.SubscribeService/Subscribe";

/** Whether a request is a Subscribe call this path serves (else: connect-node's handler). */
export function isDirectSubscribe(request: http2.Http2ServerRequest): boolean {
  const headers = request.headers;
  const encoding = headers["connect-content-encoding"];
  return (
    request.method === "POST" &&
    request.url === SUBSCRIBE_PATH &&
    headers["content-type"] === contentTypeStreamProto &&
    (encoding === undefined || encoding === "identity") &&
    headers["connect-timeout-ms"] === undefined
  );
}

/** Serves one Subscribe call on its HTTP/2 stream until the session ends or the client goes. */
export async function serveDirectSubscribe(sluice: SluiceServer, request: http2.Http2ServerRequest, response: http2.Http2ServerResponse): Promise<void> {
  const callGone = new AbortController();
  response.once("close", () => callGone.abort());
  response.writeHead(200, { "content-type": contentTypeStreamProto });
  let failure: ConnectError | undefined;
  try {
    const frames = sluice.subscribeFrames(readClientFrames(request, sluice.limits.maxFrameBytes), { requestHeader: headersOf(request), signal: callGone.signal });
    for await (const frame of frames) {
      if (response.destroyed) break;
      if (!response.write(envelopeOf(frame))) await drainedOrClosed(response);
    }
  } catch (error) {
    failure = ConnectError.from(error);
  }
  if (response.destroyed) return;
  const endStream = new TextEncoder().encode(JSON.stringify(endStreamToJson(new Headers(), failure, undefined)));
  response.end(encodeEnvelope(endStreamFlag, endStream));
}

/** Client frames from request envelopes; a bad envelope or frame ends the stream with a SluiceError blaming the client. */
async function* readClientFrames(request: http2.Http2ServerRequest, maxFrameBytes: number): AsyncIterable<ClientFrame> {
  const reader = new EnvelopeReader(maxFrameBytes);
  for await (const chunk of request as AsyncIterable<Buffer>) {
    reader.push(chunk);
    for (let envelope = reader.next(); envelope; envelope = reader.next()) {
      const { flags } = envelope;
      if (flags & ENVELOPE_FLAG_COMPRESSED) throw new SluiceError("protocol_violation", "compressed message, but the call negotiated no compression", { blame: "remote" });
      if (flags !== 0) throw new SluiceError("protocol_violation", `envelope flags 0x${flags.toString(16).padStart(2, "0")}: a client sends messages only`, { blame: "remote" });
      yield decodeClientFrame(envelope.data, maxFrameBytes);
    }
  }
  if (!reader.atBoundary) throw new SluiceError("protocol_violation", `request ended inside an envelope (${reader.partialBytes} bytes left over)`, { blame: "remote" });
}

/** A server frame as one envelope; chunks are encoded straight into it. */
function envelopeOf(frame: ServerFrame): Uint8Array {
  const direct = frame.type === "chunk" ? encodeChunkFrameField(frame, TAG_RESPONSE_FRAME, ENVELOPE_PREFIX_BYTES) : undefined;
  if (direct) {
    writeEnvelopePrefix(direct, 0, direct.byteLength - ENVELOPE_PREFIX_BYTES);
    return direct;
  }
  return encodeEnvelope(0, toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, { frame: serverFrameToWire(frame) })));
}

function headersOf(request: http2.Http2ServerRequest): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return headers;
}

function drainedOrClosed(response: http2.Http2ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off("drain", done);
      response.off("close", done);
      resolve();
    };
    response.once("drain", done);
    response.once("close", done);
  });
}
