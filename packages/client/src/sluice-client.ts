/**
 * The Sluice client: `for await (const event of client.subscribe("name"))`.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import { SluiceError, type ClientFrame, type JsonObject, type ServerFrame, type Window } from "@sluice/core";
import { Subscription, type FramePipe, type SubscriptionEvent, type SubscriptionGap, type SubscriptionItem, type SubscriptionState, type SubscriptionStats } from "@sluice/driver";
import { SubscribeService } from "@sluice/protocol";
import { json, type ItemCodec } from "./codec.js";
import { openHalfDuplexCall, openSubscribeCall } from "./connect-pipe.js";

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
   * A second transport (e.g. transport-ws) to switch to when the first one
   * fails before delivering any server frame, or delivers none within
   * `fallbackAfterMs` (a proxy that buffers streaming responses). A
   * transport that has delivered a frame once has proven the path, and the
   * client stays on it: a late first frame is then a busy server or client,
   * not a proxy. While neither has proven itself, a failure on one switches
   * to the other, so a wrong first guess is never final.
   */
  readonly fallback?: { readonly transport: Transport; readonly transportName?: string; readonly mode?: "duplex" | "half-duplex"; readonly resetConnection?: () => void };
  /** Default 5 000 ms. The first server frame (Opened) is due right after Open. */
  readonly fallbackAfterMs?: number;
}

export interface SubscribeOptions<T> {
  readonly params?: JsonObject;
  /** Receive window: items and bytes buffered ahead of the app. */
  readonly window?: Window;
  readonly codec?: ItemCodec<T>;
  /** Ack when the app asks for the next item (default) or only via item.ack(). */
  readonly autoAck?: boolean;
  readonly signal?: AbortSignal;
  readonly heartbeatIntervalMs?: number;
  /**
   * Start after this seq instead of wherever the stream is (a topic's head,
   * a source's start): for an app that kept its position, e.g. `{ seq: 1000 }`
   * gets seq 1001 onward, or a resume_position_lost / a gap when the server
   * no longer has it. `cursor` (and its `cursorSeq`) is the source position
   * for `seq` when the app kept that too.
   */
  readonly startAfter?: { readonly seq: number; readonly cursor?: Uint8Array; readonly cursorSeq?: number };
  readonly maxItemBytes?: number;
  /** Reconnect backoff. */
  readonly backoff?: { initialMs?: number; maxMs?: number; multiplier?: number; maxAttempts?: number };
  /** Told every change of the stream's connection state (see StreamState); more listeners with `stream.onStateChange()`. */
  readonly onState?: (state: StreamState) => void;
}

export type StreamItem<T> = SubscriptionItem<T>;
export type StreamGap = SubscriptionGap;
export type StreamEvent<T> = SubscriptionEvent<T>;
/**
 * The connection state of a stream, as Socket.IO's connection events:
 * `connecting` (attempt), `open`, `resumed` (the resume result),
 * `reconnecting` (attempt, delayMs, the error), `failed` (the final error),
 * `closed` ("ended" or "cancelled"); `idle` until it is iterated.
 */
export type StreamState = SubscriptionState;

export interface SluiceStream<T> extends AsyncIterable<StreamEvent<T>> {
  readonly stats: SubscriptionStats;
  /** Where the connection stands now. */
  readonly state: StreamState;
  /** Calls `listener` at every change of `state`; returns the function that stops it. */
  onStateChange(listener: (state: StreamState) => void): () => void;
  cancel(reason?: string): void;
  /** Ends a reconnect backoff now (e.g. the network came back). */
  reconnectNow(): void;
}

export interface SluiceClient {
  subscribe<T = unknown>(stream: string, options?: SubscribeOptions<T>): SluiceStream<T>;
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

export function createSluiceClient(options: SluiceClientOptions): SluiceClient {
  const primary = route(options.transport, options.mode, options.transportName ?? "connect", options.resetConnection);
  const fallback = options.fallback ? route(options.fallback.transport, options.fallback.mode, options.fallback.transportName ?? "fallback", options.fallback.resetConnection) : undefined;
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
  let closed = false;
  return {
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
    },
    get openSubscriptions() {
      return open.size;
    },
    reconnectAll() {
      for (const subscription of open) subscription.reconnectNow();
    },
  };
}

interface Route {
  readonly name: string;
  open(signal: AbortSignal): FramePipe<ServerFrame, ClientFrame>;
}

function route(transport: Transport, mode: "duplex" | "half-duplex" | undefined, name: string, resetConnection: (() => void) | undefined): Route {
  const client = createClient(SubscribeService, transport);
  return {
    name,
    open(signal) {
      const pipe = mode === "half-duplex" ? openHalfDuplexCall(client, signal) : openSubscribeCall(client, signal);
      return {
        inbound: pipe.inbound,
        send: (frame) => pipe.send(frame),
        close(error) {
          pipe.close(error);
          // A session that died of silence: its connection is dead too.
          if (error?.code === "heartbeat_timeout") resetConnection?.();
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
  async function* inbound(): AsyncIterable<ServerFrame> {
    const frames = pipe.inbound[Symbol.asyncIterator]();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SluiceError("unavailable", timeoutMessage, { retryable: true, retryAfterMs: 0 })), timeoutMs);
    });
    let first: IteratorResult<ServerFrame>;
    try {
      first = await Promise.race([frames.next(), timeout]);
    } catch (error) {
      onGiveUp();
      pipe.close();
      const reason = error instanceof Error ? error.message : String(error);
      throw error instanceof SluiceError && error.message === timeoutMessage ? error : new SluiceError("unavailable", `first transport failed: ${reason}`, { retryable: true, retryAfterMs: 0, cause: error });
    } finally {
      clearTimeout(timer);
    }
    if (first.done) {
      onGiveUp();
      return;
    }
    onFirstFrame();
    yield first.value;
    for (let next = await frames.next(); !next.done; next = await frames.next()) yield next.value;
  }
  return { inbound: inbound(), send: (frame) => pipe.send(frame), close: (error) => pipe.close(error) };
}
