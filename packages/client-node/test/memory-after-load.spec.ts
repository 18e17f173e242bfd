/**
 * Memory after load (issue 14): the server (its own process) gets 2 000
 * connections at once (1 000 HTTP/2, 1 000 WebSocket), 1 000 live
 * subscribers over HTTP/2, WebSocket and HTTP/1.1 half duplex, and 100 slow
 * subscribers that never read (1 000 items / 1 MiB windows); then everyone
 * leaves. Once sessions are gone the heap (plus external buffers) must be
 * back near where it started, after full GCs: nothing a session or a
 * connection used is kept. RSS is reported, not asserted: the allocator keeps
 * pages it got, which says nothing about what the server retains.
 */
import http2 from "node:http2";
import { WsSocket, websocketUrlOf } from "@sluice/conformance";
import type { OpenFrame } from "@sluice/core";
import { encodeClientFrame, encodeEnvelope } from "@sluice/protocol";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";
import { MiB, memory, mib, released, startHeapServer, type Memory } from "./fixtures/heap-server-process.js";

let server: Awaited<ReturnType<typeof startHeapServer>>;
beforeAll(async () => {
  server = await startHeapServer();
});
afterAll(() => {
  server.child.kill("SIGTERM");
});

const slowOpen: OpenFrame = { type: "open", stream: "endless", params: {}, window: { items: 1_000, bytes: 1 * MiB }, heartbeatIntervalMs: 0, clientInfo: "slow" };

interface Load {
  /** Sessions the load opens. */
  readonly sessions: number;
  leave(): Promise<void>;
}

/** Opens the load and resolves once every connection is up and every subscriber has its first item. */
async function load(url: string, scale: number): Promise<Load> {
  const closers: (() => void)[] = [];
  const n = (count: number) => Math.max(1, Math.round(count * scale));
  // Idle connections: HTTP/2 sessions that made one request, and open WebSockets.
  const h2 = await Promise.all(
    Array.from({ length: n(1_000) }, async () => {
      const session = http2.connect(url);
      session.on("error", () => undefined);
      const request = session.request({ ":path": "/healthz" });
      request.resume();
      await new Promise((resolve) => request.once("end", resolve));
      closers.push(() => session.destroy());
    }),
  );
  const sockets = await Promise.all(
    Array.from({ length: n(1_000) }, async () => {
      const socket = new WsSocket({ url: websocketUrlOf({ baseUrl: url }) });
      await socket.opened;
      closers.push(() => socket.close());
    }),
  );
  // Live subscribers, many per client: 40 % HTTP/2, 30 % WebSocket, 30 % HTTP/1.1 half duplex.
  const subscribers: Promise<void>[] = [];
  const subscribe = (options: Parameters<typeof createSluiceClient>[0], count: number) => {
    const client = createSluiceClient(options);
    const streams = Array.from({ length: count }, () => client.subscribe("live", { window: { items: 100, bytes: 64 * 1024 } }));
    closers.push(() => {
      for (const stream of streams) stream.cancel();
      client.close();
    });
    for (const stream of streams) {
      // The first item, without ending the subscription (a for-await's return would cancel it).
      const iterator = stream[Symbol.asyncIterator]();
      subscribers.push(iterator.next().then(() => undefined));
    }
  };
  for (let i = 0; i < 20; i++) subscribe({ baseUrl: url, transport: "http" }, n(20));
  for (let i = 0; i < 20; i++) subscribe({ baseUrl: url, transport: "websocket" }, n(15));
  for (let i = 0; i < 10; i++) subscribe({ baseUrl: url, transport: "http", httpVersion: "1.1" }, n(30));
  await Promise.all(subscribers);
  // Slow subscribers: raw HTTP/2 streams that never read, ten to a connection.
  for (let c = 0; c < n(10); c++) {
    const session = http2.connect(url);
    session.on("error", () => undefined);
    for (let i = 0; i < 10; i++) {
      const stream = session.request({ ":method": "POST", ":path": "/sluice.v1.SubscribeService/Subscribe", "content-type": "application/connect+proto" });
      stream.on("error", () => undefined);
      stream.pause();
      stream.write(encodeEnvelope(0, encodeClientFrame(slowOpen)));
    }
    closers.push(() => session.destroy());
  }
  void h2;
  void sockets;
  return {
    sessions: subscribers.length + n(10) * 10,
    leave: async () => {
      for (const close of closers) close();
    },
  };
}

async function untilSessions(url: string, atLeast: number): Promise<Memory> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    const m = await memory(url);
    if (m.sessions >= atLeast || performance.now() > deadline) return m;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const used = (m: Memory) => m.heapUsed + m.external;

it("gives back what 2 000 connections, 1 000 live and 100 slow subscribers used once they leave (heap + external after GC)", async () => {
  // A small round first, so that what any first use allocates once (code, caches) is in the baseline.
  const warmUp = await load(server.url, 0.05);
  await untilSessions(server.url, warmUp.sessions);
  await warmUp.leave();
  await released(server.url, await memory(server.url), Infinity);
  const before = await memory(server.url);

  const started = performance.now();
  const full = await load(server.url, 1);
  const openedMs = performance.now() - started;
  const held = await untilSessions(server.url, full.sessions);
  console.log(
    `under load (${Math.round(openedMs)} ms to open): ${held.sessions} sessions, heap ${mib(held.heapUsed)}, external ${mib(held.external)}, rss ${mib(held.rss)}, buffered ${mib(held.bufferedBytes)} ` +
      `(before: heap ${mib(before.heapUsed)}, external ${mib(before.external)}, rss ${mib(before.rss)})`,
  );
  expect(held.sessions).toBeGreaterThanOrEqual(full.sessions);
  // The slow subscribers hold their windows: the load was real.
  expect(held.bufferedBytes).toBeGreaterThan(50 * MiB);

  await full.leave();
  const after = await released(server.url, before, 4 * MiB);
  console.log(`after everyone left: ${after.sessions} sessions, heap ${mib(after.heapUsed)} (${mib(after.heapUsed - before.heapUsed)} above before), external ${mib(after.external - before.external)} above, rss ${mib(after.rss)} (${mib(after.rss - before.rss)} above)`);
  expect(after.sessions).toBe(0);
  expect(after.connections).toBe(0);
  expect(after.bufferedBytes).toBe(0);
  expect(used(after) - used(before)).toBeLessThan(4 * MiB);
}, 120_000);
