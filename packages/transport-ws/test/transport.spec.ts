/**
 * Connect over WebSocket against a real server on 127.0.0.1: every method
 * kind, headers and trailers, errors, deadlines, cancellation, many calls on
 * one socket, per-call flow control, limits and keepalive.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { SubscribeService } from "@sluice/protocol";
import { EchoService } from "@sluice/protocol/testing";
import { echoRoutes, sleep, state } from "./echo.js";
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWebSocketTransport } from "../src/node.js";
import { createWebSocketHandler, type WebSocketHandler } from "../src/server.js";

let server: http.Server;
let handler: WebSocketHandler;
let url: string;

beforeAll(async () => {
  server = http.createServer((_req, res) => res.writeHead(404).end());
  handler = createWebSocketHandler({ routes: echoRoutes, maxCallsPerSocket: 2_000 });
  handler.attach(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/connect`;
});
afterAll(async () => {
  handler.close();
  await new Promise((resolve) => server.close(resolve));
});

function echoClient(options: { windowBytes?: number } = {}) {
  const transport = createWebSocketTransport({ url, ...options });
  return { transport, client: createClient(EchoService, transport) };
}

describe("every method kind over one socket", () => {
  it("unary, with response headers and trailers", async () => {
    const { client, transport } = echoClient();
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const response = await client.say({ text: "hello" }, { onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) });
    expect(response.text).toBe("hello");
    expect(header?.get("x-echo")).toBe("yes");
    expect(trailer?.get("x-said")).toBe("5");
    transport.close();
  });

  it("client streaming", async () => {
    const { client, transport } = echoClient();
    const response = await client.collect(
      (async function* () {
        for (const text of ["a", "b", "c"]) yield { text };
      })(),
    );
    expect(response).toMatchObject({ joined: "a b c", count: 3 });
    transport.close();
  });

  it("server streaming", async () => {
    const { client, transport } = echoClient();
    const seen: number[] = [];
    for await (const message of client.count({ count: 2_000, payloadBytes: 100 })) seen.push(message.n);
    expect(seen).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
    transport.close();
  });

  it("bidi streaming, full duplex: each reply arrives before the next request is sent", async () => {
    const { client, transport } = echoClient();
    const requests: { text: string }[] = [];
    let release: (() => void) | undefined;
    const outbound = (async function* () {
      for (let i = 0; i < 20; i++) {
        requests.push({ text: `m${i}` });
        yield { text: `m${i}` };
        await new Promise<void>((resolve) => (release = resolve));
      }
    })();
    const replies: string[] = [];
    for await (const reply of client.chat(outbound)) {
      replies.push(reply.text);
      expect(requests.length).toBe(replies.length);
      release?.();
    }
    expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    transport.close();
  });
});

describe("errors, deadlines, cancellation", () => {
  it("carries Connect error codes and messages", async () => {
    const { client, transport } = echoClient();
    const error = await client.say({ text: "please fail" }).catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toBe('cannot say "please fail"');
    transport.close();
  });

  it("reports a method the server does not serve as unimplemented", async () => {
    const transport = createWebSocketTransport({ url });
    const error = await createClient(SubscribeService, transport)
      .control({ sessionId: "x" })
      .catch((e: unknown) => ConnectError.from(e));
    expect((error as ConnectError).code).toBe(Code.Unimplemented);
    transport.close();
  });

  it("enforces deadlines on both sides (connect-timeout-ms)", async () => {
    const { client, transport } = echoClient();
    const before = state.sayAborted;
    const error = await client.say({ text: "slow", delayMs: 2_000 }, { timeoutMs: 100 }).catch((e: unknown) => ConnectError.from(e));
    expect((error as ConnectError).code).toBe(Code.DeadlineExceeded);
    for (let i = 0; i < 50 && state.sayAborted === before; i++) await sleep(10);
    expect(state.sayAborted).toBe(before + 1);
    transport.close();
  });

  it("cancels the server's handler when the client aborts a stream", async () => {
    const { client, transport } = echoClient();
    const before = state.countFinally;
    const abort = new AbortController();
    let n = 0;
    try {
      for await (const _ of client.count({ count: 1_000_000, delayMs: 1 }, { signal: abort.signal })) if (++n === 10) abort.abort();
    } catch (error) {
      expect(ConnectError.from(error).code).toBe(Code.Canceled);
    }
    for (let i = 0; i < 50 && state.countFinally === before; i++) await sleep(10);
    expect(state.countFinally).toBe(before + 1);
    transport.close();
  });
});

describe("multiplexing and flow control", () => {
  it("runs 1 000 concurrent calls on one socket", async () => {
    const { client, transport } = echoClient();
    const acceptedBefore = handler.accepted;
    const results = await Promise.all(
      Array.from({ length: 1_000 }, async (_, i) => {
        if (i % 2 === 0) return (await client.say({ text: `call ${i}` })).text === `call ${i}` ? 1 : 0;
        let n = 0;
        for await (const _ of client.count({ count: 20 })) n++;
        return n === 20 ? 1 : 0;
      }),
    );
    expect(results.reduce((a: number, b) => a + b, 0)).toBe(1_000);
    expect(handler.accepted).toBe(acceptedBefore + 1);
    expect(handler.sockets).toBeGreaterThanOrEqual(1);
    transport.close();
  });

  it("a stalled call neither blocks the others nor grows the server's buffers past its window", async () => {
    const { client, transport } = echoClient({ windowBytes: 64 * 1024 });
    const before = state.produced;
    // Open a stream of 1 KiB messages and read only its first message.
    const stalled = client.count({ count: 100_000, payloadBytes: 1_024 })[Symbol.asyncIterator]();
    await stalled.next();
    // Other calls on the same socket go on.
    let n = 0;
    for await (const _ of client.count({ count: 5_000, payloadBytes: 10 })) n++;
    expect(n).toBe(5_000);
    await sleep(200);
    // The stalled handler may run ahead by the call window (64 KiB of ~1 KiB
    // messages) plus what connect-es and the socket buffer hold, no further.
    const stalledProduced = state.produced - before - 5_000;
    expect(stalledProduced).toBeLessThan(64 + 100);
    await stalled.return?.();
    transport.close();
  });

  it("refuses calls over the per-socket limit with resource_exhausted, and keeps the socket", async () => {
    const small = http.createServer();
    const limited = createWebSocketHandler({ routes: echoRoutes, maxCallsPerSocket: 3 });
    limited.attach(small);
    await new Promise<void>((resolve) => small.listen(0, "127.0.0.1", resolve));
    const transport = createWebSocketTransport({ url: `ws://127.0.0.1:${(small.address() as AddressInfo).port}/connect` });
    const client = createClient(EchoService, transport);
    const slow = Array.from({ length: 3 }, () => client.say({ text: "x", delayMs: 300 }));
    await sleep(50);
    const error = await client.say({ text: "one too many" }).catch((e: unknown) => ConnectError.from(e));
    expect((error as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((error as ConnectError).rawMessage).toMatch(/too many concurrent calls on this socket \(limit 3\)/);
    await Promise.all(slow);
    expect((await client.say({ text: "after" })).text).toBe("after");
    transport.close();
    limited.close();
    await new Promise((resolve) => small.close(resolve));
  });
});

describe("keepalive", () => {
  // A server with a short keepalive (100 ms interval, 400 ms timeout) of its own.
  let quick: { url: string; accepted(): number; close(): Promise<void> };
  beforeAll(async () => {
    const httpServer = http.createServer();
    const wsHandler = createWebSocketHandler({ routes: echoRoutes, keepaliveIntervalMs: 100, keepaliveTimeoutMs: 400 });
    wsHandler.attach(httpServer);
    await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    quick = {
      url: `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/connect`,
      accepted: () => wsHandler.accepted,
      close: async () => {
        wsHandler.close();
        await new Promise((resolve) => httpServer.close(resolve));
      },
    };
  });
  afterAll(() => quick.close());

  it("closes a socket whose peer goes silent within the keepalive timeout (4000)", async () => {
    // A raw client that never answers pings and never sends.
    const socket = new WebSocket(quick.url, "sluice.ws.v1");
    await new Promise((resolve) => socket.once("open", resolve));
    const openedAt = performance.now();
    const [code, reason] = await new Promise<[number, string]>((resolve) => socket.once("close", (c, r) => resolve([c, r.toString()])));
    expect(code).toBe(4000);
    expect(reason).toMatch(/keepalive timeout/);
    expect(performance.now() - openedAt).toBeLessThan(1_500);
  });

  it("keeps a quiet but healthy connection open (the client answers pings)", async () => {
    const transport = createWebSocketTransport({ url: quick.url });
    const client = createClient(EchoService, transport);
    const acceptedBefore = quick.accepted();
    expect((await client.say({ text: "a" })).text).toBe("a");
    await sleep(1_000); // 2.5 keepalive timeouts with no calls
    expect((await client.say({ text: "b" })).text).toBe("b");
    expect(quick.accepted()).toBe(acceptedBefore + 1); // the same socket all along
    transport.close();
  });
});
