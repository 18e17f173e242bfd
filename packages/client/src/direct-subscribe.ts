/**
 * Subscribe calls without connect-es' generic client pipeline: the client
 * half of the server's direct path, for every transport that can carry a
 * full-duplex call (HTTP/2 in client-node, WebSocket in both SDKs), and the
 * response stream of half-duplex sessions (HTTP/1.1 in client-node, fetch in
 * client-web; their Control calls still go through connect-es).
 * connect-es runs every message through its async-iterable plumbing (an
 * envelope reader built from `cons`/`head` buffers that copies each message,
 * a promise chain per message, an AbortSignal per call); for a stream of
 * chunks that was most of what a reader spent. Here the call's bytes go
 * straight into Connect envelopes (@sluice/protocol's EnvelopeReader: a
 * flag byte, a 32-bit length, a SubscribeResponse) and each becomes a core
 * frame.
 *
 * It is the same Connect call on the wire (`application/connect+proto`, an
 * end-of-stream message that carries the call's error). What differs per
 * transport is only how a call opens, writes and ends ({@link OpenDirectCall});
 * everything the protocol decides stays in core and the driver.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, contentTypeStreamProto, endStreamFlag, endStreamFromJson } from "@connectrpc/connect/protocol-connect";
import { SluiceError, type ClientFrame, type OpenFrame, type ServerFrame } from "@sluice/core";
import { FrameQueue, type FramePipe } from "@sluice/driver";
import { clientFrameToWire, decodeChunkMessage, decodeControlMessage, encodeClientFrame, encodeEnvelope, EnvelopeReader, serverFrameFromWire, SubscribeHalfDuplexRequestSchema, SubscribeResponseSchema, SubscribeService, type SubscribeHalfDuplexRequest } from "@sluice/protocol";
import { callError } from "./connect-pipe.js";
import { credentialHeaders, type Credentials } from "./credentials.js";

/** A response message larger than this is a broken or hostile server (the server's frames are capped far below). */
export const MAX_RESPONSE_MESSAGE_BYTES = 64 * 1024 * 1024;

/** What a transport tells the direct path about the response. */
export interface DirectCallEvents {
  /** Response body bytes, as they arrive. */
  data(piece: Uint8Array): void;
  /** The response ended. */
  end(): void;
  /** The call failed (a refused head, a reset, a lost connection). */
  fail(error: unknown): void;
}

/** A call a transport opened for the direct path. */
export interface DirectCall {
  /** Sends request bytes; a promise when the writer should wait for it. */
  write(bytes: Uint8Array): Promise<void> | void;
  /** Ends the call and tears it down (the session is over, or was cancelled). */
  close(): void;
}

/** How a transport opens a call: POST `path` with `headers`, the response going to `events`. */
export type OpenDirectCall = (path: string, headers: Record<string, string>, events: DirectCallEvents) => Promise<DirectCall>;

/** The path of Subscribe under a base URL's path (e.g. "" or "/api"). */
export function subscribePath(basePath = ""): string {
  return `${basePath.replace(/\/$/, "")}/${SubscribeService.typeName}/${SubscribeService.method.subscribe.name}`;
}

/**
 * A factory of duplex Subscribe pipes on the direct path
 * (SluiceClientOptions.subscribeCall), over calls that `open` starts.
 */
export function directSubscribeCall(open: OpenDirectCall, options: { readonly path: string; readonly credentials: Credentials }): (signal: AbortSignal) => FramePipe<ServerFrame, ClientFrame> {
  return (signal) => openDirectSubscribe(open, options.path, options.credentials, signal);
}

function openDirectSubscribe(open: OpenDirectCall, path: string, credentials: Credentials, signal: AbortSignal): FramePipe<ServerFrame, ClientFrame> {
  const inbound = new FrameQueue<ServerFrame>(Number.MAX_SAFE_INTEGER);
  let call: DirectCall | undefined;
  /** Frames sent before the call exists; written as soon as it does. */
  let early: Uint8Array[] = [];
  let finished = false;
  const fail = (error: unknown) => {
    if (finished) return;
    finished = true;
    done();
    inbound.close(callError(error));
    call?.close();
  };
  const onAbort = () => fail(new ConnectError("the subscription was cancelled", Code.Canceled));
  signal.addEventListener("abort", onAbort, { once: true });
  const done = () => signal.removeEventListener("abort", onAbort);
  const response = new SubscribeResponseReader(inbound);
  /**
   * Frames sent in one run of the driver (a pong with the ping that rides
   * on it and their repeated Credit and Ack, §6) leave as one write: one
   * HTTP/2 DATA frame or WebSocket message, read by the server in one go.
   * With 10 000 idle sessions the per-write cost was most of the heartbeats'.
   */
  let batch: Uint8Array[] = [];
  /** The last batch's write while the transport asks to wait for it (backpressure for the next send). */
  let writing: Promise<void> | undefined;
  const flush = () => {
    if (finished || !call || batch.length === 0) return;
    const bytes = batch.length === 1 ? batch[0]! : concat(batch);
    batch = [];
    const wait = call.write(bytes);
    if (!wait) return;
    writing = wait;
    void wait.then(() => {
      if (writing === wait) writing = undefined;
    }, () => undefined);
  };

  void (async () => {
    const headers = { "content-type": contentTypeStreamProto, "connect-protocol-version": "1", ...(await credentialHeaders(credentials)) };
    if (finished) return;
    const ended = () => {
      finished = true;
      done();
      inbound.close();
    };
    const opened = await open(path, headers, responseEvents(response, () => finished, ended, fail));
    if (finished) {
      opened.close();
      return;
    }
    call = opened;
    for (const envelope of early) void opened.write(envelope);
    early = [];
  })().catch(fail);

  return {
    // The queue itself, not a generator around it: one async hop a frame less.
    inbound,
    send(frame) {
      if (finished) return;
      const envelope = encodeEnvelope(0, encodeClientFrame(frame));
      if (!call) {
        early.push(envelope);
        return;
      }
      batch.push(envelope);
      // A resolved promise, not queueMicrotask: Node wraps each of those in an async resource.
      if (batch.length === 1) void Promise.resolve().then(flush);
      return writing;
    },
    close() {
      // The session is over (End, Error or lost): end our side and tear the call down.
      if (finished) return;
      flush();
      finished = true;
      done();
      inbound.close();
      if (call) call.close();
      else early = [];
    },
  };
}

/** What a transport tells the direct half-duplex path: the same as a direct call's events. */
export type DirectPostEvents = DirectCallEvents;

/**
 * How a transport sends one POST of `body` to `path` with `headers` and hands
 * the response to `events` (a half-duplex call: the request is whole before
 * the response starts, as fetch and HTTP/1.1 need). `close()` tears it down.
 */
export type OpenDirectPost = (path: string, headers: Record<string, string>, body: Uint8Array, events: DirectPostEvents) => Promise<{ close(): void }>;

/** The path of SubscribeHalfDuplex under a base URL's path. */
export function subscribeHalfDuplexPath(basePath = ""): string {
  return `${basePath.replace(/\/$/, "")}/${SubscribeService.typeName}/${SubscribeService.method.subscribeHalfDuplex.name}`;
}

/**
 * A half-duplex session's server frames on the direct path: one POST
 * carrying the Open (a SubscribeHalfDuplexRequest envelope), its response
 * read as the duplex direct path reads one (a SubscribeHalfDuplexResponse is
 * a SubscribeResponse on the wire: the frame is field 1 of both). The
 * session's later client frames go out in Control calls, as with connect-es
 * (connect-pipe.ts' openHalfDuplexCall, which takes this as its stream).
 */
export function directHalfDuplexFrames(post: OpenDirectPost, options: { readonly path: string; readonly credentials: Credentials }): (open: OpenFrame, signal: AbortSignal) => AsyncIterable<ServerFrame> {
  return (open, signal) => {
    const inbound = new FrameQueue<ServerFrame>(Number.MAX_SAFE_INTEGER);
    const response = new SubscribeResponseReader(inbound);
    let call: { close(): void } | undefined;
    let finished = false;
    const finish = (error?: unknown) => {
      if (finished) return;
      finished = true;
      signal.removeEventListener("abort", onAbort);
      inbound.close(error === undefined ? undefined : callError(error));
      call?.close();
    };
    const onAbort = () => finish(new ConnectError("the subscription was cancelled", Code.Canceled));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    const wireOpen = clientFrameToWire(open).kind.value as SubscribeHalfDuplexRequest["open"];
    const body = encodeEnvelope(0, toBinary(SubscribeHalfDuplexRequestSchema, create(SubscribeHalfDuplexRequestSchema, { open: wireOpen })));
    void (async () => {
      const headers = { "content-type": contentTypeStreamProto, "connect-protocol-version": "1", ...(await credentialHeaders(options.credentials)) };
      if (finished) return;
      const opened = await post(options.path, headers, body, responseEvents(response, () => finished, finish, finish));
      if (finished) opened.close();
      else call = opened;
    })().catch(finish);
    return inbound;
  };
}

/** Half-duplex POSTs with fetch (browsers): to `baseUrl`'s origin, `path` whole; the response body read as it streams. */
export function fetchDirectPosts(baseUrl: string): OpenDirectPost {
  const origin = new URL(baseUrl).origin;
  return async (path, headers, body, events) => {
    const abort = new AbortController();
    let done = false;
    const fail = (error: unknown) => {
      if (done) return;
      done = true;
      events.fail(error instanceof ConnectError ? error : ConnectError.from(error, Code.Unavailable));
    };
    const response = await fetch(`${origin}${path}`, { method: "POST", headers, body: body as Uint8Array<ArrayBuffer>, signal: abort.signal });
    const refused = responseHeadError(response.status, response.headers.get("content-type"));
    if (refused || !response.body) {
      fail(refused ?? new ConnectError("a response without a body", Code.Internal));
      abort.abort();
    } else {
      const reader = response.body.getReader();
      void (async () => {
        try {
          for (;;) {
            const { done: ended, value } = await reader.read();
            if (done) return;
            if (ended) {
              done = true;
              return events.end();
            }
            events.data(value);
          }
        } catch (error) {
          fail(error);
        }
      })();
    }
    return {
      close: () => {
        done = true;
        abort.abort();
      },
    };
  };
}

/** A direct call's events feeding `response`: a body that breaks the protocol goes to `fail`, a proper end to `ended`; nothing once `isOver()`. */
function responseEvents(response: SubscribeResponseReader, isOver: () => boolean, ended: () => void, fail: (error: unknown) => void): DirectCallEvents {
  return {
    data: (piece) => {
      if (isOver()) return;
      try {
        response.push(piece);
      } catch (error) {
        fail(error);
      }
    },
    end: () => {
      if (isOver()) return;
      try {
        response.end();
        ended();
      } catch (error) {
        fail(error);
      }
    },
    fail,
  };
}

/** A Subscribe response: envelopes of SubscribeResponse into `frames`, then the end-of-stream message. */
class SubscribeResponseReader {
  readonly #frames: FrameQueue<ServerFrame>;
  readonly #envelopes = new EnvelopeReader(MAX_RESPONSE_MESSAGE_BYTES, (length, max) => new SluiceError("protocol_violation", `a response message of ${length} bytes (at most ${max})`, { blame: "remote" }));
  #sawEnd = false;

  constructor(frames: FrameQueue<ServerFrame>) {
    this.#frames = frames;
  }

  /** The next bytes of the body; throws when they break the Connect streaming protocol or carry the call's error. */
  push(piece: Uint8Array): void {
    const envelopes = this.#envelopes;
    envelopes.push(piece);
    for (let envelope = envelopes.next(); envelope; envelope = envelopes.next()) {
      if (this.#sawEnd) throw new SluiceError("protocol_violation", "a message after the end-of-stream message", { blame: "remote" });
      if ((envelope.flags & endStreamFlag) === endStreamFlag) {
        this.#sawEnd = true;
        const end = endStreamFromJson(envelope.data);
        if (end.error) throw end.error;
        continue;
      }
      const frame = decodeControlMessage(envelope.data, "server") ?? decodeChunkMessage(envelope.data);
      if (frame) {
        this.#frames.push(frame);
        continue;
      }
      const response = fromBinary(SubscribeResponseSchema, envelope.data);
      if (!response.frame) throw new SluiceError("protocol_violation", "response without a frame", { blame: "remote", retryable: true });
      this.#frames.push(serverFrameFromWire(response.frame));
    }
  }

  /** The body ended: fine only after the end-of-stream message. */
  end(): void {
    if (!this.#sawEnd) throw new ConnectError("the stream ended without an end-of-stream message", Code.Internal);
  }
}

/** The error for a response head that is no Connect stream (a proxy's 503 page, a 404). */
export function responseHeadError(status: number, contentType: string | null | undefined): ConnectError | undefined {
  if (status === 200 && (contentType ?? "").startsWith(contentTypeStreamProto)) return undefined;
  return new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status));
}

/** A WebSocket transport's raw calls (@sluice/transport-ws' WebSocketTransport.openCall), as this module needs them. */
export interface RawCallOpener {
  openCall(path: string, headers: Headers): Promise<{
    readonly head: Promise<{ readonly status: number; readonly headers: Headers }>;
    write(data: Uint8Array): Promise<void>;
    deliverTo(sink: { data(piece: Uint8Array): void; end(): void; fail(error: ConnectError): void }): void;
    cancel(code: Code, reason: string): void;
  }>;
}

/** Direct calls over a WebSocket transport's raw calls. */
export function webSocketDirectCalls(transport: RawCallOpener): OpenDirectCall {
  return async (path, headers, events) => {
    const call = await transport.openCall(path, new Headers(headers));
    // The body is read once the head proved it a Connect stream (a 503
    // page's text is no envelope); until then it waits in the call.
    call.head.then(
      (head) => {
        const refused = responseHeadError(head.status, head.headers.get("content-type"));
        if (refused) events.fail(refused);
        else call.deliverTo(events);
      },
      () => call.deliverTo(events), // the call failed: the sink hears why
    );
    return {
      write: (bytes) => call.write(bytes).catch(() => undefined), // a failed call fails its sink
      close: () => call.cancel(Code.Canceled, "the subscription ended"),
    };
  };
}

/** The pieces, joined into one buffer. */
function concat(pieces: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const piece of pieces) length += piece.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.byteLength;
  }
  return out;
}
