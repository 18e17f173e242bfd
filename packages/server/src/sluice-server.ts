/**
 * The Connect implementation of sluice.v1.SubscribeService: named streams,
 * each backed by a source or a topic, served over the full-duplex Subscribe
 * RPC through the shared driver. Mount it on any Connect server adapter
 * (connectNodeAdapter on http/http2, connect-fastify, connect-express).
 */
import { create } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { DEFAULT_LIMITS, SluiceError, acceptOpen, type Priority, checkLimits, type LagThrottle, type ChunkOptions, type ClientFrame, type IngestFrame, type JsonObject, type Limits, type OpenFrame, type PublishFrame, type ServerFrame, type StreamSenderOptions, type Window } from "@sluice/core";
import { FrameQueue, OnceSignal, serveSession, type FramePipe, type SessionSignal, type IngestOutcome, type ResolvedStream, type SessionOutcome, type SessionView } from "@sluice/driver";
import {
  clientFrameFromWire,
  ingestFrameToWire,
  priorityFromWire,
  PublishBatchResponseSchema,
  wireNumber,
  publishAckToWire,
  PublishService,
  type PublishBatchRequest,
  type PublishBatchResponse,
  type PublishRequest,
  type PublishResponse,
  SubscribeHalfDuplexResponseSchema,
  SubscribeResponseSchema,
  SubscribeService,
  type ControlRequest,
  type ControlResponse,
  type SubscribeHalfDuplexRequest,
  type SubscribeHalfDuplexResponse,
  type SubscribeRequest,
  type SubscribeResponse,
} from "@sluice/protocol";
import { BufferBudget } from "./buffer-budget.js";
import { callInfoOf, type CallInfo } from "./call-context.js";
import type { ControlRelay, ControlStats } from "./control-relay.js";
import { HalfDuplexSessions } from "./half-duplex-sessions.js";
import { Ingest, type PublishBatch, type PublishBatchResult, type PublishDefinition } from "./ingest.js";
import type { PublisherRegistryOptions } from "./publishers.js";
import { decodePublishRequests, decodeRequests, isBinaryRequest, responseOf, toConnectError } from "./responses.js";
import { INSTANCE_ID_PATTERN, newSessionKeys, type SessionKeys } from "./session-keys.js";
import { SubjectRouter } from "./routing.js";
import { SinkQueue } from "./sink-queue.js";
import type { Source } from "./source.js";
import { findStream, startSource, startTopic } from "./stream-resolution.js";
import type { TopicEngine } from "./topic-engine.js";

export { CONNECTION, type CallInfo } from "./call-context.js";

/** One named stream: its source or topic, how its params are checked, and its own settings over the server's. */
export interface StreamDefinition<P = JsonObject> {
  /** Items from a cursor-addressed source, or a topic's live items. */
  readonly source?: Source<P>;
  /** Any TopicEngine: the in-memory Topic, or a distributed engine. */
  readonly topic?: TopicEngine;
  /** Validates and converts the client's params; throw invalidParam(...) to reject. */
  readonly params?: (params: JsonObject) => P;
  /** MIME type of items. Default application/json. */
  readonly contentType?: string;
  /** This stream's chunking over the server's `chunk`. */
  readonly chunk?: Partial<ChunkOptions>;
  /** Fail with yield_timeout when the source yields nothing for this long (0: never). */
  readonly yieldTimeoutMs?: number;
  /** Fail with stall_timeout when the client grants no credit for this long (0: never). */
  readonly stallTimeoutMs?: number;
  /** The window for subscribers that ask for none (PROTOCOL.md §4.1); default: the server's. */
  readonly defaultWindow?: Window;
  /**
   * This stream's limits over the server's: max window, heartbeat interval
   * and timeout, max item and frame size. Opened announces them.
   */
  readonly limits?: Partial<Limits>;
  /** Set to let clients publish into this stream (PROTOCOL.md §3.4): into its topic, or into a sink of its own. */
  readonly publish?: PublishDefinition;
}

/** The streams a {@link SluiceServer} serves, and its server-wide limits, budgets, hooks and authorization. */
export interface SluiceServerOptions {
  /** The streams by name: what an Open's `stream` may ask for. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly streams: Record<string, StreamDefinition<any>>;
  /** Limits over DEFAULT_LIMITS, announced in Opened (a stream's own `limits` win). */
  readonly limits?: Partial<Limits>;
  /** The window for subscribers that ask for none, unless a stream sets its own. Default DEFAULT_WINDOW (8 192 items / 4 MiB). */
  readonly defaultWindow?: Window;
  /**
   * Chunking for every stream (a stream's own `chunk` wins). Default: 128 KiB
   * chunks, because each Connect message costs a fixed amount in connect-node
   * (an async-generator hop and a write that waits for the stream) and 128 KiB
   * chunks lifted 64 B items ~1.5x over 32 KiB in BENCHMARKS.md. Chunks still
   * close at the flush deadline, so live streams keep their latency.
   */
  readonly chunk?: Partial<ChunkOptions>;
  /** Called when a session ends (metrics, logs). */
  readonly onSessionEnd?: (outcome: SessionOutcome) => void;
  /** A heartbeat round trip was measured on a session of `stream` (metrics). */
  readonly onRtt?: (stream: string, rttMs: number) => void;
  /**
   * Item latency on a session of `stream`, sampled at most once per 10 ms
   * per session and stage: from the source yielding an item until its chunk
   * went to the transport ("sent") and until the client acked it ("acked").
   * See ServeSessionOptions.onItemLatency.
   */
  readonly onItemLatency?: (stream: string, stage: "sent" | "acked", latencyMs: number) => void;
  /**
   * The most items a resume may re-read to reach its position (a source
   * reopened at an older cursor, or at the start without one); a resume
   * needing more is refused with resume_position_lost. Default 1 000 000.
   */
  readonly maxResumeSkip?: number;
  /**
   * Buffered-bytes budgets (issue 14): payload sessions have sent or queued
   * that their clients have not consumed (at most each one's window) is what
   * slow or stalled clients make the server hold. A new stream whose window
   * would take its connection's sessions above `maxConnectionBufferedBytes`
   * (default 64 MiB), or all sessions above `maxBufferedBytes` (default
   * 512 MiB), is refused with limit_exceeded (Connect resource_exhausted),
   * retryable after 1 s, before memory runs out. Idle sessions hold nothing.
   */
  readonly maxBufferedBytes?: number;
  /** The budget per connection (default 64 MiB); see `maxBufferedBytes`. */
  readonly maxConnectionBufferedBytes?: number;
  /**
   * Authentication and authorization, called for every Open (with the
   * stream) and every Control call (stream undefined). Return the principal
   * (any stable string); throw SluiceError "unauthenticated" or
   * "permission_denied". A Control call must come from the principal that
   * opened the session. Without it, everyone may open every stream.
   */
  readonly authorize?: (request: AuthorizeRequest) => string | Promise<string>;
  /** How long, and how many, publishers' positions are remembered for deduplication (PublisherRegistry). */
  readonly publishers?: PublisherRegistryOptions;
  /** Called when a publish session ends (metrics, logs). */
  readonly onPublishEnd?: (outcome: IngestOutcome) => void;
  /** Called after every sink write with how many items it accepted and dead-lettered, by stream (live metrics). */
  readonly onPublished?: (stream: string, accepted: number, deadLettered: number) => void;
  /**
   * Several instances behind one load balancer (PROTOCOL.md §3.3): a
   * half-duplex session's Control calls may reach any of them. With a relay,
   * half-duplex session ids start with the relay's instance id, and a
   * Control call for another instance's session is authorized here (the
   * principal goes along), then forwarded to its owner, which checks the
   * secret and principal as for a local call; `unavailable` (retryable) when
   * the owner does not answer. Without one, such a call gets the
   * permission_denied of an unknown session. The caller owns the relay and
   * closes it after the server has drained.
   */
  readonly controlRelay?: ControlRelay;
}

/** What {@link SluiceServerOptions.authorize} is asked about. */
export interface AuthorizeRequest {
  /** The stream being opened; undefined for a Control call. */
  readonly stream: string | undefined;
  /** The call's request headers (Authorization, ...). */
  readonly headers: Headers;
  /** What the caller wants: to subscribe (Open), to publish (PublishOpen), or a half-duplex Control call. */
  readonly action: "subscribe" | "publish" | "control";
}

/** An invalid_argument error naming the parameter. */
export function invalidParam(field: string, message: string): SluiceError {
  return new SluiceError("invalid_argument", `params.${field}: ${message}`, { field: `params.${field}`, blame: "remote" });
}

/** Default server chunking (see SluiceServerOptions.chunk). */
export const SERVER_CHUNK_DEFAULTS: Partial<ChunkOptions> = { maxBytes: 128 * 1024, maxItems: 8192 };

/**
 * Sluice's services (Subscribe, SubscribeHalfDuplex, Control, Publish) over named streams,
 * for any Connect server: mount `routes` on an adapter, or `listen` with
 * @sluice/server-node.
 */
export class SluiceServer {
  /** The server-wide limits in force (DEFAULT_LIMITS with the options' over them). */
  readonly limits: Limits;
  readonly #options: SluiceServerOptions;
  readonly #drain = new OnceSignal();
  /** What every session's sender starts from (one object for all: it is only read). */
  readonly #senderOptions: StreamSenderOptions;
  readonly #active = new Set<Promise<SessionOutcome>>();
  readonly #halfDuplex: HalfDuplexSessions;
  readonly #views = new Set<SessionView>();

  readonly #maxResumeSkip: number;
  readonly #budget: BufferBudget;
  readonly #ingest: Ingest;
  readonly #routers = new Map<string, SubjectRouter>();

  constructor(options: SluiceServerOptions) {
    this.#options = options;
    this.#maxResumeSkip = options.maxResumeSkip ?? 1_000_000;
    this.#budget = new BufferBudget(options.maxBufferedBytes ?? 512 * 1024 * 1024, options.maxConnectionBufferedBytes ?? 64 * 1024 * 1024);
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    // Refused here, not at the first Open: limits no session can run under
    // (a heartbeat timeout at or below its interval) would fail every one.
    checkLimits(this.limits);
    this.#senderOptions = { limits: this.limits, ...(options.defaultWindow ? { defaultWindow: options.defaultWindow } : {}) };
    for (const [name, definition] of Object.entries(options.streams)) {
      if (definition.limits) checkLimits({ ...this.limits, ...definition.limits }, `streams.${name}.limits`);
      if (definition.publish && !definition.publish.sink && !definition.topic) throw new SluiceError("invalid_argument", `streams.${name}.publish: needs a sink, or a topic to publish into`);
      // Names of consumers come from authorization: without it every subscriber is nameless, and the throttle would never count one.
      // A queue that cannot be built is refused here, naming the field, not at the first publisher.
      if (definition.publish?.queue) new SinkQueue(name, definition.publish.queue);
      if (definition.publish?.throttle?.consumers && !options.authorize) throw new SluiceError("invalid_argument", `streams.${name}.publish.throttle.consumers: names subscribers by the principal authorize returns, but there is no authorize hook`);
      const route = definition.publish?.route;
      if (route) {
        if (!definition.topic) throw new SluiceError("invalid_argument", `streams.${name}.publish.route: routes items to subjects of a topic, but the stream has no topic`, { field: `streams.${name}.publish.route` });
        if (definition.publish?.sink) throw new SluiceError("invalid_argument", `streams.${name}.publish.route: routes into the stream's topic, but the stream publishes into a sink of its own`, { field: `streams.${name}.publish.route` });
        this.#routers.set(name, new SubjectRouter(definition.topic.name, route, `streams.${name}.publish.route`));
      }
      const deadLetterStream = definition.publish?.deadLetterStream;
      if (deadLetterStream !== undefined && !(Object.hasOwn(options.streams, deadLetterStream) && options.streams[deadLetterStream]!.topic)) {
        throw new SluiceError("invalid_argument", `streams.${name}.publish.deadLetterStream: ${JSON.stringify(deadLetterStream)} is not a stream of this server with a topic`);
      }
    }
    const instanceId = options.controlRelay?.instanceId;
    // Session ids carry it up to their first ".": any other id would name no instance, or another one.
    if (instanceId !== undefined && !INSTANCE_ID_PATTERN.test(instanceId)) throw new SluiceError("invalid_argument", `controlRelay.instanceId: 1 to 64 letters, digits, "_" or "-", got ${JSON.stringify(instanceId)}`, { field: "controlRelay.instanceId" });
    this.#halfDuplex = new HalfDuplexSessions(options.controlRelay);
    const authorize = options.authorize;
    this.#ingest = new Ingest({
      streamOf: (name) => {
        const found = findStream(options.streams, name);
        return found?.subject !== undefined ? { ...found.definition, subject: found.subject } : found?.definition;
      },
      routers: this.#routers,
      limits: this.limits,
      ...(authorize ? { authorize } : {}),
      ...(options.publishers ? { publishers: options.publishers } : {}),
      ...(options.onPublishEnd ? { onEnd: options.onPublishEnd } : {}),
      ...(options.onPublished ? { onPublished: options.onPublished } : {}),
    });
  }

  /** Sessions currently open. */
  get activeSessions(): number {
    return this.#active.size;
  }

  /** Control calls forwarded to other instances and served for them (see SluiceServerOptions.controlRelay), for metrics; all 0 without a relay. */
  get controlStats(): ControlStats {
    return this.#halfDuplex.stats;
  }

  /** Publish sessions currently open. */
  get activePublishSessions(): number {
    return this.#ingest.activeSessions;
  }

  /** The ingest queues in front of the streams' sinks (see PublishDefinition.queue), by stream, once a stream had a publisher; for metrics. */
  get publishQueues(): ReadonlyMap<string, SinkQueue> {
    return this.#ingest.queues;
  }

  /** The publish routers of the streams that route (PublishDefinition.route), by stream, with their decisions per step; for metrics. */
  get publishRouters(): ReadonlyMap<string, SubjectRouter> {
    return this.#routers;
  }

  /** The lag throttles of the streams that publish with one (see PublishDefinition.throttle), for metrics. */
  get publishThrottles(): ReadonlyMap<string, LagThrottle> {
    return this.#ingest.throttles;
  }

  /** Payload the open sessions hold that their clients have not consumed (see maxBufferedBytes). */
  get bufferedBytes(): number {
    return this.#budget.heldBytes;
  }

  /** The open sessions with their live counters (for metrics exporters). */
  sessions(): IterableIterator<SessionView> {
    return this.#views.values();
  }

  /** Registers the Sluice services on a Connect router. */
  routes = (router: ConnectRouter): void => {
    router.service(SubscribeService, {
      subscribe: (requests, context) => this.#subscribe(requests, context),
      subscribeHalfDuplex: (request, context) => this.#subscribeHalfDuplex(request, context),
      control: (request, context) => this.#control(request, context),
    });
    router.service(PublishService, {
      publish: (requests, context) => this.#publish(requests, context),
      publishBatch: (request, context) => this.#publishBatch(request, context),
    });
  };

  /** Tells every session to go elsewhere (unavailable, retryable) and resolves when they have ended. */
  async drain(): Promise<void> {
    this.#drain.abort();
    await Promise.allSettled([...this.#active, this.#ingest.drain()]);
  }

  /**
   * One full-duplex session over client frames already decoded: what the
   * Subscribe RPC runs, for a transport that speaks the call itself
   * (listen's direct path, direct-calls.ts). Yields the frames to send and
   * ends with the session; `call.signal` aborts when the call is gone.
   */
  subscribeFrames(inbound: AsyncIterable<ClientFrame>, call: CallInfo): AsyncIterable<ServerFrame> {
    return this.#serve(inbound, newSessionKeys(), call);
  }

  /**
   * One publish session over publish frames already decoded: what the
   * Publish RPC runs, for a transport that speaks the call itself.
   */
  publishFrames(inbound: AsyncIterable<PublishFrame>, call: CallInfo): AsyncIterable<IngestFrame> {
    return this.#ingest.frames(inbound, call);
  }

  async *#publish(requests: AsyncIterable<PublishRequest>, context: HandlerContext): AsyncIterable<PublishResponse> {
    for await (const frame of this.#ingest.frames(decodePublishRequests(requests), callInfoOf(context))) yield ingestFrameToWire(frame);
  }

  /**
   * One half-duplex publish batch (PROTOCOL.md §3.4.1), decoded: what the
   * PublishBatch RPC runs, for a transport that speaks the call itself.
   */
  publishBatch(request: PublishBatch, call: CallInfo): Promise<PublishBatchResult> {
    return this.#ingest.batch(request, call);
  }

  async #publishBatch(request: PublishBatchRequest, context: HandlerContext): Promise<PublishBatchResponse> {
    try {
      const result = await this.#ingest.batch(
        { stream: request.stream, publisherId: request.publisherId, resumeAfterSeq: wireNumber(request.resumeAfterSeq, "resume_after_seq"), firstSeq: wireNumber(request.firstSeq, "first_seq"), items: request.items, ...priorityField(priorityFromWire(request.priority, "priority")) },
        callInfoOf(context),
      );
      return create(PublishBatchResponseSchema, {
        ack: publishAckToWire({ seq: result.ackSeq, deadLetters: result.deadLetters, afterSeq: wireNumber(request.resumeAfterSeq, "resume_after_seq"), ...(result.throttle ? { throttle: result.throttle } : {}) }),
        nextSeq: BigInt(result.nextSeq),
        limits: { ...result.limits, maxWindowBytes: BigInt(result.limits.maxWindowBytes) },
        window: { items: result.window.items, bytes: BigInt(result.window.bytes) },
      });
    } catch (error) {
      throw error instanceof SluiceError ? toConnectError(error) : error;
    }
  }

  async *#subscribe(requests: AsyncIterable<SubscribeRequest>, context: HandlerContext): AsyncIterable<SubscribeResponse> {
    const binary = isBinaryRequest(context);
    for await (const frame of this.#serve(decodeRequests(requests), newSessionKeys(), callInfoOf(context))) yield responseOf(SubscribeResponseSchema, frame, binary);
  }

  /**
   * Half duplex (PROTOCOL.md §3.3): the Open arrives as the request, later
   * client frames through Control calls that prove the session secret.
   * Nothing else outlives the session: a client that stops sending
   * heartbeats through Control is cut off by the heartbeat timeout.
   */
  async *#subscribeHalfDuplex(request: SubscribeHalfDuplexRequest, context: HandlerContext): AsyncIterable<SubscribeHalfDuplexResponse> {
    let frames: AsyncIterable<ServerFrame>;
    try {
      frames = this.subscribeHalfDuplexFrames(request.open, callInfoOf(context));
    } catch (error) {
      throw error instanceof SluiceError ? toConnectError(error) : error;
    }
    const binary = isBinaryRequest(context);
    for await (const frame of frames) yield responseOf(SubscribeHalfDuplexResponseSchema, frame, binary);
  }

  /**
   * One half-duplex session from its SubscribeHalfDuplex request's Open: what
   * the RPC runs, for a transport that speaks the call itself (listen's
   * direct path). Throws invalid_argument when the Open is missing or does not
   * decode; later client frames come through Control.
   */
  subscribeHalfDuplexFrames(wireOpen: SubscribeHalfDuplexRequest["open"], call: CallInfo): AsyncIterable<ServerFrame> {
    if (!wireOpen) throw new SluiceError("invalid_argument", "open: required", { field: "open", blame: "remote" });
    const open = clientFrameFromWire({ kind: { case: "open", value: wireOpen } } as Parameters<typeof clientFrameFromWire>[0]);
    // Only half-duplex sessions take Control calls: only their ids name this instance.
    const keys = newSessionKeys(this.#options.controlRelay?.instanceId);
    return this.#halfDuplex.run(open, keys, (inbound) => this.#serve(inbound, keys, call));
  }

  async #control(request: ControlRequest, context: HandlerContext): Promise<ControlResponse> {
    try {
      const principal = this.#options.authorize ? await this.#options.authorize({ stream: undefined, headers: context.requestHeader, action: "control" }) : undefined;
      // Authorized here, where the call arrived; the principal goes along when the session is another instance's.
      return await this.#halfDuplex.control(request, principal);
    } catch (error) {
      throw error instanceof SluiceError ? toConnectError(error) : error;
    }
  }

  /**
   * One full-duplex session over `pipe`, for a transport that writes the
   * frames itself (listen's direct path): `pipe.send` writes one (its
   * promise is the transport's backpressure), and `pipe.close` is the end
   * of the session: undefined when it ended as the protocol says (End or
   * Error sent), else the error it stopped with (the call went away). No
   * iterable stands between the session and the socket, which took two
   * async hops a frame (issue 20: most of what 10 000 idle sessions cost
   * was such per-frame plumbing). Resolves once the session is accounted
   * for.
   */
  serveSubscribe(pipe: FramePipe<ClientFrame, ServerFrame>, call: CallInfo): Promise<void> {
    return this.#run(pipe, newSessionKeys(), call);
  }

  /** Runs one session over any inbound frame source; yields wire server frames. */
  async *#serve(inbound: AsyncIterable<ClientFrame>, keys: SessionKeys, context: CallInfo): AsyncIterable<ServerFrame> {
    const outbound = new FrameQueue<ServerFrame>(32);
    const session = this.#run({ inbound, send: (frame) => outbound.push(frame), close: (error) => outbound.close(error) }, keys, context);
    try {
      for await (const frame of outbound) yield frame;
    } finally {
      outbound.close();
    }
    await session;
  }

  /** Runs one session over `pipe`; resolves once it is over and accounted for. */
  #run(pipe: FramePipe<ClientFrame, ServerFrame>, keys: SessionKeys, context: CallInfo): Promise<void> {
    let liveView: SessionView | undefined;
    const connection = context.connection;
    const budget = this.#budget;
    const session = serveSession({
      pipe,
      resolve: (open, signal) => this.#resolve(open, keys, signal, context),
      sender: this.#senderOptions,
      signal: this.#drain,
      callSignal: context.signal,
      onStart: (view) => {
        liveView = view;
        this.#views.add(view);
        budget.add(view, connection);
      },
      mayPull: () => budget.mayPull(connection),
      onPulled: (bytes) => budget.pulled(bytes, connection),
      ...(this.#options.onRtt ? { onRtt: (rttMs: number) => this.#options.onRtt?.(liveView?.stream ?? "", rttMs) } : {}),
      ...(this.#options.onItemLatency ? { onItemLatency: (stage: "sent" | "acked", latencyMs: number) => this.#options.onItemLatency?.(liveView?.stream ?? "", stage, latencyMs) } : {}),
    });
    this.#active.add(session);
    return session.then((outcome) => {
      this.#active.delete(session);
      if (liveView) {
        this.#views.delete(liveView);
        budget.remove(liveView, connection);
      }
      this.#options.onSessionEnd?.(outcome);
    });
  }

  async #resolve(open: OpenFrame, keys: SessionKeys, signal: SessionSignal, call: CallInfo): Promise<ResolvedStream> {
    const connection = call.connection;
    // Authorization comes before the stream lookup: an unauthenticated caller
    // must not learn which streams exist.
    let principal: string | undefined;
    if (this.#options.authorize) {
      // Not `keys.onPrincipal?.(await authorize(...))`: an optional call skips
      // evaluating its arguments, and so would skip the check itself.
      principal = await this.#options.authorize({ stream: open.stream, headers: call.requestHeader, action: "subscribe" });
      keys.onPrincipal?.(principal);
    }
    const found = findStream(this.#options.streams, open.stream);
    if (!found) throw new SluiceError("stream_not_found", `stream not configured: ${open.stream}`, { blame: "remote" });
    const definition = found.definition;
    // The window this session will have: the stream's limits and default over the server's (as the sender will accept it).
    const { window } = acceptOpen(open, { ...this.limits, ...definition.limits }, definition.defaultWindow ?? this.#options.defaultWindow);
    this.#budget.admit(window.bytes, connection);
    const params = definition.params ? definition.params(open.params) : open.params;
    const { sessionId, sessionSecret } = keys;
    const chunk = { ...SERVER_CHUNK_DEFAULTS, ...this.#options.chunk, ...definition.chunk };
    const settings = {
      contentType: definition.contentType ?? "application/json",
      sessionId,
      sessionSecret,
      chunk,
      ...(definition.limits ? { limits: definition.limits } : {}),
      ...(definition.defaultWindow ? { defaultWindow: definition.defaultWindow } : {}),
      ...(definition.stallTimeoutMs !== undefined ? { stallTimeoutMs: definition.stallTimeoutMs } : {}),
      ...(definition.yieldTimeoutMs !== undefined ? { yieldTimeoutMs: definition.yieldTimeoutMs } : {}),
    };
    if (definition.topic) return { ...(await startTopic(definition.topic, open, signal, principal, found.subject)), ...settings };
    if (!definition.source) throw new SluiceError("internal", `stream ${open.stream} has neither a source nor a topic`);
    return { ...startSource(definition.source, params, open, { stream: open.stream, maxSkip: this.#maxResumeSkip, signal }), ...settings };
  }
}

/** A batch's priority as an optional field: absent for NORMAL. */
function priorityField(priority: Priority | undefined): { priority?: Priority } {
  return priority === undefined ? {} : { priority };
}
