/**
 * Clients that make the server hold memory (issue 14): streams opened with
 * huge windows that never read, over HTTP/2 and WebSocket. A stream holds at
 * most its window (clamped to max_window_bytes, 8 MiB by default), a
 * connection's streams at most its budget (64 MiB by default: new streams
 * beyond are refused with limit_exceeded), the server's at most its budget,
 * sessions end when their connection goes, and the memory is released. The
 * server runs in its own process, measured after full GCs.
 */
import type { ChildProcess } from "node:child_process";
import http2 from "node:http2";
import { RawSession, WsSocket, websocketUrlOf } from "@sluice/conformance";
import type { OpenFrame, ServerFrame } from "@sluice/core";
import { encodeClientFrame, encodeEnvelope } from "@sluice/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, createSluiceClient } from "../src/index.js";
import { MiB, memory, mib, released, startHeapServer as startServer } from "./fixtures/heap-server-process.js";

/**
 * Memory per payload byte held: a 1 KiB item is a Uint8Array of its own
 * until its chunk is encoded (~150 bytes of object besides its bytes), so a
 * budget of 1 KiB items costs about a fifth more than the budget in heap.
 */
const OVERHEAD = 1.3;

const greedyOpen: OpenFrame = { type: "open", stream: "endless", params: {}, window: { items: 1_000_000, bytes: 64 * MiB }, heartbeatIntervalMs: 0, clientInfo: "greedy" };

/** A healthy client on its own connection still gets 2 000 items promptly. */
async function healthyItems(url: string): Promise<number> {
  const client = createSluiceClient({ baseUrl: url, transport: "http" });
  const started = performance.now();
  let n = 0;
  for await (const e of client.subscribe("million", { window: { items: 1_000, bytes: 1 * MiB }, codec: bytes() })) if (e.kind === "item" && ++n === 2_000) break;
  client.close();
  return performance.now() - started;
}

describe("greedy clients and the server's memory", () => {
  let server: { child: ChildProcess; url: string };
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => {
    server.child.kill("SIGTERM");
  });

  it("over HTTP/2: 20 streams that never read hold at most the connection budget; the 21st is refused; all is released when the connection goes", async () => {
    const before = await memory(server.url);
    // HTTP/2 windows as large as they go: the client's transport takes all
    // the server sends, so its sessions are held back by the budget alone
    // (with the default 64 KiB windows a stream's writes wait, and its
    // session pulls only four chunks ahead of them: serve-session.spec.ts).
    const session = http2.connect(server.url, { settings: { initialWindowSize: 2 ** 31 - 1 } });
    session.once("connect", () => session.setLocalWindowSize(2 ** 31 - 1));
    session.on("error", () => undefined);
    const streams: http2.ClientHttp2Stream[] = [];
    try {
    for (let i = 0; i < 20; i++) {
      const stream = session.request({ ":method": "POST", ":path": "/sluice.v1.SubscribeService/Subscribe", "content-type": "application/connect+proto" });
      stream.on("error", () => undefined);
      stream.pause(); // never read
      stream.write(encodeEnvelope(0, encodeClientFrame(greedyOpen)));
      streams.push(stream);
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const held = await memory(server.url);
    const growth = held.heapUsed + held.external - (before.heapUsed + before.external);
    console.log(`http2: 20 greedy streams hold ${mib(held.bufferedBytes)} (budget 64 MiB); heap+external grew ${mib(growth)}, rss ${mib(held.rss - before.rss)}`);
    expect(held.sessions).toBe(20);
    // The budget, plus a chunk (128 KiB) each pulled when it was last checked.
    expect(held.bufferedBytes).toBeGreaterThan(60 * MiB);
    expect(held.bufferedBytes).toBeLessThanOrEqual(64 * MiB + 20 * 128 * 1024);
    expect(growth).toBeLessThan(64 * MiB * OVERHEAD + 20 * 128 * 1024);
    // A greedy stream on another connection is not bound by this one's budget.
    const elsewhere = new RawSession({ baseUrl: server.url }, "http2", "binary");
    await elsewhere.open(greedyOpen);
    expect(((await elsewhere.next())?.frame as ServerFrame | undefined)?.type).toBe("opened");
    elsewhere.close();
    // The 21st stream on the spent connection is refused, naming the budget.
    const onSpent = session.request({ ":method": "POST", ":path": "/sluice.v1.SubscribeService/Subscribe", "content-type": "application/connect+proto" });
    onSpent.write(encodeEnvelope(0, encodeClientFrame(greedyOpen)));
    const first = await new Promise<Buffer>((resolve) => onSpent.once("data", resolve));
    expect(first.subarray(5).toString("latin1")).toMatch(/connection budget: sessions hold 6\d\.\d MiB their clients have not consumed, of 64\.0 MiB/);
    // Another client, on its own connection, is served meanwhile.
    const healthyMs = await healthyItems(server.url);
    console.log(`http2: a healthy client got 2 000 items in ${Math.round(healthyMs)} ms meanwhile`);
    expect(healthyMs).toBeLessThan(2_000);
    } finally {
      for (const stream of streams) stream.close(http2.constants.NGHTTP2_CANCEL);
      session.destroy();
    }
    const after = await released(server.url, before, 8 * MiB);
    console.log(`http2: after the connection went: ${after.sessions} sessions, heap+external ${mib(after.heapUsed + after.external - (before.heapUsed + before.external))} above the start`);
    expect(after.sessions).toBe(0);
    expect(after.bufferedBytes).toBe(0);
    expect(after.heapUsed + after.external - (before.heapUsed + before.external)).toBeLessThan(8 * MiB);
  }, 60_000);

  it("over WebSocket: calls that grant no window hold at most the connection budget, and end with the socket", async () => {
    const before = await memory(server.url);
    const socket = new WsSocket({ url: websocketUrlOf({ baseUrl: server.url }), grantWindow: false });
    await socket.opened;
    try {
      for (let i = 0; i < 20; i++) socket.call("/sluice.v1.SubscribeService/Subscribe", "binary").sendFrame(greedyOpen);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const held = await memory(server.url);
      const growth = held.heapUsed + held.external - (before.heapUsed + before.external);
      console.log(`websocket: 20 greedy calls hold ${mib(held.bufferedBytes)}; heap+external grew ${mib(growth)}`);
      expect(held.sessions).toBe(20);
      expect(held.bufferedBytes).toBeGreaterThan(60 * MiB);
      expect(held.bufferedBytes).toBeLessThanOrEqual(64 * MiB + 20 * 128 * 1024);
      expect(growth).toBeLessThan(64 * MiB * OVERHEAD + 20 * 128 * 1024);
    } finally {
      socket.close();
    }
    const after = await released(server.url, before, 8 * MiB);
    expect(after.sessions).toBe(0);
    expect(after.heapUsed + after.external - (before.heapUsed + before.external)).toBeLessThan(8 * MiB);
  }, 60_000);
});

describe("many calls on one WebSocket", () => {
  let server: { child: ChildProcess; url: string };
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => {
    server.child.kill("SIGTERM");
  });

  it("takes the default 1 000 concurrent calls without stalling others, refuses the 1 001st with resource_exhausted, and gives their memory back", async () => {
    const before = await memory(server.url);
    const socket = new WsSocket({ url: websocketUrlOf({ baseUrl: server.url }) });
    await socket.opened;
    const healthz: number[] = [];
    let probing = true;
    let probes: Promise<void> | undefined;
    const idleOpen: OpenFrame = { type: "open", stream: "idle", params: {}, window: { items: 100, bytes: 64 * 1024 }, heartbeatIntervalMs: 0, clientInfo: "many-calls" };
    try {
      // One probe first, so that the timed ones reuse its connection.
      await (await fetch(new URL("/healthz", server.url))).text();
      const started = performance.now();
      const calls = Array.from({ length: 1_000 }, () => {
        const call = socket.call("/sluice.v1.SubscribeService/Subscribe", "binary");
        call.sendFrame(idleOpen);
        return call;
      });
      // /healthz, timed, every 20 ms while the server opens the calls (from
      // here: making the 1 000 calls above blocked this process, not the server).
      probes = (async () => {
        while (probing) {
          const probeStarted = performance.now();
          await (await fetch(new URL("/healthz", server.url))).text();
          healthz.push(performance.now() - probeStarted);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      const firsts = await Promise.all(calls.map((call) => call.next(20_000)));
      const openMs = performance.now() - started;
      expect(firsts.every((r) => r?.frame.type === "opened")).toBe(true);
      const over = socket.call("/sluice.v1.SubscribeService/Subscribe", "binary");
      over.sendFrame(idleOpen);
      const refused = await over.ended;
      expect(refused.transport).toMatch(/cancelled by the server \(code \d+: too many concurrent calls on this socket \(limit 1000\)\)/);
      probing = false;
      await probes;
      const held = await memory(server.url);
      const perCall = (held.heapUsed + held.external - (before.heapUsed + before.external)) / 1_000;
      console.log(`websocket: 1 000 calls opened in ${Math.round(openMs)} ms, ${(perCall / 1024).toFixed(1)} KiB of heap+external each; /healthz max ${Math.max(...healthz).toFixed(0)} ms over ${healthz.length} probes`);
      expect(held.sessions).toBe(1_000);
      expect(healthz.length).toBeGreaterThan(5);
      // Before call starts were rationed per turn: one probe, 1 078-1 121 ms.
      expect(Math.max(...healthz)).toBeLessThan(400);
    } finally {
      probing = false;
      socket.close();
    }
    const after = await released(server.url, before, 4 * MiB);
    expect(after.sessions).toBe(0);
    expect(after.heapUsed + after.external - (before.heapUsed + before.external)).toBeLessThan(4 * MiB);
  }, 60_000);
});

describe("the server-wide budget", () => {
  let server: { child: ChildProcess; url: string };
  beforeAll(async () => {
    server = await startServer({ SLUICE_MAX_BUFFERED: String(32 * MiB) });
  });
  afterAll(() => {
    server.child.kill("SIGTERM");
  });

  it("refuses new streams on any connection once sessions hold it, with limit_exceeded, retryable", async () => {
    const greedy: RawSession[] = [];
    for (let i = 0; i < 4; i++) {
      const s = new RawSession({ baseUrl: server.url }, "http2", "binary");
      await s.open(greedyOpen);
      greedy.push(s);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const refused = new RawSession({ baseUrl: server.url }, "http2", "binary");
    await refused.open(greedyOpen);
    const frame = (await refused.next())?.frame;
    expect(frame).toMatchObject({ type: "error", code: "limit_exceeded", retryable: true, retryAfterMs: 1_000 });
    expect(frame?.type === "error" && frame.message).toMatch(/^server budget: sessions hold 3\d\.\d MiB their clients have not consumed, of 32\.0 MiB; a window of 8\.0 MiB does not fit/);
    for (const s of [...greedy, refused]) s.close();
  }, 30_000);
});
