/**
 * The Sluice client: `for await (const event of client.subscribe("name"))`.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import { endpointsOf, sessionLeftEndpoint } from "./endpoints.js";
import { SluiceError, type ClientFrame, type JsonObject, type ServerFrame, type Window } from "@sluice/core";
import { Subscription, type FramePipe, type PublicationState, type PublicationStats, type PublishBatchOptions, type PublishQueueOptions, type PublishReceipt, type PriorityName, type SubscriptionEvent, type SubscriptionGap, type SubscriptionItem, type SubscriptionState, type SubscriptionStats } from "@sluice/driver";
import { SubscribeService } from "@sluice/protocol";
import { json, type ItemCodec } from "./codec.js";
import { openHalfDuplexCall, openSubscribeCall, type HalfDuplexStream } from "./connect-pipe.js";
import { LazyPublisher, randomPublisherId } from "./lazy-publisher.js";
import type { PublishRoute } from "./publishing.js";

/**
 * The transport a {@link SluiceClient} runs its sessions over, and the one it may
 * fall back to. The runtime packages fill these in.
 */
export interface SluiceClientOptions {
  /** A Connect transport able to run bidi streams (connect-node HTTP/2, or transport-ws). */
  readonly transport: Transport;
  /**
   * Drops the transport's connection(s) so the next call dials a new one.
   * Called when a session died of silence (heartbeat timeout): its
   * connection is dead, and reusing it would hang the resume (PROTOCOL.md §6).
   */
  readonly resetConnection?: () => void;
  /** Name for stats ("http2", "websocket"). */
  readonly transportName?: string;
  /**
   * "duplex" (default): one bidi Subscribe call per session; needs HTTP/2 or
   * transport-ws. "half-duplex": server-streaming SubscribeHalfDuplex plus
   * unary Control calls, for HTTP/1.1 and fetch-based transports.
   */
  readonly mode?: "duplex" | "half-duplex";
  /**
   * Opens a duplex Subscribe call without `transport`'s generic pipeline
   * (the direct path of @sluice/client/internal, over HTTP/2 or WebSocket):
   * the same call and frames on the wire, fewer steps per message.
   * Undefined: every call goes through `transport`.
   */
  readonly subscribeCall?: (signal: AbortSignal) => FramePipe<ServerFrame, ClientFrame>;
  /**
   * In "half-duplex" mode: where a session's server frames come from, given
   * its Open, without `transport`'s generic pipeline (the direct path's
   * half-duplex POST, @sluice/client/internal); Control calls still go
   * through `transport`. Undefined: SubscribeHalfDuplex through `transport`.
   */
  readonly halfDuplexStream?: HalfDuplexStream;
  /**
   * A second transport (e.g. transport-ws) to switch to when the first one
   * fails before delivering any server frame, or delivers none within
   * `fallbackAfterMs` (a proxy that buffers streaming responses). A
   * transport that has delivered a frame once has proven the path, and the
   * client stays on it: a late first frame is then a busy server or client,
   * not a proxy. While neither has proven itself, a failure on one switches
   * to the other, so a wrong first guess is never final.
   */
  readonly fallback?: {
    /** The second transport. */
    readonly transport: Transport;
    /** Its name for stats. */
    readonly transportName?: string;
    /** Its mode (see `mode`; default "duplex"). */
    readonly mode?: "duplex" | "half-duplex";
    /** Drops its connection(s) (see `resetConnection`). */
    readonly resetConnection?: () => void;
    /** Its direct Subscribe calls (see `subscribeCall`). */
    readonly subscribeCall?: (signal: AbortSignal) => FramePipe<ServerFrame, ClientFrame>;
    /** Its direct half-duplex frames (see `halfDuplexStream`). */
    readonly halfDuplexStream?: HalfDuplexStream;
  };
  /** Default 5 000 ms. The first server frame (Opened) is due right after Open. */
  readonly fallbackAfterMs?: number;
}

/**
 * How {@link SluiceClient.subscribe} subscribes: the stream's params, the window,
 * decoding, acks, retries and where to start.
 */
export interface SubscribeOptions<T> {
  /** The stream's parameters, validated by the server (default none). */
  readonly params?: JsonObject;
  /** Receive window: items and bytes buffered ahead of the app. */
  readonly window?: Window;
  /** How item bytes become values (default json()). */
  readonly codec?: ItemCodec<T>;
  /** Ack when the app asks for the next item (default) or only via item.ack(). */
  readonly autoAck?: boolean;
  /** Aborting cancels the stream. */
  readonly signal?: AbortSignal;
  /** Heartbeat interval to ask the server for (default: the server's). */
  readonly heartbeatIntervalMs?: number;
  /**
   * Start after this seq instead of wherever the stream is (a topic's head,
   * a source's start): for an app that kept its position, e.g. `{ seq: 1000 }`
   * gets seq 1001 onward, or a resume_position_lost / a gap when the server
   * no longer has it. `cursor` (and its `cursorSeq`) is the source position
   * for `seq` when the app kept that too.
   */
  readonly startAfter?: {
    /** The last seq the app processed; the stream continues after it. */
    readonly seq: number;
    /** The source's cursor at or before `seq`, if the app kept one. */
    readonly cursor?: Uint8Array;
    /** The seq `cursor` belongs to (default `seq`). */
    readonly cursorSeq?: number;
  };
  /** Local cap on an item's size; the server's limit applies too. */
  readonly maxItemBytes?: number;
  /** Reconnect backoff. */
  readonly backoff?: {
    /** Ceiling of the first delay (default 100 ms). */
    initialMs?: number;
    /** No delay is longer than this (default 10 000 ms). */
    maxMs?: number;
    /** Each attempt multiplies the ceiling by this (default 2). */
    multiplier?: number;
    /** Attempts before the last error becomes final (default Infinity). */
    maxAttempts?: number;
  };
  /** Told every change of the stream's connection state (see StreamState); more listeners with `stream.onStateChange()`. */
  readonly onState?: (state: StreamState) => void;
}

/** One item of a stream: `seq`, the decoded `value`, the raw `data`, and `ack()`. */
export type StreamItem<T> = SubscriptionItem<T>;
/** Seqs the server skipped (by policy, or lost to expired history), told in order. */
export type StreamGap = SubscriptionGap;
/** What iterating a stream yields, in seq order: an item or a gap. */
export type StreamEvent<T> = SubscriptionEvent<T>;
/**
 * The connection state of a stream, as Socket.IO's connection events:
 * `connecting` (attempt), `open`, `resumed` (the resume result),
 * `reconnecting` (attempt, delayMs, the error), `failed` (the final error),
 * `closed` ("ended" or "cancelled"); `idle` until it is iterated.
 */
export type StreamState = SubscriptionState;

/** One subscription: iterate it (`for await`) for items and gaps, in order, across reconnects. */
export interface SluiceStream<T> extends AsyncIterable<StreamEvent<T>> {
  /** Live statistics: items, bytes, gaps, reconnects, RTT, the transport. */
  readonly stats: SubscriptionStats;
  /** Where the connection stands now. */
  readonly state: StreamState;
  /** Calls `listener` at every change of `state`; returns the function that stops it. */
  onStateChange(listener: (state: StreamState) => void): () => void;
  /** Stops the stream: the server stops its source, and iteration ends. */
  cancel(reason?: string): void;
  /** Ends a reconnect backoff now (e.g. the network came back). */
  reconnectNow(): void;
}

/**
 * How {@link SluiceClient.publish} publishes: encoding, the publisher's id,
 * the outbound queue and batching, retries.
 */
export interface PublishOptions<T> {
  /** How values become item bytes (default json()); the codec needs `encode`. */
  readonly codec?: ItemCodec<T>;
  /**
   * Who publishes (default: random per publisher). The server deduplicates
   * by (publisher id, seq): a process that restarts with the same id
   * continues its numbering where the server says.
   */
  readonly publisherId?: string;
  /** The outbound queue: items waiting for credit (default 10 000, `block`: send() waits for room). */
  readonly queue?: PublishQueueOptions;
  /** Batching: items travel in chunks of up to maxItems / maxBytes, waiting at most lingerMs for company (default 1 ms). */
  readonly batch?: PublishBatchOptions;
  /** Aborting cancels: items without a fate are rejected. */
  readonly signal?: AbortSignal;
  /** Reconnect backoff (as for subscribe). */
  readonly backoff?: SubscribeOptions<T>["backoff"];
}

/** Publishing into one stream: send() resolves once the server accepted the item. */
export interface SluicePublisher<T> {
  /** The id the server deduplicates by. */
  readonly publisherId: string;
  /**
   * Publishes one value: resolves with its seq once the server accepted it,
   * rejects with a PublishError (`failure`: dropped, dead_lettered, failed,
   * closed). Higher priorities go first when credit is scarce; low is never starved.
   */
  send(value: T, options?: { priority?: PriorityName }): Promise<PublishReceipt>;
  /** Resolves once every value sent so far has its fate. */
  flush(): Promise<void>;
  /** Sends what is queued, waits for every fate, ends the session. */
  close(): Promise<void>;
  /** Gives up now: values without a fate are rejected as closed. */
  cancel(reason?: string): void;
  /** Live counters: queued and dropped per priority, in flight, acked, dead-lettered, retries, breaker. */
  readonly stats: PublicationStats;
  /** Where the connection stands. */
  readonly state: PublicationState;
  /** Calls `listener` at every change of `state`; returns the function that stops it. */
  onStateChange(listener: (state: PublicationState) => void): () => void;
}

/** A Sluice client: subscribes to named streams on one server, and publishes into them. */
export interface SluiceClient {
  /**
   * Subscribes to `stream`. Nothing is sent until the result is iterated; the
   * subscription then connects, and reconnects and resumes by itself.
   */
  subscribe<T = unknown>(stream: string, options?: SubscribeOptions<T>): SluiceStream<T>;
  /**
   * Starts publishing into `stream` (one that takes publishing): it
   * connects at once, and reconnects and resends unacked items by itself.
   */
  publish<T = unknown>(stream: string, options?: PublishOptions<T>): SluicePublisher<T>;
  /**
   * Cancels every subscription still open (each sends its Cancel and is
   * torn down within a second) and refuses new ones. SDKs close their
   * connections after this.
   */
  close(): void;
  /** Subscriptions not over yet (cancelled ones count until they end). */
  readonly openSubscriptions: number;
  /** Ends every subscription's reconnect backoff now (the network came back: a browser's "online"). */
  reconnectAll(): void;
}

/**
 * A client over `options.transport` (and `options.fallback`), for any runtime;
 * @sluice/client-node and @sluice/client-web pick the transports.
 */
export function createSluiceClient(options: SluiceClientOptions): SluiceClient {
  const primary = route(options.transport, options.mode, options.transportName ?? "connect", options.resetConnection, options);
  const fallback = options.fallback ? route(options.fallback.transport, options.fallback.mode, options.fallback.transportName ?? "fallback", options.fallback.resetConnection, options.fallback) : undefined;
  const fallbackAfterMs = options.fallbackAfterMs ?? 5_000;
  let current = primary;
  const proven = new Set<Route>();
  const connect = async (signal: AbortSignal) => {
    const using = current;
    if (!fallback || proven.has(using)) return using.open(signal);
    const other = using === primary ? fallback : primary;
    return watchFirstFrame(using.open(signal), fallbackAfterMs, `${using.name} delivered nothing within ${fallbackAfterMs} ms (a proxy buffering the stream?)`, {
      onFirstFrame: () => proven.add(using),
      // Another subscription may have proven this route meanwhile (its
      // frame came through): then this failure is not the path's fault.
      onGiveUp: () => {
        if (!proven.has(using) && current === using) current = other;
      },
    });
  };
  const open = new Set<Subscription<unknown>>();
  const publishers = new Set<LazyPublisher<unknown>>();
  let closed = false;
  return {
    publish<T>(stream: string, publishOptions: PublishOptions<T> = {}): SluicePublisher<T> {
      if (closed) throw new SluiceError("cancelled", `publish("${stream}"): the client is closed`);
      const codec = publishOptions.codec ?? (json() as ItemCodec<T>);
      const encode = codec.encode;
      if (!encode) throw new TypeError(`publish("${stream}"): the codec has no encode()`);
      const publisherId = publishOptions.publisherId ?? randomPublisherId();
      const publisher: LazyPublisher<T> = new LazyPublisher<T>(publisherId, async () => {
        const { startPublication } = await import("./publishing.js");
        return startPublication<T>(
          {
            stream,
            publisherId,
            encode: (value) => encode.call(codec, value),
            ...(publishOptions.queue ? { queue: publishOptions.queue } : {}),
            ...(publishOptions.batch ? { batch: publishOptions.batch } : {}),
            ...(publishOptions.signal ? { signal: publishOptions.signal } : {}),
            ...(publishOptions.backoff ? { backoff: publishOptions.backoff } : {}),
            transportName: () => current.name,
          },
          () => current,
        );
      });
      publishers.add(publisher as LazyPublisher<unknown>);
      publisher.onStateChange((state) => {
        if (state.state === "closed" || state.state === "failed") publishers.delete(publisher as LazyPublisher<unknown>);
      });
      return publisher;
    },
    subscribe<T>(stream: string, subscribeOptions: SubscribeOptions<T> = {}): SluiceStream<T> {
      if (closed) throw new SluiceError("cancelled", `subscribe("${stream}"): the client is closed`);
      const codec = subscribeOptions.codec ?? (json() as ItemCodec<T>);
      let finished = false;
      const subscription: Subscription<T> = new Subscription<T>({
        stream,
        decode: (data) => codec.decode(data),
        params: subscribeOptions.params ?? {},
        ...(subscribeOptions.window ? { window: subscribeOptions.window } : {}),
        ...(subscribeOptions.heartbeatIntervalMs ? { heartbeatIntervalMs: subscribeOptions.heartbeatIntervalMs } : {}),
        ...(subscribeOptions.maxItemBytes ? { maxItemBytes: subscribeOptions.maxItemBytes } : {}),
        ...(subscribeOptions.signal ? { signal: subscribeOptions.signal } : {}),
        ...(subscribeOptions.backoff ? { backoff: subscribeOptions.backoff } : {}),
        ...(subscribeOptions.onState ? { onState: subscribeOptions.onState } : {}),
        ...(subscribeOptions.startAfter ? { startAfter: subscribeOptions.startAfter } : {}),
        autoAck: subscribeOptions.autoAck ?? true,
        clientInfo: "sluice-client/0.1",
        transportName: () => current.name,
        connect,
        onFinished: () => {
          finished = true;
          open.delete(subscription as Subscription<unknown>);
        },
      });
      // An already aborted signal finishes it inside the constructor.
      if (!finished) open.add(subscription as Subscription<unknown>);
      return subscription;
    },
    close() {
      closed = true;
      for (const subscription of open) subscription.cancel("client closed");
      for (const publication of publishers) publication.cancel("client closed");
    },
    get openSubscriptions() {
      return open.size;
    },
    reconnectAll() {
      for (const subscription of open) subscription.reconnectNow();
    },
  };
}

interface Route extends PublishRoute {
  open(signal: AbortSignal): FramePipe<ServerFrame, ClientFrame>;
}

function route(
  transport: Transport,
  mode: "duplex" | "half-duplex" | undefined,
  name: string,
  resetConnection: (() => void) | undefined,
  direct: { readonly subscribeCall?: (signal: AbortSignal) => FramePipe<ServerFrame, ClientFrame>; readonly halfDuplexStream?: HalfDuplexStream },
): Route {
  const { subscribeCall, halfDuplexStream } = direct;
  const client = createClient(SubscribeService, transport);
  return {
    name,
    transport,
    mode,
    resetConnection,
    open(signal) {
      const endpoints = endpointsOf(transport);
      const at = endpoints?.endpoint ?? 0;
      const pipe = mode === "half-duplex" ? openHalfDuplexCall(client, signal, halfDuplexStream) : subscribeCall ? subscribeCall(signal) : openSubscribeCall(client, signal);
      return {
        inbound: pipe.inbound,
        ...(pipe.ackDelayMs !== undefined ? { ackDelayMs: pipe.ackDelayMs } : {}),
        send: (frame) => pipe.send(frame),
        close(error) {
          pipe.close(error);
          // A session that died of silence: its connection is dead too.
          if (error?.code === "heartbeat_timeout") resetConnection?.();
          // A drained or vanished server: the next attempt goes to the next endpoint.
          if (endpoints && sessionLeftEndpoint(error)) endpoints.moveOn(at);
        },
      };
    },
  };
}

/**
 * Passes a pipe through, but fails it (retryably, so the subscription
 * reconnects and resumes) and calls `onGiveUp` when it ends or errs before
 * its first frame, or no frame arrives within `timeoutMs`; `onFirstFrame`
 * when the first frame does arrive.
 */
function watchFirstFrame(pipe: FramePipe<ServerFrame, ClientFrame>, timeoutMs: number, timeoutMessage: string, on: { onFirstFrame(): void; onGiveUp(): void }): FramePipe<ServerFrame, ClientFrame> {
  const { onFirstFrame, onGiveUp } = on;
  const frames = pipe.inbound[Symbol.asyncIterator]();
  /** The first frame, watched; undefined until asked for. */
  let first: Promise<IteratorResult<ServerFrame>> | undefined;
  async function watchFirst(): Promise<IteratorResult<ServerFrame>> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SluiceError("unavailable", timeoutMessage, { retryable: true, retryAfterMs: 0 })), timeoutMs);
    });
    let result: IteratorResult<ServerFrame>;
    try {
      result = await Promise.race([frames.next(), timeout]);
    } catch (error) {
      onGiveUp();
      pipe.close();
      const reason = error instanceof Error ? error.message : String(error);
      throw error instanceof SluiceError && error.message === timeoutMessage ? error : new SluiceError("unavailable", `first transport failed: ${reason}`, { retryable: true, retryAfterMs: 0, cause: error });
    } finally {
      clearTimeout(timer);
    }
    if (result.done) onGiveUp();
    else onFirstFrame();
    return result;
  }
  // After the first frame the pipe's own iterator answers: no generator of
  // this watcher's stands between the frames and the reader for the rest of
  // the session (an async hop a frame, a heartbeat of every idle session).
  const iterator: AsyncIterator<ServerFrame> = {
    next: () => (first ? frames.next() : (first = watchFirst())),
    return: (value?: unknown) => Promise.resolve({ done: true, value }),
  };
  return { inbound: { [Symbol.asyncIterator]: () => iterator }, ...(pipe.ackDelayMs !== undefined ? { ackDelayMs: pipe.ackDelayMs } : {}), send: (frame) => pipe.send(frame), close: (error) => pipe.close(error) };
}
