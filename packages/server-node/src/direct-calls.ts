/**
 * Sluice's own streaming calls spoken directly on the HTTP response or the
 * WebSocket call: Connect's streaming protocol (binary, uncompressed, no
 * deadline), which is what Sluice's clients send. `Subscribe` over HTTP/2
 * and WebSocket, and `SubscribeHalfDuplex` over HTTP/2, HTTP/1.1 and
 * WebSocket. Every other call (JSON, gRPC, gRPC-web, compression, deadlines,
 * Control) goes to connect-node's handler, or to connect's router over
 * WebSocket, as before. One path serves them all: what differs per
 * transport is how a {@link DirectCall} starts, writes and ends.
 *
 * Why not connect-node's handler for these: each call there runs through a
 * pipeline of about 26 async generators, 80 closures and 40 promises
 * (BENCHMARKS.md), which held ~44 KiB per idle call and a hand-off per
 * message in both directions; and each response message was serialized by
 * protobuf-es' growing writer and copied again into its envelope, where
 * here a chunk is encoded once, straight into its envelope. A subscription is one long call whose messages
 * are Sluice frames; the envelope is five bytes. And connect-es answers a
 * request message that does not parse with `internal`, which clients must
 * retry; here it is `invalid_argument` (PROTOCOL.md §9.3).
 *
 * The wire (connectrpc.com/docs/protocol, "Streaming"): each message is an
 * envelope, flags (1 byte) + length (4 bytes, big-endian) + message; the
 * response ends with an envelope flagged end-stream (0x02) holding JSON
 * `{}` or `{"error": {...}}`. Decoding errors in client messages are the
 * session's business (they become Sluice Error frames, as on every other
 * path); only a failure outside the session ends the call with a Connect
 * error.
 */
import type http from "node:http";
import http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { contentTypeStreamProto, endStreamFlag, endStreamToJson } from "@connectrpc/connect/protocol-connect";
import { SluiceError, type ClientFrame, type ServerFrame } from "@sluice/core";
import { FrameQueue } from "@sluice/driver";
import {
  decodeClientFrame,
  encodeChunkFrameField,
  encodeControlMessage,
  encodeEnvelope,
  EnvelopeReader,
  ENVELOPE_FLAG_COMPRESSED,
  ENVELOPE_PREFIX_BYTES,
  serverFrameToWire,
  SubscribeHalfDuplexRequestSchema,
  SubscribeResponseSchema,
  TAG_RESPONSE_FRAME,
  writeEnvelopePrefix,
} from "@sluice/protocol";
import type { CallInfo, SluiceServer } from "@sluice/server";
import { DATA_FRAME_HEADROOM_BYTES, type ServerCall } from "@sluice/transport-ws/server";

export const SUBSCRIBE_PATH = "/sluice.v1.SubscribeService/Subscribe";
export const SUBSCRIBE_HALF_DUPLEX_PATH = "/sluice.v1.SubscribeService/SubscribeHalfDuplex";

type Request = http.IncomingMessage | http2.Http2ServerRequest;

/** What the direct path needs of a response: http's and http2's both have it. */
interface Response {
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: Uint8Array): boolean;
  end(chunk: Uint8Array): unknown;
  once(event: "close" | "drain", listener: () => void): unknown;
  off(event: "close" | "drain", listener: () => void): unknown;
}

/** One call as the direct path sees it, whatever carries it. */
interface DirectCall {
  readonly path: string;
  readonly requestHeaders: Headers;
  /** The request body, as it arrives. */
  readonly body: AsyncIterable<Uint8Array>;
  /** The request's client frames, decoded as they arrive (a bad envelope or frame ends them with a SluiceError blaming the client). */
  frames(maxFrameBytes: number): AsyncIterable<ClientFrame>;
  /** The connection, for the per-connection budget. */
  readonly connection: object | undefined;
  /** Aborted when the client is gone. */
  readonly gone: AbortSignal;
  /** Sends the response head: 200, Connect's streaming content type. */
  begin(): void;
  /**
   * Sends bytes of the response body; a promise when the next write should
   * wait for it. `headroom`: free bytes before `bytes` in its buffer, which
   * a transport may fill with its own header (WebSocket's CallData).
   */
  write(bytes: Uint8Array, headroom: number): Promise<void> | undefined;
  /** Sends the last bytes (the end-stream envelope) and ends the response. */
  finish(last: Uint8Array): void;
}

/** The call's own request checks, shared by every transport: binary, uncompressed, no deadline. */
function isDirectRequest(path: string | undefined, contentType: string | null | undefined, encoding: unknown, timeout: unknown, fullDuplex: boolean): boolean {
  return (
    ((path === SUBSCRIBE_PATH && fullDuplex) || path === SUBSCRIBE_HALF_DUPLEX_PATH) &&
    contentType === contentTypeStreamProto &&
    (encoding === undefined || encoding === null || encoding === "identity") &&
    (timeout === undefined || timeout === null)
  );
}

/** Whether an HTTP request is a call this path serves (else: connect-node's handler). */
export function isDirectCall(request: Request): boolean {
  const headers = request.headers;
  return request.method === "POST" && isDirectRequest(request.url, headers["content-type"], headers["connect-content-encoding"], headers["connect-timeout-ms"], request instanceof http2.Http2ServerRequest);
}

/** Serves one direct HTTP call until its session ends or the client goes. */
export function serveDirectHttpCall(sluice: SluiceServer, request: Request, response: Response): Promise<void> {
  return serveDirectCall(sluice, new HttpDirectCall(request, response));
}

/**
 * A direct call on an HTTP request and its response (HTTP/2 or HTTP/1.1).
 * One object, not a record of closures: it lives as long as the
 * subscription, and an idle session's heap is mostly what it holds.
 */
class HttpDirectCall implements DirectCall {
  readonly #request: Request;
  readonly #response: Response;
  readonly #gone = new AbortController();
  #headers: Headers | undefined;

  constructor(request: Request, response: Response) {
    this.#request = request;
    this.#response = response;
    response.once("close", this.#onClose);
  }

  readonly #onClose = () => this.#gone.abort();

  get path(): string {
    return this.#request.url ?? "";
  }

  /** Built when asked (by `authorize`): most sessions never read them. */
  get requestHeaders(): Headers {
    return (this.#headers ??= headersOf(this.#request));
  }

  get body(): AsyncIterable<Uint8Array> {
    return this.#request as AsyncIterable<Buffer>;
  }

  frames(maxFrameBytes: number): AsyncIterable<ClientFrame> {
    return pushedClientFrames(this.#request, maxFrameBytes);
  }

  /** The HTTP/2 session, or the HTTP/1.1 socket. */
  get connection(): object | undefined {
    const request = this.#request;
    return request instanceof http2.Http2ServerRequest ? request.stream.session : request.socket;
  }

  get gone(): AbortSignal {
    return this.#gone.signal;
  }

  begin(): void {
    this.#response.writeHead(200, { "content-type": contentTypeStreamProto });
  }

  write(bytes: Uint8Array): Promise<void> | undefined {
    // Not response.destroyed: http2's compat response has no such flag, and
    // a write to a closed stream never drains, which kept every session of
    // a reset stream alive with its window of chunks (issue 14).
    return this.#response.write(bytes) ? undefined : drainedOrClosed(this.#response, this.#gone.signal);
  }

  finish(last: Uint8Array): void {
    this.#response.end(last);
  }
}

/** Whether a WebSocket call is one this path serves (else: connect's router). */
export function isDirectWebSocketCall(call: ServerCall): boolean {
  const headers = call.requestHeaders;
  return isDirectRequest(call.path, headers.get("content-type"), headers.get("connect-content-encoding"), headers.get("connect-timeout-ms"), true);
}

/** Serves one direct WebSocket call until its session ends or the client goes. */
export function serveDirectWebSocketCall(sluice: SluiceServer, call: ServerCall, socket: object): Promise<void> {
  // A write to a call that is gone rejects; the session then sees the call gone.
  const written = (promise: Promise<void>) => promise.catch(() => undefined);
  return serveDirectCall(sluice, {
    path: call.path,
    requestHeaders: call.requestHeaders,
    get body() {
      return call.body();
    },
    frames: (maxFrameBytes) => readClientFrames(call.body(), maxFrameBytes),
    connection: socket,
    gone: call.signal,
    begin: () => call.sendHead(200, new Headers({ "content-type": contentTypeStreamProto })),
    write: (bytes, headroom) => written(call.write(bytes, headroom)),
    finish: (last) => void written(call.write(last)).then(() => call.end(new Headers())),
  });
}

/** Serves one direct call until its session ends or the client goes. */
async function serveDirectCall(sluice: SluiceServer, call: DirectCall): Promise<void> {
  const gone = call.gone;
  call.begin();
  const info = new DirectCallInfo(call);
  let failure: ConnectError | undefined;
  const send = (frame: ServerFrame) => {
    if (gone.aborted) return;
    const { envelope, headroom } = envelopeOf(frame);
    return call.write(envelope, headroom);
  };
  try {
    if (call.path === SUBSCRIBE_PATH) await sluice.serveSubscribe(call.frames(sluice.limits.maxFrameBytes), info, send);
    else {
      for await (const frame of sluice.subscribeHalfDuplexFrames(await readHalfDuplexOpen(call.body, sluice.limits.maxFrameBytes), info)) {
        if (gone.aborted) break;
        const wait = send(frame);
        if (wait) await wait;
      }
    }
  } catch (error) {
    failure = error instanceof SluiceError ? new ConnectError(error.message, error.code === "limit_exceeded" ? Code.ResourceExhausted : Code.InvalidArgument) : ConnectError.from(error);
  }
  if (gone.aborted) return;
  const endStream = new TextEncoder().encode(JSON.stringify(endStreamToJson(new Headers(), failure, undefined)));
  call.finish(encodeEnvelope(endStreamFlag, endStream));
}

/** A direct call as the server's CallInfo; its request headers are built when read (only an `authorize` hook reads them). */
class DirectCallInfo implements CallInfo {
  readonly #call: DirectCall;
  readonly signal: AbortSignal;
  readonly connection?: object;

  constructor(call: DirectCall) {
    this.#call = call;
    this.signal = call.gone;
    const connection = call.connection;
    if (connection) this.connection = connection;
  }

  get requestHeader(): Headers {
    return this.#call.requestHeaders;
  }
}

/**
 * An HTTP request's client frames, decoded in its 'data' events: pushed,
 * where iterating the request took a stream iterator's promise and an
 * async generator's for every piece. The request pauses while the session
 * has a queue's worth of frames unread, so a flood of frames waits in the
 * client's flow-control window, not here.
 */
function pushedClientFrames(request: Request, maxFrameBytes: number): AsyncIterable<ClientFrame> {
  const frames = new FrameQueue<ClientFrame>(64);
  const reader = new EnvelopeReader(maxFrameBytes);
  const resume = () => void request.resume();
  const stop = (error?: unknown) => {
    request.off("data", onData);
    frames.close(error);
  };
  const onData = (piece: Buffer) => {
    try {
      reader.push(piece);
      let wait: Promise<void> | void = undefined;
      for (let envelope = reader.next(); envelope; envelope = reader.next()) {
        checkFlags(envelope.flags);
        wait = frames.push(decodeClientFrame(envelope.data, maxFrameBytes)) ?? wait;
      }
      if (wait) {
        request.pause();
        void wait.then(resume);
      }
    } catch (error) {
      stop(error);
    }
  };
  request.on("data", onData);
  request.once("end", () => stop(reader.atBoundary ? undefined : new SluiceError("protocol_violation", `request ended inside an envelope (${reader.partialBytes} bytes left over)`, { blame: "remote" })));
  // Closed without its end: the client reset the call or the connection went (a no-op after the end).
  request.once("close", () => stop(new Error("the request closed before it ended")));
  request.once("error", stop);
  return frames;
}

/** Client frames from request envelopes; a bad envelope or frame ends the stream with a SluiceError blaming the client. */
async function* readClientFrames(body: AsyncIterable<Uint8Array>, maxFrameBytes: number): AsyncIterable<ClientFrame> {
  const reader = new EnvelopeReader(maxFrameBytes);
  for await (const chunk of body) {
    reader.push(chunk);
    for (let envelope = reader.next(); envelope; envelope = reader.next()) {
      checkFlags(envelope.flags);
      yield decodeClientFrame(envelope.data, maxFrameBytes);
    }
  }
  if (!reader.atBoundary) throw new SluiceError("protocol_violation", `request ended inside an envelope (${reader.partialBytes} bytes left over)`, { blame: "remote" });
}

/** The Open of a SubscribeHalfDuplex request: exactly one envelope, read bounded. */
async function readHalfDuplexOpen(body: AsyncIterable<Uint8Array>, maxFrameBytes: number) {
  const reader = new EnvelopeReader(maxFrameBytes);
  let message: Uint8Array | undefined;
  for await (const chunk of body) {
    reader.push(chunk);
    for (let envelope = reader.next(); envelope; envelope = reader.next()) {
      checkFlags(envelope.flags);
      if (message) throw new SluiceError("invalid_argument", "a SubscribeHalfDuplex request carries one message", { blame: "remote" });
      message = envelope.data;
    }
  }
  if (!message || !reader.atBoundary) throw new SluiceError("invalid_argument", "the request ended before its message", { blame: "remote" });
  try {
    return fromBinary(SubscribeHalfDuplexRequestSchema, message).open;
  } catch (error) {
    throw new SluiceError("invalid_argument", `the request does not decode as SubscribeHalfDuplexRequest: ${(error as Error).message}`, { blame: "remote" });
  }
}

function checkFlags(flags: number): void {
  if (flags & ENVELOPE_FLAG_COMPRESSED) throw new SluiceError("protocol_violation", "compressed message, but the call negotiated no compression", { blame: "remote" });
  if (flags !== 0) throw new SluiceError("protocol_violation", `envelope flags 0x${flags.toString(16).padStart(2, "0")}: a client sends messages only`, { blame: "remote" });
}

/**
 * A server frame as one envelope; chunks are encoded straight into it. The
 * bytes are a SubscribeResponse, which is also a SubscribeHalfDuplexResponse
 * (both carry the frame as field 1).
 */
/**
 * Free bytes left before a chunk's envelope: a WebSocket call writes its
 * CallData header there, so the chunk leaves as one message without a copy
 * (two fragments made the reading client join them: ~7 % of its time at
 * 16 KiB items).
 */
const CHUNK_HEADROOM_BYTES = DATA_FRAME_HEADROOM_BYTES;

/** The frame in its Connect envelope, and the free bytes before it (a chunk's is encoded once, with CHUNK_HEADROOM_BYTES). */
function envelopeOf(frame: ServerFrame): { envelope: Uint8Array; headroom: number } {
  const direct = frame.type === "chunk" ? encodeChunkFrameField(frame, TAG_RESPONSE_FRAME, CHUNK_HEADROOM_BYTES + ENVELOPE_PREFIX_BYTES) : undefined;
  if (direct) {
    const envelope = direct.subarray(CHUNK_HEADROOM_BYTES);
    writeEnvelopePrefix(envelope, 0, envelope.byteLength - ENVELOPE_PREFIX_BYTES);
    return { envelope, headroom: CHUNK_HEADROOM_BYTES };
  }
  const control = encodeControlMessage(frame, "server", ENVELOPE_PREFIX_BYTES);
  if (control) {
    writeEnvelopePrefix(control, 0, control.byteLength - ENVELOPE_PREFIX_BYTES);
    return { envelope: control, headroom: 0 };
  }
  return { envelope: encodeEnvelope(0, toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, { frame: serverFrameToWire(frame) }))), headroom: 0 };
}

function headersOf(request: Request): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return headers;
}

/** Resolves when the response can take more, or the call is gone (also when it went before we asked). */
function drainedOrClosed(response: Response, gone: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (gone.aborted) return resolve();
    const done = () => {
      response.off("drain", done);
      gone.removeEventListener("abort", done);
      resolve();
    };
    response.once("drain", done);
    gone.addEventListener("abort", done, { once: true });
  });
}
