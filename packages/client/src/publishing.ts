/**
 * Publishing, loaded on first use: `client.publish()` imports this module
 * dynamically, so a page that only subscribes never loads the publisher
 * machines (they are a fifth of the browser bundle). It runs a driver
 * Publication over a Publish call, or over PublishBatch calls in half duplex.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import { Publication, type PublicationOptions } from "@sluice/driver";
import { PublishService } from "@sluice/protocol";
import { openPublishCall } from "./connect-pipe.js";
import { endpointsOf, sessionLeftEndpoint } from "./endpoints.js";
import { openPublishBatchCall } from "./publish-batch-pipe.js";

/** A route's transport, as publishing needs it. */
export interface PublishRoute {
  readonly name: string;
  readonly transport: Transport;
  readonly mode: "duplex" | "half-duplex" | undefined;
  readonly resetConnection: (() => void) | undefined;
}

/** Starts a Publication whose sessions go over the route `current()` names at each connect. */
export function startPublication<T>(options: Omit<PublicationOptions<T>, "connect">, current: () => PublishRoute): Publication<T> {
  const clients = new Map<Transport, ReturnType<typeof createClient<typeof PublishService>>>();
  return new Publication<T>({
    ...options,
    connect: async (signal) => {
      const route = current();
      let client = clients.get(route.transport);
      if (!client) clients.set(route.transport, (client = createClient(PublishService, route.transport)));
      const endpoints = endpointsOf(route.transport);
      const at = endpoints?.endpoint ?? 0;
      const pipe = route.mode === "half-duplex" ? openPublishBatchCall(client, signal) : openPublishCall(client, signal);
      return {
        inbound: pipe.inbound,
        send: (frame) => pipe.send(frame),
        close(error) {
          pipe.close(error);
          // A session that died of silence: its connection is dead too.
          if (error?.code === "heartbeat_timeout") route.resetConnection?.();
          // A drained or vanished server: the next attempt goes to the next endpoint.
          if (endpoints && sessionLeftEndpoint(error)) endpoints.moveOn(at);
        },
      };
    },
  });
}
