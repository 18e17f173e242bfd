/**
 * Hostile peers on real sockets: each misbehaviour closes only the offending
 * socket, with a close code and a reason naming what was wrong, while a
 * healthy client on another socket keeps being served. Specific cases first,
 * then fast-check over arbitrary frame sequences and raw bytes.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { EchoService, SayRequestSchema } from "@sluice/protocol/testing";
import { WebSocketFrameSchema } from "@sluice/protocol/ws";
import fc from "fast-check";
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWebSocketTransport } from "../src/node.js";
import { createWebSocketHandler, type WebSocketHandler } from "../src/server.js";
import { echoRoutes, sleep } from "./echo.js";

const MAX_FRAME = 512 * 1024;
let server: http.Server;
let handler: WebSocketHandler;
let url: string;
let healthy: ReturnType<typeof createClient<typeof EchoService>>;
let healthyTransport: ReturnType<typeof createWebSocketTransport>;

beforeAll(async () => {
  server = http.createServer();
  handler = createWebSocketHandler({ routes: echoRoutes, maxFrameBytes: MAX_FRAME, maxPingsPerSecond: 20 });
  handler.attach(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/connect`;
  healthyTransport = createWebSocketTransport({ url });
  healthy = createClient(EchoService, healthyTransport);
});
afterAll(async () => {
  healthyTransport.close();
  handler.close();
  await new Promise((resolve) => server.close(resolve));
});

type FrameInit = MessageInitShape<typeof WebSocketFrameSchema>;
const frame = (init: FrameInit) => toBinary(WebSocketFrameSchema, create(WebSocketFrameSchema, init));
/** A Connect unary request body (the message bytes, not enveloped). */
const sayBody = (text: string) => toBinary(SayRequestSchema, create(SayRequestSchema, { text }));
const start = (callId: number, path = "/sluice.testing.v1.EchoService/Say"): FrameInit => ({
  callId,
  kind: { case: "start", value: { path, headers: [{ name: "content-type", value: "application/proto" }, { name: "connect-protocol-version", value: "1" }] } },
});

/** Opens a raw socket, sends `messages`, and resolves with how the server closed it (or "open"). */
async function misbehave(messages: (Uint8Array | string)[], waitMs = 300): Promise<{ code: number; reason: string } | "open"> {
  const socket = new WebSocket(url, "sluice.ws.v1");
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  for (const message of messages) if (socket.readyState === WebSocket.OPEN) socket.send(message);
  const result = await Promise.race([closed, sleep(waitMs).then(() => "open" as const)]);
  if (result === "open") {
    socket.close();
    await closed;
  }
  return result;
}

async function stillServes(): Promise<void> {
  expect((await healthy.say({ text: "still here" })).text).toBe("still here");
}

describe("the sluice.ws.v1 subprotocol (PROTOCOL.md §14.1)", () => {
  it.each([[[]], [["chat", "graphql-ws"]]])("refuses an upgrade that does not offer it (offered %j) with HTTP 400, and keeps serving", async (protocols) => {
    const socket = new WebSocket(url, protocols);
    const refused = await new Promise<number | "open">((resolve) => {
      socket.once("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
      socket.once("open", () => resolve("open"));
      socket.once("error", () => undefined);
    });
    socket.terminate();
    expect(refused).toBe(400);
    expect((await healthy.say({ text: "still here" })).text).toBe("still here");
  });

  // `ws` refuses such a handshake itself ("Server sent no subprotocol");
  // browsers accept it with an empty `protocol`, which the transport refuses.
  it("makes the client refuse a server that does not choose it, naming why", async () => {
    const plain = http.createServer();
    const { WebSocketServer } = await import("ws");
    const wss = new WebSocketServer({ server: plain, handleProtocols: () => false });
    await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
    const transport = createWebSocketTransport({ url: `ws://127.0.0.1:${(plain.address() as AddressInfo).port}/connect` });
    await expect(createClient(EchoService, transport).say({ text: "hi" })).rejects.toThrow(/did not accept the sluice\.ws\.v1 subprotocol|Server sent no subprotocol/);
    transport.close();
    wss.close();
    await new Promise((resolve) => plain.close(resolve));
  });
});

describe("hostile peers get a clear close code; everyone else is served", () => {
  it("malformed frame bytes → 1002", async () => {
    const result = await misbehave([Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f)]);
    expect(result).toMatchObject({ code: 1002, reason: expect.stringMatching(/^malformed frame/) });
    await stillServes();
  });

  it("a text message → 1002", async () => {
    expect(await misbehave(["hello"])).toMatchObject({ code: 1002, reason: "text message: frames are binary" });
  });

  it("a truncated frame → 1002", async () => {
    const whole = frame(start(1));
    expect(await misbehave([whole.subarray(0, whole.length - 3)])).toMatchObject({ code: 1002 });
    await stillServes();
  });

  it("an oversized message → 1009", async () => {
    const big = frame({ callId: 1, kind: { case: "data", value: { data: new Uint8Array(MAX_FRAME + 1) } } });
    expect(await misbehave([big])).toMatchObject({ code: 1009 });
    await stillServes();
  });

  it("a frame for a call id never started → 1002 naming it", async () => {
    expect(await misbehave([frame({ callId: 7, kind: { case: "data", value: { data: Uint8Array.of(1) } } })])).toEqual({ code: 1002, reason: "unknown call id 7" });
  });

  it("a reused call id → 1002", async () => {
    expect(await misbehave([frame(start(1)), frame(start(1))])).toMatchObject({ code: 1002, reason: "call id 1 reused or out of order (last 1)" });
  });

  it("data after half-close → 1002", async () => {
    const data = frame({ callId: 1, kind: { case: "data", value: { data: sayBody("x") } } });
    const halfClose = frame({ callId: 1, kind: { case: "halfClose", value: {} } });
    // A slow unary call keeps call 1 open while the late data arrives.
    const slowStart = frame(start(1, "/sluice.testing.v1.EchoService/Say"));
    const result = await misbehave([slowStart, halfClose, data]);
    expect(result).toEqual({ code: 1002, reason: "data after half-close on call 1" });
  });

  it("a window overrun → 1002", async () => {
    const tooMuch = frame({ callId: 1, kind: { case: "data", value: { data: new Uint8Array(256 * 1024 + 1) } } });
    expect(await misbehave([frame(start(1)), tooMuch])).toMatchObject({ code: 1002, reason: expect.stringMatching(/^window overrun on call 1/) });
    await stillServes();
  });

  it("server frames sent by a client → 1002", async () => {
    expect(await misbehave([frame(start(1)), frame({ callId: 1, kind: { case: "end", value: {} } })])).toEqual({ code: 1002, reason: "call end from the client" });
  });

  it("a ping flood → 1008", async () => {
    const pings = Array.from({ length: 200 }, (_, i) => frame({ kind: { case: "ping", value: { id: BigInt(i) } } }));
    expect(await misbehave(pings)).toMatchObject({ code: 1008, reason: expect.stringMatching(/^ping flood/) });
    await stillServes();
  });

  it("a well-formed call over the raw socket works (the checks above are not over-eager)", async () => {
    const socket = new WebSocket(url, "sluice.ws.v1");
    await new Promise((resolve) => socket.once("open", resolve));
    const received: Uint8Array[] = [];
    socket.on("message", (data: Buffer) => received.push(new Uint8Array(data)));
    socket.send(frame(start(1)));
    socket.send(frame({ callId: 1, kind: { case: "data", value: { data: sayBody("raw") } } }));
    socket.send(frame({ callId: 1, kind: { case: "halfClose", value: {} } }));
    for (let i = 0; i < 100 && received.length < 3; i++) await sleep(10);
    expect(received.length).toBeGreaterThanOrEqual(3); // head, data, end
    socket.close();
  });
});

describe("arbitrary input (fast-check)", () => {
  const callId = fc.integer({ min: 0, max: 6 });
  const anyFrame = fc.oneof(
    fc.record({ callId, kind: fc.constant({ case: "start" as const, value: { path: "/sluice.testing.v1.EchoService/Chat", headers: [{ name: "content-type", value: "application/connect+proto" }] } }) }),
    fc.record({ callId, kind: fc.record({ case: fc.constant("data" as const), value: fc.record({ data: fc.uint8Array({ maxLength: 64 }) }) }) }),
    fc.record({ callId, kind: fc.constant({ case: "halfClose" as const, value: {} }) }),
    fc.record({ callId, kind: fc.record({ case: fc.constant("cancel" as const), value: fc.record({ code: fc.integer({ min: 0, max: 20 }), reason: fc.string() }) }) }),
    fc.record({ callId, kind: fc.record({ case: fc.constant("windowUpdate" as const), value: fc.record({ bytes: fc.nat() }) }) }),
    fc.record({ callId, kind: fc.record({ case: fc.constant("ping" as const), value: fc.record({ id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }) }) }),
    fc.record({ callId, kind: fc.constant({ case: "head" as const, value: { status: 200 } }) }),
    fc.record({ callId, kind: fc.constant({ case: "goAway" as const, value: {} }) }),
  );
  const message = fc.oneof(
    { weight: 4, arbitrary: anyFrame.map((init) => frame(init as FrameInit)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    { weight: 1, arbitrary: anyFrame.chain((init) => fc.nat().map((cut) => frame(init as FrameInit).subarray(0, cut % (frame(init as FrameInit).length + 1)))) },
  );

  it("never crashes the server, closes only the offender with a known code, and keeps memory bounded", async () => {
    const allowed = new Set([1000, 1002, 1008, 1009]);
    await fc.assert(
      fc.asyncProperty(fc.array(message, { maxLength: 30 }), async (messages) => {
        const result = await misbehave(messages, 50);
        if (result !== "open") expect(allowed.has(result.code)).toBe(true);
        await stillServes();
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 60) },
    );
    // Every hostile socket is gone (only the healthy client's remains).
    for (let i = 0; i < 100 && handler.sockets > 1; i++) await sleep(10);
    expect(handler.sockets).toBe(1);
  }, 120_000);
});
