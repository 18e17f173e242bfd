/**
 * A TCP proxy on 127.0.0.1 for broken-network tests: it forwards each
 * connection to the target and can cut every connection (a reset), or
 * freeze them (a black hole: bytes are held, nothing is closed), while new
 * connections go through as usual; `retarget` sends new connections
 * elsewhere (a load balancer moving off a dead instance).
 */
import net from "node:net";

export interface TcpProxy {
  /** host:port to dial instead of the target. */
  readonly port: number;
  /** http://127.0.0.1:port */
  readonly url: string;
  /** Connections open through the proxy. */
  readonly connections: number;
  /** Connections accepted since the start. */
  readonly accepted: number;
  /** Destroys every open connection, both sides, as a reset would. */
  cutAll(): void;
  /** Stops forwarding on every open connection, in both directions, without closing anything. */
  freezeAll(): void;
  /** Forwards again on frozen connections (what they held is dropped, as a black hole drops it). */
  thawAll(): void;
  /** Sends connections accepted from now on to `target`; open ones stay where they are. */
  retarget(target: { host?: string; port: number }): void;
  close(): Promise<void>;
}

interface Link {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  frozen: boolean;
}

export async function startTcpProxy(initialTarget: { host?: string; port: number }): Promise<TcpProxy> {
  let target = initialTarget;
  const links = new Set<Link>();
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect({ host: target.host ?? "127.0.0.1", port: target.port });
    const link: Link = { client, upstream, frozen: false };
    links.add(link);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on("data", (data) => {
      if (!link.frozen) upstream.write(data);
    });
    upstream.on("data", (data) => {
      if (!link.frozen) client.write(data);
    });
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return links.size;
    },
    get accepted() {
      return accepted;
    },
    cutAll() {
      for (const link of [...links]) {
        link.client.resetAndDestroy();
        link.upstream.resetAndDestroy();
      }
    },
    freezeAll() {
      for (const link of links) link.frozen = true;
    },
    thawAll() {
      for (const link of links) link.frozen = false;
    },
    retarget(next) {
      target = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const link of [...links]) {
          link.client.destroy();
          link.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
