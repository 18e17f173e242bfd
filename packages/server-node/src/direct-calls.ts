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
import type http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { contentTypeStreamProto, endStreamFlag, endStreamToJson } from "@connectrpc/connect/protocol-connect";
import { SluiceError, type ClientFrame, type ServerFrame } from "@sluice/core";
import { FrameQueue, OnceSignal, type FramePipe, type SessionSignal } from "@sluice/driver";
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

/** What the direct path needs of a response body: an http ServerResponse and an HTTP/2 stream both have it. */
interface ResponseBody {
  write(chunk: Uint8Array): boolean;
  end(chunk: Uint8Array): unknown;
  once(event: "close" | "drain", listener: () => void): unknown;
  off(event: "close" | "drain", listener: () => void): unknown;
}

/** An HTTP/1.1 response: a body with a head. */
interface Http1Response extends ResponseBody {
  writeHead(status: number, headers: Record<string, string>): unknown;
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
  readonly gone: SessionSignal;
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

/** Whether an HTTP/1.1 request is a call this path serves (else: connect-node's handler). */
export function isDirectCall(request: http.IncomingMessage): boolean {
  const headers = request.headers;
  return request.method === "POST" && isDirectRequest(request.url, headers["content-type"], headers["connect-content-encoding"], headers["connect-timeout-ms"], false);
}

/** Whether an HTTP/2 stream's request (its headers as Node's 'stream' event gives them) is a call this path serves. */
export function isDirectHttp2Stream(headers: http2.IncomingHttpHeaders): boolean {
  return headers[":method"] === "POST" && isDirectRequest(headers[":path"], headers["content-type"], headers["connect-content-encoding"], headers["connect-timeout-ms"], true);
}

/** Serves one direct HTTP/1.1 call until its session ends or the client goes. */
export function serveDirectHttpCall(sluice: SluiceServer, request: http.IncomingMessage, response: Http1Response): Promise<void> {
  return serveDirectCall(sluice, new Http1DirectCall(request, response));
}

/**
 * Serves one direct call on a bare HTTP/2 stream (no compat request and
 * response in between: they held ~1 KiB of an idle session), with
 * `responseHeaders` (CORS) beside the status and content type.
 */
export function serveDirectHttp2Stream(sluice: SluiceServer, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, responseHeaders?: Record<string, string>): Promise<void> {
  return serveDirectCall(sluice, new Http2DirectCall(stream, headers, responseHeaders));
}

/** What a request body is to the direct path: an IncomingMessage and an HTTP/2 stream both are it. */
interface RequestBody extends AsyncIterable<Buffer> {
  on(event: "data", listener: (piece: Buffer) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  off(event: "data", listener: (piece: Buffer) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * A direct call on an HTTP/1.1 request and its response, or on an HTTP/2
 * stream: what the two share. One object, not a record of closures: it
 * lives as long as the subscription, and an idle session's heap is mostly
 * what it holds.
 */
abstract class NodeDirectCall implements DirectCall {
  readonly #body: RequestBody;
  readonly #out: ResponseBody;
  readonly #gone = new OnceSignal();

  constructor(body: RequestBody, out: ResponseBody) {
    this.#body = body;
    this.#out = out;
    out.once("close", this.#onClose);
  }

  readonly #onClose = () => this.#gone.abort();

  abstract readonly path: string;
  abstract readonly connection: object | undefined;
  protected abstract readHeaders(): Headers;
  abstract begin(): void;

  /** Built when asked (by `authorize`, once a session): most sessions never read them. */
  get requestHeaders(): Headers {
    return this.readHeaders();
  }

  get body(): AsyncIterable<Uint8Array> {
    return this.#body;
  }

  frames(maxFrameBytes: number): AsyncIterable<ClientFrame> {
    return new PushedClientFrames(this.#body, maxFrameBytes);
  }

  get gone(): SessionSignal {
    return this.#gone;
  }

  write(bytes: Uint8Array): Promise<void> | undefined {
    // A write to a closed stream never drains, which kept every session of
    // a reset stream alive with its window of chunks (issue 14): the call
    // being gone ends the wait too.
    return this.#out.write(bytes) ? undefined : drainedOrClosed(this.#out, this.#gone);
  }

  finish(last: Uint8Array): void {
    this.#out.end(last);
  }
}

class Http1DirectCall extends NodeDirectCall {
  readonly #request: http.IncomingMessage;
  readonly #response: Http1Response;

  constructor(request: http.IncomingMessage, response: Http1Response) {
    super(request, response);
    this.#request = request;
    this.#response = response;
  }

  get path(): string {
    return this.#request.url ?? "";
  }

  get connection(): object | undefined {
    return this.#request.socket;
  }

  protected readHeaders(): Headers {
    return headersOf(this.#request.headers);
  }

  begin(): void {
    this.#response.writeHead(200, { "content-type": contentTypeStreamProto });
  }
}

class Http2DirectCall extends NodeDirectCall {
  readonly #stream: http2.ServerHttp2Stream;
  readonly path: string;
  /**
   * Until the response's first frame: the session's Open is resolved (and
   * authorized) before it, and an idle session should not hold ~0.5 KiB of
   * header strings for nothing.
   */
  #headers: http2.IncomingHttpHeaders | undefined;
  readonly #responseHeaders: Record<string, string> | undefined;

  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, responseHeaders: Record<string, string> | undefined) {
    super(stream, stream);
    this.#stream = stream;
    this.path = headers[":path"] ?? "";
    this.#headers = headers;
    this.#responseHeaders = responseHeaders;
    // A reset stream emits 'error' (any code but NO_ERROR and CANCEL): the
    // session sees it as the call gone ('close'); unhandled, it would throw.
    stream.on("error", ignoreError);
  }

  get connection(): object | undefined {
    return this.#stream.session;
  }

  protected readHeaders(): Headers {
    return headersOf(this.#headers ?? {});
  }

  override write(bytes: Uint8Array): Promise<void> | undefined {
    this.#headers = undefined;
    return super.write(bytes);
  }

  begin(): void {
    const stream = this.#stream;
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    stream.respond({ ":status": 200, "content-type": contentTypeStreamProto, ...this.#responseHeaders });
  }

  override finish(last: Uint8Array): void {
    if (!this.#stream.destroyed) super.finish(last);
  }
}

function ignoreError(): void {
  // Seen as the stream's close.
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
function serveDirectCall(sluice: SluiceServer, call: DirectCall): Promise<void> {
  call.begin();
  if (call.path !== SUBSCRIBE_PATH) return serveHalfDuplex(sluice, call);
  // No async function waits here for the session: an idle one would hold its frame.
  // The call ends once the session is accounted for (its outcome reported).
  const session = new DirectSubscribe(call, sluice.limits.maxFrameBytes);
  return sluice.serveSubscribe(session, session).then(
    () => endCall(call, session.failure),
    (error: unknown) => endCall(call, error),
  );
}

/** A SubscribeHalfDuplex call: its one Open, then the session's frames. */
async function serveHalfDuplex(sluice: SluiceServer, call: DirectCall): Promise<void> {
  const gone = call.gone;
  let failure: unknown;
  try {
    for await (const frame of sluice.subscribeHalfDuplexFrames(await readHalfDuplexOpen(call.body, sluice.limits.maxFrameBytes), new DirectCallInfo(call))) {
      if (gone.aborted) break;
      const wait = writeFrame(call, frame);
      if (wait) await wait;
    }
  } catch (error) {
    failure = error;
  }
  endCall(call, failure);
}

/** Writes a server frame to the call as one envelope, unless the call is gone. */
function writeFrame(call: DirectCall, frame: ServerFrame): Promise<void> | undefined {
  if (call.gone.aborted) return;
  const { envelope, headroom } = envelopeOf(frame);
  return call.write(envelope, headroom);
}

/** Ends the call with Connect's end-stream message: `{}`, or the error `failure` is as Connect sees it. Nothing when the call is gone. */
function endCall(call: DirectCall, failure: unknown): void {
  if (call.gone.aborted) return;
  const error = failure === undefined ? undefined : failure instanceof SluiceError ? new ConnectError(failure.message, failure.code === "limit_exceeded" ? Code.ResourceExhausted : Code.InvalidArgument) : ConnectError.from(failure);
  const endStream = new TextEncoder().encode(JSON.stringify(endStreamToJson(new Headers(), error, undefined)));
  call.finish(encodeEnvelope(endStreamFlag, endStream));
}

/** A direct call as the server's CallInfo; its request headers are built when read (only an `authorize` hook reads them). */
class DirectCallInfo implements CallInfo {
  protected readonly call: DirectCall;
  readonly connection?: object;

  constructor(call: DirectCall) {
    this.call = call;
    const connection = call.connection;
    if (connection) this.connection = connection;
  }

  get signal(): SessionSignal {
    return this.call.gone;
  }

  get requestHeader(): Headers {
    return this.call.requestHeaders;
  }
}

/**
 * A direct Subscribe call as its session's pipe (and CallInfo): client
 * frames from the request, server frames written to the response as
 * envelopes, and the session's end as the call's end-stream message.
 */
class DirectSubscribe extends DirectCallInfo implements FramePipe<ClientFrame, ServerFrame> {
  readonly inbound: AsyncIterable<ClientFrame>;
  /** Why the session stopped, when not as the protocol says (the call went away). */
  failure: SluiceError | undefined;

  constructor(call: DirectCall, maxFrameBytes: number) {
    super(call);
    this.inbound = call.frames(maxFrameBytes);
  }

  send(frame: ServerFrame): Promise<void> | undefined {
    return writeFrame(this.call, frame);
  }

  /** The session is over: undefined when it ended as the protocol says, else why it stopped. */
  close(error?: SluiceError): void {
    this.failure = error;
  }
}

/**
 * An HTTP request's client frames, decoded in its 'data' events: pushed,
 * where iterating the request took a stream iterator's promise and an
 * async generator's for every piece. The request pauses while the session
 * has a queue's worth of frames unread, so a flood of frames waits in the
 * client's flow-control window, not here. Its listeners are plain `on`
 * (each `once` costs a wrapper, and this lives as long as the session);
 * a second end or close does nothing, the queue being closed.
 */
class PushedClientFrames extends FrameQueue<ClientFrame> {
  readonly #body: RequestBody;
  readonly #reader: EnvelopeReader;
  readonly #maxFrameBytes: number;

  constructor(body: RequestBody, maxFrameBytes: number) {
    super(64);
    this.#body = body;
    this.#maxFrameBytes = maxFrameBytes;
    this.#reader = new EnvelopeReader(maxFrameBytes);
    body.on("data", this.#onData);
    body.on("end", this.#onEnd);
    // Closed without its end: the client reset the call or the connection went (a no-op after the end).
    body.on("close", this.#onClose);
    body.on("error", this.#stop);
  }

  readonly #onData = (piece: Buffer) => {
    const reader = this.#reader;
    try {
      reader.push(piece);
      let wait: Promise<void> | void = undefined;
      for (let envelope = reader.next(); envelope; envelope = reader.next()) {
        checkFlags(envelope.flags);
        wait = this.push(decodeClientFrame(envelope.data, this.#maxFrameBytes)) ?? wait;
      }
      if (wait) {
        this.#body.pause();
        void wait.then(this.#resume);
      }
    } catch (error) {
      this.#stop(error);
    }
  };

  readonly #resume = () => void this.#body.resume();

  readonly #onEnd = () => {
    const reader = this.#reader;
    this.#stop(reader.atBoundary ? undefined : new SluiceError("protocol_violation", `request ended inside an envelope (${reader.partialBytes} bytes left over)`, { blame: "remote" }));
  };

  readonly #onClose = () => this.#stop(new Error("the request closed before it ended"));

  readonly #stop = (error?: unknown) => {
    this.#body.off("data", this.#onData);
    this.close(error);
  };
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

function headersOf(incoming: http.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (name.startsWith(":") || value === undefined) continue;
    headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return headers;
}

/** Resolves when the response can take more, or the call is gone (also when it went before we asked). */
function drainedOrClosed(response: ResponseBody, gone: SessionSignal): Promise<void> {
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
