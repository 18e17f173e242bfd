/**
 * @sluice/client-web: the Sluice client for browsers.
 *
 * - "connect": connect-web over fetch. Browsers cannot stream a request body,
 *   so sessions run half duplex: a server-streaming SubscribeHalfDuplex call
 *   plus unary Control calls bound to the session by the secret from Opened.
 * - "websocket": Connect over WebSocket (@sluice/transport-ws), full duplex.
 * - "auto" (default): connect first; WebSocket when connect fails before
 *   the first server frame or a proxy buffers the stream. The first
 *   transport to deliver a frame is kept from then on.
 *
 * Subscriptions retry at once when the browser comes back `online`, and are
 * cancelled on `pagehide` (the tab closes or navigates away).
 *
 * @module @sluice/client-web
 */
import { createConnectTransport } from "@connectrpc/connect-web";
import type { Transport } from "@connectrpc/connect";
import { createSluiceClient as createClient, credentialInterceptors, endpointsTransport, type Credentials, type SluiceClient, type SluiceClientOptions } from "@sluice/client";
import { directHalfDuplexFrames, directSubscribeCall, fetchDirectPosts, subscribeHalfDuplexPath, subscribePath, webSocketDirectCalls, type RawCallOpener } from "@sluice/client/internal";
import type { WebSocketTransport, WebSocketTransportOptions } from "@sluice/transport-ws";

export { json, bytes, protobuf, SluiceError, PublishError, type Credentials, type ItemCodec, type SluiceClient, type SluiceStream, type StreamEvent, type StreamItem, type StreamGap, type StreamState, type SubscribeOptions, type SubscriptionStats, type PublishOptions, type SluicePublisher, type PublicationState, type PublicationStats, type PublishReceipt, type PublishFailure, type PriorityName } from "@sluice/client";

/**
 * `token` (sent as Authorization: Bearer) and `apiKey` (X-API-Key) go with
 * every call on both transports; over WebSocket they travel as the call's
 * headers inside the socket, since browsers cannot add headers to the handshake.
 */
export interface WebClientOptions extends Credentials {
  /**
   * The server's HTTP base URL, e.g. "https://api.example.com" (default:
   * this page's origin). Several (instances of one service on a shared
   * topic engine): calls go to the first, and a session whose server is
   * gone or drains moves on to the next, round robin, where it resumes.
   */
  readonly baseUrl?: string | readonly string[];
  /**
   * "auto" (default): connect-web first, WebSocket when it fails or delivers
   * nothing in time; "connect" or "websocket": that transport only.
   */
  readonly transport?: "auto" | "connect" | "websocket";
  /** Default: each baseUrl with ws(s): and path /connect (one per baseUrl when there are several). */
  readonly websocketUrl?: string | readonly string[];
  /** "auto": how long connect may take to deliver the first server frame. Default 5 000 ms. */
  readonly fallbackAfterMs?: number;
  /**
   * Subscribe calls over WebSocket, and half-duplex SubscribeHalfDuplex
   * calls over fetch, skip connect-es' generic client pipeline and read
   * Connect envelopes straight off the call (default true); the wire is the
   * same. false: through connect-es, as Publish and Control calls go.
   */
  readonly directSubscribe?: boolean;
}

/** A browser client: a {@link SluiceClient} that also closes its WebSocket. */
export interface WebSluiceClient extends SluiceClient {
  /** Cancels every subscription, refuses new ones and closes the WebSocket (also on pagehide). */
  close(): void;
}

/**
 * A Sluice client for browsers: connect-web half duplex first, Connect over
 * WebSocket (loaded on first use) as the fallback. Retries when the browser
 * comes back online; cancels on pagehide.
 */
export function createSluiceClient(options: WebClientOptions = {}): WebSluiceClient {
  const configured = options.baseUrl ?? globalThis.location?.origin;
  if (!configured) throw new Error("createSluiceClient: baseUrl is required outside a page");
  const baseUrls: readonly string[] = typeof configured === "string" ? [configured] : configured;
  if (baseUrls.length === 0) throw new RangeError("createSluiceClient: baseUrl: at least one URL");
  const websocketUrls = options.websocketUrl === undefined ? undefined : typeof options.websocketUrl === "string" ? [options.websocketUrl] : options.websocketUrl;
  const choice = options.transport ?? "auto";
  const closers: (() => void)[] = [];
  const interceptors = credentialInterceptors(options);
  /** One transport per endpoint; several go behind an endpointsTransport. */
  const overAll = (make: (baseUrl: string, i: number) => SluiceClientOptions): SluiceClientOptions => {
    const each = baseUrls.map(make);
    if (each.length === 1) return each[0]!;
    // A direct call talks to one endpoint: behind several, calls go through the endpoints transport.
    const { subscribeCall: _oneEndpoint, halfDuplexStream: _oneEndpointToo, ...first } = each[0]!;
    return { ...first, transport: endpointsTransport(each.map((e) => e.transport)), resetConnection: () => each.forEach((e) => e.resetConnection?.()) };
  };
  const connect = (): SluiceClientOptions =>
    overAll((baseUrl) => ({
      transport: createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors }),
      transportName: "connect",
      mode: "half-duplex",
      // The session's response stream skips connect-es' client pipeline (its Control calls still use it).
      ...(options.directSubscribe === false ? {} : { halfDuplexStream: directHalfDuplexFrames(fetchDirectPosts(baseUrl), { path: subscribeHalfDuplexPath(new URL(baseUrl).pathname), credentials: options }) }),
    }));
  const websocket = (): SluiceClientOptions =>
    overAll((baseUrl, i) => {
      // Sluice's credit window bounds each subscription; the transport's
      // per-call window only has to stay out of its way.
      const transport = lazyWebSocketTransport({ url: websocketUrls?.[i] ?? webSocketUrlFor(baseUrl), windowBytes: 4 * 1024 * 1024, interceptors });
      closers.push(() => transport.close());
      // A session that died of silence drops the socket; the next call opens a new one.
      // (fetch's connections belong to the browser, which has no such hook.)
      return {
        transport,
        transportName: "websocket",
        resetConnection: () => transport.close(),
        ...(options.directSubscribe === false ? {} : { subscribeCall: directSubscribeCall(webSocketDirectCalls(transport), { path: subscribePath(), credentials: options }) }),
      };
    });
  const settings: SluiceClientOptions =
    choice === "connect" ? connect() : choice === "websocket" ? websocket() : { ...connect(), fallback: websocket(), ...(options.fallbackAfterMs !== undefined ? { fallbackAfterMs: options.fallbackAfterMs } : {}) };
  const client = createClient(settings);

  const onOnline = () => client.reconnectAll();
  const onPageHide = (event: Event) => {
    // A page kept in the back/forward cache may come back: only a real unload cancels.
    if ((event as PageTransitionEvent).persisted) return;
    close();
  };
  const target = globalThis as unknown as { addEventListener?: (type: string, listener: (event: Event) => void) => void; removeEventListener?: (type: string, listener: (event: Event) => void) => void };
  target.addEventListener?.("online", onOnline);
  target.addEventListener?.("pagehide", onPageHide);

  function close(): void {
    client.close();
    for (const closer of closers) closer();
    target.removeEventListener?.("online", onOnline);
    target.removeEventListener?.("pagehide", onPageHide);
  }

  return {
    subscribe: (stream, subscribeOptions) => client.subscribe(stream, subscribeOptions),
    publish: (stream, publishOptions) => client.publish(stream, publishOptions),
    close,
    get openSubscriptions() {
      return client.openSubscriptions;
    },
    reconnectAll: () => client.reconnectAll(),
  };
}

/**
 * transport-ws, loaded on first use: most pages never fall back, and the
 * WebSocket code then stays out of their initial bundle (BENCHMARKS.md).
 */
function lazyWebSocketTransport(options: WebSocketTransportOptions): Transport & RawCallOpener & { close(): void } {
  let loading: Promise<WebSocketTransport> | undefined;
  const load = () => (loading ??= import("@sluice/transport-ws").then(({ createWebSocketTransport }) => createWebSocketTransport(options)));
  return {
    unary: ((...args: Parameters<Transport["unary"]>) => load().then((transport) => transport.unary(...args))) as Transport["unary"],
    stream: ((...args: Parameters<Transport["stream"]>) => load().then((transport) => transport.stream(...args))) as Transport["stream"],
    openCall: (path, headers) => load().then((transport) => transport.openCall(path, headers)),
    close: () => void loading?.then((transport) => transport.close()),
  };
}

function webSocketUrlFor(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = `${url.pathname.replace(/\/$/, "")}/connect`;
  return url.toString();
}
