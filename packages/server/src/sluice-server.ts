/**
 * The Connect implementation of sluice.v1.SubscribeService: named streams,
 * each backed by a source or a topic, served over the full-duplex Subscribe
 * RPC through the shared driver. Mount it on any Connect server adapter
 * (connectNodeAdapter on http/http2, connect-fastify, connect-express).
 */
import { create } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { DEFAULT_LIMITS, SluiceError, type ChunkOptions, type ClientFrame, type JsonObject, type Limits, type OpenFrame, type ServerFrame } from "@sluice/core";
import { FrameQueue, serveSession, type ResolvedStream, type SessionOutcome, type SourceYield } from "@sluice/driver";
import { clientFrameFromWire, serverFrameToWire, SubscribeResponseSchema, SubscribeService, type SubscribeRequest, type SubscribeResponse } from "@sluice/protocol";
import type { Source, SourceItem } from "./source.js";
import type { Topic } from "./topic.js";

export interface StreamDefinition<P = JsonObject> {
  /** Items from a cursor-addressed source, or a topic's live items. */
  readonly source?: Source<P>;
  readonly topic?: Topic;
  /** Validates and converts the client's params; throw invalidParam(...) to reject. */
  readonly params?: (params: JsonObject) => P;
  /** MIME type of items. Default application/json. */
  readonly contentType?: string;
  readonly chunk?: Partial<ChunkOptions>;
  /** Fail with yield_timeout when the source yields nothing for this long (0: never). */
  readonly yieldTimeoutMs?: number;
  /** Fail with stall_timeout when the client grants no credit for this long (0: never). */
  readonly stallTimeoutMs?: number;
}

export interface SluiceServerOptions {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly streams: Record<string, StreamDefinition<any>>;
  readonly limits?: Partial<Limits>;
  /** Called when a session ends (metrics, logs). */
  readonly onSessionEnd?: (outcome: SessionOutcome) => void;
}

/** An invalid_argument error naming the parameter. */
export function invalidParam(field: string, message: string): SluiceError {
  return new SluiceError("invalid_argument", `params.${field}: ${message}`, { field: `params.${field}`, blame: "remote" });
}

let sessionCounter = 0;

export class SluiceServer {
  readonly limits: Limits;
  readonly #options: SluiceServerOptions;
  readonly #draining = new AbortController();
  readonly #active = new Set<Promise<SessionOutcome>>();

  constructor(options: SluiceServerOptions) {
    this.#options = options;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
  }

  /** Sessions currently open. */
  get activeSessions(): number {
    return this.#active.size;
  }

  /** Registers the Sluice services on a Connect router. */
  routes = (router: ConnectRouter): void => {
    router.service(SubscribeService, {
      subscribe: (requests, context) => this.#subscribe(requests, context),
    });
  };

  /** Tells every session to go elsewhere (unavailable, retryable) and resolves when they have ended. */
  async drain(): Promise<void> {
    this.#draining.abort();
    await Promise.allSettled([...this.#active]);
  }

  async *#subscribe(requests: AsyncIterable<SubscribeRequest>, context: HandlerContext): AsyncIterable<SubscribeResponse> {
    const outbound = new FrameQueue<ServerFrame>(32);
    const inbound = decodeRequests(requests);
    const session = serveSession({
      pipe: { inbound, send: (frame) => outbound.push(frame), close: () => outbound.close() },
      resolve: (open, _window, signal) => this.#resolve(open, signal),
      sender: { limits: this.limits },
      signal: AbortSignal.any([this.#draining.signal, context.signal]),
    });
    this.#active.add(session);
    void session.then((outcome) => {
      this.#active.delete(session);
      this.#options.onSessionEnd?.(outcome);
    });
    try {
      for await (const frame of outbound) yield create(SubscribeResponseSchema, { frame: serverFrameToWire(frame) });
    } finally {
      outbound.close();
    }
    await session;
  }

  async #resolve(open: OpenFrame, signal: AbortSignal): Promise<ResolvedStream> {
    const definition = this.#options.streams[open.stream];
    if (!definition) throw new SluiceError("stream_not_found", `stream not configured: ${open.stream}`, { blame: "remote" });
    const params = definition.params ? definition.params(open.params) : open.params;
    const sessionId = `${Date.now().toString(36)}-${(++sessionCounter).toString(36)}`;
    const sessionSecret = crypto.getRandomValues(new Uint8Array(16));
    const contentType = definition.contentType ?? "application/json";
    const resume = open.resume;
    const settings = {
      ...(definition.chunk ? { chunk: definition.chunk } : {}),
      ...(definition.stallTimeoutMs !== undefined ? { stallTimeoutMs: definition.stallTimeoutMs } : {}),
      ...(definition.yieldTimeoutMs !== undefined ? { yieldTimeoutMs: definition.yieldTimeoutMs } : {}),
    };
    if (definition.topic) {
      const { nextSeq, items } = definition.topic.subscribe(resume ? resume.seq : undefined, signal);
      return { items, nextSeq, contentType, sessionId, sessionSecret, ...settings, ...(resume ? { resume: { requestedSeq: resume.seq, nextSeq, replayed: 0 } } : {}) };
    }
    if (!definition.source) throw new SluiceError("internal", `stream ${open.stream} has neither a source nor a topic`);
    // Reopen at the cursor (or the start) and skip what the client already has.
    const cursorSeq = resume && resume.cursor.byteLength > 0 ? resume.cursorSeq : 0;
    const cursor = resume && resume.cursor.byteLength > 0 ? resume.cursor : new Uint8Array(0);
    const skip = resume ? resume.seq - cursorSeq : 0;
    const opened = definition.source.open(params, cursor, { signal });
    const nextSeq = (resume ? resume.seq : 0) + 1;
    return {
      items: skip > 0 ? skipItems(opened, skip) : opened,
      nextSeq,
      contentType,
      sessionId,
      sessionSecret,
      ...settings,
      ...(resume ? { resume: { requestedSeq: resume.seq, nextSeq, replayed: skip } } : {}),
    };
  }
}

async function* skipItems(items: AsyncIterable<SourceItem | SourceYield>, count: number): AsyncIterable<SourceItem | SourceYield> {
  let skipped = 0;
  for await (const item of items) {
    if (skipped < count) {
      skipped++;
      continue;
    }
    yield item;
  }
}

async function* decodeRequests(requests: AsyncIterable<SubscribeRequest>): AsyncIterable<ClientFrame> {
  for await (const request of requests) {
    if (!request.frame) throw new SluiceError("protocol_violation", "request without a frame", { blame: "remote" });
    yield clientFrameFromWire(request.frame);
  }
}


