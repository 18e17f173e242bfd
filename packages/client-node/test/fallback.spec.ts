/**
 * transport: "auto" behind a proxy that breaks streaming: the client starts on
 * HTTP and falls back to WebSocket (through the same proxy), resuming so the
 * app sees each item once.
 *
 * The proxy is HTTP/1.1 only and buffers every response until it is
 * complete (like a proxy with response buffering on); it passes WebSocket
 * upgrades through untouched.
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { SluiceServer, fromIterable, listen, type Listening } from "@sluice/server-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";

const sluice = new SluiceServer({
  limits: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 },
  streams: { numbers: { source: fromIterable((p: { count?: number }) => Array.from({ length: p.count ?? 2_000 }, (_, i) => i + 1)) } },
});
let upstream: Listening;
let proxy: http.Server;
let proxyUrl = "";
const proxied = { requests: 0, upgrades: 0 };

beforeAll(async () => {
  upstream = await listen(sluice);
  const target = new URL(upstream.url);
  proxy = http.createServer((request, response) => {
    proxied.requests++;
    const forward = http.request({ host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers }, (reply) => {
      // Buffer the whole response before sending any of it.
      const chunks: Buffer[] = [];
      reply.on("data", (chunk: Buffer) => chunks.push(chunk));
      reply.on("end", () => {
        const headers = { ...reply.headers };
        delete headers["transfer-encoding"];
        response.writeHead(reply.statusCode ?? 502, headers);
        response.end(Buffer.concat(chunks));
      });
      reply.on("error", () => response.destroy());
    });
    forward.on("error", () => response.destroy());
    response.on("close", () => forward.destroy());
    request.pipe(forward);
  });
  proxy.on("upgrade", (request, socket, head) => {
    proxied.upgrades++;
    const upstreamSocket = net.connect(Number(target.port), target.hostname, () => {
      const lines = [`${request.method} ${request.url} HTTP/1.1`];
      for (let i = 0; i < request.rawHeaders.length; i += 2) lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
      upstreamSocket.write(lines.join("\r\n") + "\r\n\r\n");
      upstreamSocket.write(head);
      upstreamSocket.pipe(socket);
      socket.pipe(upstreamSocket);
    });
    upstreamSocket.on("error", () => socket.destroy());
    socket.on("error", () => upstreamSocket.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  proxy.closeAllConnections();
  await new Promise((resolve) => proxy.close(resolve));
  await upstream.close();
});

async function receive(client: ReturnType<typeof createSluiceClient>, count: number) {
  const stream = client.subscribe<number>("numbers", { params: { count }, window: { items: 100, bytes: 1 << 16 }, backoff: { initialMs: 10, maxMs: 100 } });
  const values: number[] = [];
  const started = performance.now();
  let firstAt = 0;
  for await (const event of stream) {
    if (event.kind !== "item") continue;
    firstAt ||= performance.now() - started;
    values.push(event.value);
  }
  return { values, firstAt, stats: stream.stats };
}

describe('transport: "auto"', () => {
  it("falls back to WebSocket when a proxy buffers the streaming response, and the app sees each item once", async () => {
    const upgradesBefore = proxied.upgrades;
    const client = createSluiceClient({ baseUrl: proxyUrl, httpVersion: "1.1", transport: "auto", fallbackAfterMs: 500 });
    const { values, firstAt, stats } = await receive(client, 2_000);
    expect(values).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
    expect(stats.transport).toBe("websocket");
    expect(stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(stats.lastError).toMatch(/delivered nothing within 500 ms/);
    expect(firstAt).toBeGreaterThanOrEqual(450); // nothing came through the buffering proxy
    expect(proxied.upgrades).toBe(upgradesBefore + 1);
    // Later subscriptions of this client go straight to WebSocket.
    const second = await receive(client, 100);
    expect(second.values.length).toBe(100);
    expect(second.stats.transport).toBe("websocket");
    expect(second.stats.reconnects).toBe(0);
    client.close();
  });

  it("falls back when HTTP fails outright (HTTP/2 to an HTTP/1.1-only proxy)", async () => {
    const client = createSluiceClient({ baseUrl: proxyUrl, httpVersion: "2", transport: "auto", fallbackAfterMs: 2_000 });
    const { values, stats } = await receive(client, 500);
    expect(values.length).toBe(500);
    expect(stats.transport).toBe("websocket");
    expect(stats.lastError).toMatch(/first transport failed/);
    client.close();
  });

  it("stays on HTTP when HTTP streams (no proxy in the way)", async () => {
    const client = createSluiceClient({ baseUrl: upstream.url, transport: "auto", fallbackAfterMs: 500 });
    const { values, stats } = await receive(client, 2_000);
    expect(values.length).toBe(2_000);
    expect(stats.transport).toBe("http2");
    expect(stats.reconnects).toBe(0);
    client.close();
  });
});

/**
 * No proxy, but a first frame that comes late: the server is slow to
 * authorize some Opens. The server speaks HTTP/2 only (no WebSocket), as a
 * deployment behind an h2-only load balancer would.
 */
describe('transport: "auto" with a slow server and no proxy', () => {
  let slowOpens = 0;
  const delays: number[] = [];
  const slow = new SluiceServer({
    authorize: async () => {
      const delay = delays.shift() ?? 0;
      if (delay > 0) {
        slowOpens++;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
      return "anyone";
    },
    streams: { numbers: { source: fromIterable((p: { count?: number }) => Array.from({ length: p.count ?? 2_000 }, (_, i) => i + 1)) } },
  });
  let h2only: Listening;
  beforeAll(async () => {
    h2only = await listen(slow, { protocols: "h2c" });
  });
  afterAll(() => h2only.close());

  it("stays on HTTP/2 once it has streamed: a late first frame is a busy server, not a proxy", async () => {
    const client = createSluiceClient({ baseUrl: h2only.url, transport: "auto", fallbackAfterMs: 300 });
    const first = await receive(client, 100);
    expect(first.stats.transport).toBe("http2");
    delays.push(1_000); // the next Open waits 1 s for its Opened, beyond fallbackAfterMs
    const opensBefore = slowOpens;
    const second = await receive(client, 100);
    expect(slowOpens).toBe(opensBefore + 1);
    expect(second.values).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(second.stats.transport).toBe("http2");
    expect(second.stats.reconnects).toBe(0);
    client.close();
  });

  it("switches back to HTTP/2 when the WebSocket fallback fails too, before either has streamed", async () => {
    const client = createSluiceClient({ baseUrl: h2only.url, transport: "auto", fallbackAfterMs: 300 });
    delays.push(1_000); // the very first Open is late: the client tries WebSocket, which this server does not serve
    const { values, stats } = await receive(client, 100);
    expect(values).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(stats.transport).toBe("http2");
    expect(stats.reconnects).toBeGreaterThanOrEqual(2); // http2 (late) -> websocket (fails) -> http2
    client.close();
  });
});
