/**
 * SluiceServer.routes mounted the ways connect-es users mount Connect:
 * http2.createServer / http.createServer with connectNodeAdapter, Fastify
 * (connect-fastify, HTTP/2 and HTTP/1.1) and Express (connect-express,
 * HTTP/1.1). Each is driven by the Node client over a real socket.
 */
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import { expressConnectMiddleware } from "@connectrpc/connect-express";
import { Http2SessionManager, connectNodeAdapter, createConnectTransport } from "@connectrpc/connect-node";
import { createSluiceClient as createIsomorphic } from "@sluice/client";
import { SluiceServer, fromIterable } from "@sluice/server-node";
import express from "express";
import { fastify } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";

const sluice = new SluiceServer({
  streams: {
    numbers: { source: fromIterable((params: { count?: number }) => Array.from({ length: params.count ?? 5_000 }, (_, i) => i + 1)) },
  },
});

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function listening(server: http.Server | http2.Http2Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function receiveAll(baseUrl: string, httpVersion: "1.1" | "2"): Promise<number[]> {
  const client = createSluiceClient({ baseUrl, httpVersion });
  const values: number[] = [];
  try {
    for await (const event of client.subscribe<number>("numbers", { window: { items: 256, bytes: 1 << 16 } })) if (event.kind === "item") values.push(event.value);
  } finally {
    client.close();
  }
  return values;
}

const expected = Array.from({ length: 5_000 }, (_, i) => i + 1);

describe("serialization", () => {
  it("serves Connect clients that use JSON (chunks are pre-encoded only for binary calls)", async () => {
    const url = await listening(http2.createServer(connectNodeAdapter({ routes: sluice.routes })));
    const sessionManager = new Http2SessionManager(url);
    const transport = createConnectTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: false, sessionManager });
    const client = createIsomorphic({ transport, transportName: "json" });
    const values: number[] = [];
    try {
      for await (const event of client.subscribe<number>("numbers", { window: { items: 256, bytes: 1 << 16 } })) if (event.kind === "item") values.push(event.value);
    } finally {
      sessionManager.abort();
    }
    expect(values).toEqual(expected);
  });
});

describe("mounting SluiceServer.routes", () => {
  it("on http2.createServer with connectNodeAdapter (full duplex)", async () => {
    const url = await listening(http2.createServer(connectNodeAdapter({ routes: sluice.routes })));
    expect(await receiveAll(url, "2")).toEqual(expected);
  });

  it("on http.createServer with connectNodeAdapter (half duplex)", async () => {
    const url = await listening(http.createServer(connectNodeAdapter({ routes: sluice.routes })));
    expect(await receiveAll(url, "1.1")).toEqual(expected);
  });

  it("on Fastify over HTTP/2 (connect-fastify, full duplex)", async () => {
    const app = fastify({ http2: true });
    await app.register(fastifyConnectPlugin, { routes: sluice.routes });
    const url = await app.listen({ host: "127.0.0.1", port: 0 });
    closers.push(() => app.close());
    expect(await receiveAll(url, "2")).toEqual(expected);
  });

  it("on Fastify over HTTP/1.1 (connect-fastify, half duplex)", async () => {
    const app = fastify();
    await app.register(fastifyConnectPlugin, { routes: sluice.routes });
    const url = await app.listen({ host: "127.0.0.1", port: 0 });
    closers.push(() => app.close());
    expect(await receiveAll(url, "1.1")).toEqual(expected);
  });

  it("on Express (connect-express, half duplex)", async () => {
    const app = express();
    app.use(expressConnectMiddleware({ routes: sluice.routes }));
    const url = await listening(http.createServer(app));
    expect(await receiveAll(url, "1.1")).toEqual(expected);
  });

  it("refuses full duplex over HTTP/1.1 with a clear error instead of hanging", async () => {
    // A bidi call cannot run over HTTP/1.1; the client must be told so.
    const url = await listening(http.createServer(connectNodeAdapter({ routes: sluice.routes })));
    const client = createIsomorphic({ transport: createConnectTransport({ baseUrl: url, httpVersion: "1.1" }) });
    let error: unknown;
    try {
      for await (const _ of client.subscribe("numbers", { backoff: { maxAttempts: 1, initialMs: 1 } })) void _;
    } catch (e) {
      error = e;
    }
    // connect-node answers a bidi call over HTTP/1.1 with 505 HTTP Version Not Supported.
    expect((error as Error).message).toMatch(/505/);
  });
});
