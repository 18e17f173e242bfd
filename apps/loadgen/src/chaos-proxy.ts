/**
 * The loadgen's TCP proxy in front of each target: the clients connect
 * through it, so the loadgen can break their connections without any help
 * from the server. A cut resets both sides (a dead network path, not a
 * polite close); a freeze stops forwarding and holds the bytes without
 * closing anything (a black hole: only heartbeats can tell), until thawed.
 */
import net from "node:net";

interface Link {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Bytes held while frozen, per direction, forwarded on thaw. */
  held: { toUpstream: Buffer[]; toClient: Buffer[] } | undefined;
}

/** A random number in [0, 1) (the run's seeded generator). */
export type Random = () => number;

/** One target behind the proxy. */
export class ChaosProxy {
  readonly #links = new Set<Link>();
  readonly #server: net.Server;
  #accepted = 0;

  private constructor(
    server: net.Server,
    /** The port clients connect to. */
    readonly port: number,
    /** Where it forwards. */
    readonly target: { readonly host: string; readonly port: number },
  ) {
    this.#server = server;
  }

  /** Listens on a free port of 127.0.0.1, forwarding to `target`. */
  static async start(target: { host: string; port: number }): Promise<ChaosProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    const proxy = new ChaosProxy(server, (server.address() as net.AddressInfo).port, target);
    server.on("connection", (client) => proxy.#accept(client));
    return proxy;
  }

  /** The URL clients use instead of the target's. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#links.size;
  }

  /** Connections accepted so far. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Resets a share of the open connections (chosen with `random`); answers how many. */
  cut(fraction: number, random: Random): number {
    const chosen = pick([...this.#links], fraction, random);
    for (const link of chosen) {
      link.client.resetAndDestroy();
      link.upstream.resetAndDestroy();
    }
    return chosen.length;
  }

  /** Stops forwarding on a share of the open connections, holding their bytes; answers a thaw for them. */
  freeze(fraction: number, random: Random): { count: number; thaw: () => void } {
    const chosen = pick(
      [...this.#links].filter((l) => !l.held),
      fraction,
      random,
    );
    for (const link of chosen) link.held = { toUpstream: [], toClient: [] };
    return {
      count: chosen.length,
      thaw: () => {
        for (const link of chosen) {
          const held = link.held;
          link.held = undefined;
          if (!held || !this.#links.has(link)) continue;
          for (const data of held.toUpstream) link.upstream.write(data);
          for (const data of held.toClient) link.client.write(data);
        }
      },
    };
  }

  /** Closes every connection and stops listening. */
  async close(): Promise<void> {
    for (const link of [...this.#links]) {
      link.client.destroy();
      link.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    this.#accepted++;
    const upstream = net.connect({ host: this.target.host, port: this.target.port });
    const link: Link = { client, upstream, held: undefined };
    this.#links.add(link);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on("data", (data) => {
      if (link.held) link.held.toUpstream.push(data);
      else if (!upstream.write(data)) client.pause();
    });
    upstream.on("data", (data) => {
      if (link.held) link.held.toClient.push(data);
      else if (!client.write(data)) upstream.pause();
    });
    // Backpressure both ways while forwarding: a slow client slows its upstream read, not the proxy's memory.
    client.on("drain", () => upstream.resume());
    upstream.on("drain", () => client.resume());
    const end = () => {
      this.#links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on("close", end);
      socket.on("error", end);
    }
  }
}

/** `fraction` of `items` (at least one when there are any), chosen with `random`. */
function pick<T>(items: T[], fraction: number, random: Random): T[] {
  if (fraction >= 1) return items;
  const count = Math.max(items.length > 0 ? 1 : 0, Math.round(items.length * fraction));
  // Partial Fisher-Yates: the first `count` are a uniform sample.
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (items.length - i));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items.slice(0, count);
}

/** A seeded generator (mulberry32): the same seed, the same chaos. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
