/**
 * The Sluice client: `for await (const event of client.subscribe("name"))`.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import type { JsonObject, Window } from "@sluice/core";
import { Subscription, type SubscriptionEvent, type SubscriptionGap, type SubscriptionItem, type SubscriptionStats } from "@sluice/driver";
import { SubscribeService } from "@sluice/protocol";
import { json, type ItemCodec } from "./codec.js";
import { openHalfDuplexCall, openSubscribeCall } from "./connect-pipe.js";

export interface SluiceClientOptions {
  /** A Connect transport able to run bidi streams (connect-node HTTP/2, or transport-ws). */
  readonly transport: Transport;
  /** Name for stats ("http2", "websocket"). */
  readonly transportName?: string;
  /**
   * "duplex" (default): one bidi Subscribe call per session; needs HTTP/2 or
   * transport-ws. "half-duplex": server-streaming SubscribeHalfDuplex plus
   * unary Control calls, for HTTP/1.1 and fetch-based transports.
   */
  readonly mode?: "duplex" | "half-duplex";
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
  readonly maxItemBytes?: number;
  /** Reconnect backoff. */
  readonly backoff?: { initialMs?: number; maxMs?: number; multiplier?: number; maxAttempts?: number };
}

export type StreamItem<T> = SubscriptionItem<T>;
export type StreamGap = SubscriptionGap;
export type StreamEvent<T> = SubscriptionEvent<T>;

export interface SluiceStream<T> extends AsyncIterable<StreamEvent<T>> {
  readonly stats: SubscriptionStats;
  cancel(reason?: string): void;
}

export interface SluiceClient {
  subscribe<T = unknown>(stream: string, options?: SubscribeOptions<T>): SluiceStream<T>;
}

export function createSluiceClient(options: SluiceClientOptions): SluiceClient {
  const client = createClient(SubscribeService, options.transport);
  const halfDuplex = options.mode === "half-duplex";
  return {
    subscribe<T>(stream: string, subscribeOptions: SubscribeOptions<T> = {}): SluiceStream<T> {
      const codec = subscribeOptions.codec ?? (json() as ItemCodec<T>);
      return new Subscription<T>({
        stream,
        decode: (data) => codec.decode(data),
        params: subscribeOptions.params ?? {},
        ...(subscribeOptions.window ? { window: subscribeOptions.window } : {}),
        ...(subscribeOptions.heartbeatIntervalMs ? { heartbeatIntervalMs: subscribeOptions.heartbeatIntervalMs } : {}),
        ...(subscribeOptions.maxItemBytes ? { maxItemBytes: subscribeOptions.maxItemBytes } : {}),
        ...(subscribeOptions.signal ? { signal: subscribeOptions.signal } : {}),
        ...(subscribeOptions.backoff ? { backoff: subscribeOptions.backoff } : {}),
        autoAck: subscribeOptions.autoAck ?? true,
        clientInfo: "sluice-client/0.1",
        transportName: options.transportName ?? "connect",
        connect: async (signal) => (halfDuplex ? openHalfDuplexCall(client, signal) : openSubscribeCall(client, signal)),
      });
    },
  };
}
