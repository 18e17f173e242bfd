/**
 * Going away on a real socket (PROTOCOL.md §14.4): a server that drains
 * sends go_away{last_call_id} to every socket before it closes it with 1001,
 * whether it lets the open calls finish (goAway) or not (close).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { EchoService, SayRequestSchema } from "@sluice/protocol/testing";
import { WebSocketFrameSchema, type WebSocketFrame } from "@sluice/protocol/ws";
import { WebSocket } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { createWebSocketTransport } from "../src/node.js";
import { createWebSocketHandler, type WebSocketHandler } from "../src/server.js";
import { echoRoutes, sleep } from "./echo.js";

type FrameInit = MessageInitShape<typeof WebSocketFrameSchema>;
const frame = (init: FrameInit) => toBinary(WebSocketFrameSchema, create(WebSocketFrameSchema, init));

let server: http.Server | undefined;
let handler: WebSocketHandler | undefined;

async function serve(): Promise<string> {
  server = http.createServer();
  handler = createWebSocketHandler({ routes: echoRoutes });
  handler.attach(server);
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/connect`;
}

afterEach(async () => {
  handler?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
  handler = undefined;
});

/** A raw socket that records every frame and event in order. */
async function rawSocket(url: string) {
  const socket = new WebSocket(url, "sluice.ws.v1");
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  const events: (WebSocketFrame | { close: number; reason: string })[] = [];
  socket.on("message", (data: Buffer) => events.push(fromBinary(WebSocketFrameSchema, data)));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once("close", (code, reason) => {
      events.push({ close: code, reason: reason.toString() });
      resolve({ code, reason: reason.toString() });
    }),
  );
  /** Starts a unary Say on `callId` that the handler answers after `delayMs`. */
  const say = (callId: number, delayMs: number) => {
    socket.send(frame({ callId, kind: { case: "start", value: { path: "/sluice.testing.v1.EchoService/Say", headers: [{ name: "content-type", value: "application/proto" }, { name: "connect-protocol-version", value: "1" }] } } }));
    socket.send(frame({ callId, kind: { case: "data", value: { data: toBinary(SayRequestSchema, create(SayRequestSchema, { text: `call ${callId}`, delayMs })) } } }));
    socket.send(frame({ callId, kind: { case: "halfClose", value: {} } }));
  };
  const kinds = () => events.map((event) => ("close" in event ? `close ${event.close}` : `${event.kind.case} ${event.callId}`));
  return { socket, events, closed, say, kinds };
}

const until = async (condition: () => boolean, ms = 2_000) => {
  for (let waited = 0; !condition() && waited < ms; waited += 10) await sleep(10);
};

describe("go_away when the server drains", () => {
  it("close(): every socket gets go_away{last_call_id} and then 1001; the open call does not finish", async () => {
    const url = await serve();
    const a = await rawSocket(url);
    const b = await rawSocket(url);
    a.say(1, 5_000);
    a.say(2, 5_000);
    await until(() => handler!.sockets === 2);
    await sleep(50); // both calls started
    handler!.close();
    const [closedA, closedB] = await Promise.all([a.closed, b.closed]);
    expect(closedA).toEqual({ code: 1001, reason: "server shutting down" });
    expect(closedB).toEqual({ code: 1001, reason: "server shutting down" });
    expect(a.kinds()).toEqual(["goAway 0", "close 1001"]);
    expect(a.events[0]).toMatchObject({ kind: { case: "goAway", value: { lastCallId: 2, reason: "server shutting down" } } });
    expect(b.kinds()).toEqual(["goAway 0", "close 1001"]);
    expect(b.events[0]).toMatchObject({ kind: { case: "goAway", value: { lastCallId: 0 } } });
  });

  it("goAway(): go_away{last_call_id}, the open call runs to its end, a later start is refused with unavailable, then 1001", async () => {
    const url = await serve();
    const raw = await rawSocket(url);
    raw.say(1, 300);
    await sleep(50);
    handler!.goAway("draining");
    await until(() => raw.events.length > 0);
    expect(raw.events[0]).toMatchObject({ callId: 0, kind: { case: "goAway", value: { lastCallId: 1, reason: "draining" } } });
    raw.say(2, 0);
    expect(await raw.closed).toEqual({ code: 1001, reason: "server shutting down" });
    const kinds = raw.kinds();
    expect(kinds[0]).toBe("goAway 0");
    expect(kinds).toContain("cancel 2");
    expect(raw.events.find((e) => "kind" in e && e.kind.case === "cancel")).toMatchObject({ kind: { value: { code: Code.Unavailable } } });
    // Call 1 ended cleanly (head, its reply, end) before the socket closed.
    const call1 = kinds.filter((kind) => kind.endsWith(" 1"));
    expect(call1).toEqual(["head 1", "data 1", "end 1"]);
    expect(kinds.at(-1)).toBe("close 1001");
  });

  it("a client learns it from go_away: the call in flight completes, the next one opens a new socket", async () => {
    const url = await serve();
    const transport = createWebSocketTransport({ url });
    const client = createClient(EchoService, transport);
    expect((await client.say({ text: "first" })).text).toBe("first");
    const inFlight = client.say({ text: "in flight", delayMs: 300 });
    await sleep(50);
    const acceptedBefore = handler!.accepted;
    handler!.goAway();
    expect((await inFlight).text).toBe("in flight");
    expect((await client.say({ text: "after" })).text).toBe("after");
    expect(handler!.accepted).toBe(acceptedBefore + 1);
    transport.close();
  });

  it("a client whose calls were cut by close() sees unavailable", async () => {
    const url = await serve();
    const transport = createWebSocketTransport({ url });
    const client = createClient(EchoService, transport);
    const inFlight = client.say({ text: "cut", delayMs: 5_000 }).catch((e: unknown) => ConnectError.from(e));
    await sleep(100);
    handler!.close();
    const error = await inFlight;
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unavailable);
    transport.close();
  });
});
