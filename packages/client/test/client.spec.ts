/**
 * @sluice/client on its own, over connect-es' in-memory router transport
 * against the real SluiceServer routes: every Connect layer runs (codecs,
 * envelopes, bidi streams, unary Control), no runtime package and no socket.
 * The same client over real sockets (HTTP/2, HTTP/1.1, WebSocket, Chromium)
 * is tested in client-node and client-web.
 */
import { ConnectError, Code, createRouterTransport } from "@connectrpc/connect";
import { SubscribeService } from "@sluice/protocol";
import { SluiceServer, fromIterable } from "@sluice/server";
import { describe, expect, it } from "vitest";
import { createSluiceClient, SluiceError } from "../src/index.js";

const sluice = new SluiceServer({
  streams: {
    numbers: { source: fromIterable((p: { count?: number }) => Array.from({ length: p.count ?? 10 }, (_, i) => ({ n: i + 1 }))) },
    forever: {
      source: fromIterable(async function* () {
        for (let n = 1; ; n++) {
          yield { n };
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }),
    },
  },
});
const transport = createRouterTransport(sluice.routes);

describe.each(["duplex", "half-duplex"] as const)("@sluice/client, %s, over Connect's router transport", (mode) => {
  it("delivers every item once and in order, decoded as JSON", async () => {
    const client = createSluiceClient({ transport, mode, transportName: "router" });
    const seen: number[] = [];
    const stream = client.subscribe<{ n: number }>("numbers", { params: { count: 5_000 }, window: { items: 100, bytes: 1 << 16 } });
    for await (const event of stream) if (event.kind === "item") seen.push(event.value.n);
    expect(seen).toEqual(Array.from({ length: 5_000 }, (_, i) => i + 1));
    expect(stream.stats.transport).toBe("router");
    expect(stream.stats.sessions).toBe(1);
    client.close();
  });

  it("fails with the server's error naming an unknown stream, without retrying it", async () => {
    const client = createSluiceClient({ transport, mode });
    const stream = client.subscribe("nope");
    const error = await (async () => {
      try {
        for await (const _ of stream) void _;
      } catch (e) {
        return e as SluiceError;
      }
    })();
    expect(error).toBeInstanceOf(SluiceError);
    expect(error?.code).toBe("stream_not_found");
    expect(error?.message).toMatch(/stream not configured: nope/);
    expect(stream.stats.reconnects).toBe(0);
    client.close();
  });

  it("close() ends the open subscriptions and refuses new ones with cancelled", async () => {
    const client = createSluiceClient({ transport, mode });
    const stream = client.subscribe<{ n: number }>("forever");
    const iterated = (async () => {
      let items = 0;
      for await (const event of stream) if (event.kind === "item") items++;
      return items;
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(client.openSubscriptions).toBe(1);
    client.close();
    expect(await iterated).toBeGreaterThan(0);
    expect(client.openSubscriptions).toBe(0);
    expect(() => client.subscribe("numbers")).toThrow(/subscribe\("numbers"\): the client is closed/);
  });
});

it("falls back to the second transport when the first fails before any server frame", async () => {
  const broken = createRouterTransport(({ service }) => {
    service(SubscribeService, {
      subscribe() {
        throw new ConnectError("proxy says no", Code.Unavailable);
      },
      subscribeHalfDuplex() {
        throw new ConnectError("proxy says no", Code.Unavailable);
      },
      control() {
        throw new ConnectError("proxy says no", Code.Unavailable);
      },
    });
  });
  const client = createSluiceClient({ transport: broken, transportName: "broken", fallback: { transport, transportName: "router" } });
  const stream = client.subscribe<{ n: number }>("numbers", { params: { count: 50 }, backoff: { initialMs: 1, maxMs: 5 } });
  const seen: number[] = [];
  for await (const event of stream) if (event.kind === "item") seen.push(event.value.n);
  expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  expect(stream.stats.transport).toBe("router");
  client.close();
});
