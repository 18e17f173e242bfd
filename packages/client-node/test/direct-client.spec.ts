/**
 * The client's direct Subscribe call (@sluice/client's direct-subscribe.ts)
 * over HTTP/2 (src/direct-http2.ts) and WebSocket (transport-ws' raw
 * calls): the same Connect call as connect-es makes, read straight off the
 * stream. Against hand-written servers on 127.0.0.1 (node:http2, and `ws`
 * speaking sluice.ws.v1 frame by frame) that answer what a broken or hostile
 * server could: the call carries the client's credentials (a fresh token per
 * call), a Connect end-of-stream error becomes that Sluice error, a message
 * longer than any frame is refused by name before it is buffered (connect-es
 * would refuse it by its own readMaxBytes, with other words), and a response
 * that is no Connect stream is retried as unavailable. Over HTTP/1.1 the
 * half-duplex session's SubscribeHalfDuplex POST (src/direct-http1.ts) is
 * checked the same way, and its one request message. The rest of
 * client-node's tests run their HTTP/2, HTTP/1.1 and WebSocket sessions on
 * this path too (it is the default).
 */
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SubscribeHalfDuplexRequestSchema, SubscribeResponseSchema } from "@sluice/protocol";
import { CallDataSchema, CallEndSchema, CallHeadSchema, PongSchema, WebSocketFrameSchema, type WebSocketFrame } from "@sluice/protocol/ws";
import { WebSocketServer } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { createSluiceClient, type NodeClientOptions } from "../src/index.js";
import { envelope } from "./fixtures/wire.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** One call as a hand-written server answers it, whatever carries it. */
interface RawCall {
  /** The request headers, lower-case names (HTTP/2 pseudo-headers included; `:path` over HTTP/1.1 too). */
  readonly headers: Record<string, string | undefined>;
  /** The whole request body, where the server reads it before answering (HTTP/1.1). */
  readonly body?: Uint8Array;
  respond(status: number, contentType: string): void;
  write(bytes: Uint8Array): void;
  /** The last bytes, and the end of the response. */
  end(bytes?: Uint8Array | string): void;
}

/** Where a raw server listens, as client options. */
type RawServer = (answer: (call: RawCall) => void) => Promise<NodeClientOptions>;

/** An h2c server on a random port whose every stream gets `answer`. */
const rawHttp2Server: RawServer = async (answer) => {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined); // a client that went away is no failure here
    answer({
      headers: headers as Record<string, string | undefined>,
      respond: (status, contentType) => stream.respond({ ":status": status, "content-type": contentType }),
      write: (bytes) => void stream.write(bytes),
      end: (bytes) => void stream.end(bytes),
    });
  });
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, transport: "http" };
};

/** An HTTP/1.1 server on a random port whose every request gets `answer` once its body is in: half-duplex sessions (SubscribeHalfDuplex). */
const rawHttp1Server: RawServer = async (answer) => {
  const server = http.createServer((request, response) => {
    const pieces: Buffer[] = [];
    request.on("data", (piece: Buffer) => pieces.push(piece));
    request.on("end", () => {
      answer({
        headers: { ...(request.headers as Record<string, string | undefined>), ":path": request.url },
        body: Buffer.concat(pieces),
        respond: (status, contentType) => response.writeHead(status, { "content-type": contentType }),
        write: (bytes) => void response.write(bytes),
        end: (bytes) => void response.end(bytes),
      });
    });
  });
  closers.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, transport: "http", httpVersion: "1.1" };
};

/** A sluice.ws.v1 server on a random port (PROTOCOL.md §14), by hand: each call's start gets `answer`. */
const rawWebSocketServer: RawServer = async (answer) => {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => "sluice.ws.v1" });
  server.on("connection", (socket) => {
    const send = (callId: number, kind: WebSocketFrame["kind"]) => socket.send(toBinary(WebSocketFrameSchema, create(WebSocketFrameSchema, { callId, kind })));
    socket.on("message", (data: Buffer) => {
      const frame = fromBinary(WebSocketFrameSchema, data);
      if (frame.kind.case === "ping") send(0, { case: "pong", value: create(PongSchema, { id: frame.kind.value.id }) });
      if (frame.kind.case !== "start") return;
      const { callId } = frame;
      const headers: Record<string, string> = { ":path": frame.kind.value.path };
      for (const { name, value } of frame.kind.value.headers) headers[name] = value;
      answer({
        headers,
        respond: (status, contentType) => send(callId, { case: "head", value: create(CallHeadSchema, { status, headers: [{ name: "content-type", value: contentType }] }) }),
        write: (bytes) => send(callId, { case: "data", value: create(CallDataSchema, { data: bytes }) }),
        end: (bytes) => {
          if (bytes !== undefined) send(callId, { case: "data", value: create(CallDataSchema, { data: typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes }) });
          send(callId, { case: "end", value: create(CallEndSchema, {}) });
        },
      });
    });
  });
  closers.push(
    () =>
      new Promise((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  );
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const port = (server.address() as AddressInfo).port;
  return { baseUrl: `http://127.0.0.1:${port}`, transport: "websocket", websocketUrl: `ws://127.0.0.1:${port}/connect` };
};

const endStream = (body: unknown) => envelope(2, new TextEncoder().encode(JSON.stringify(body)));
const CONNECT_STREAM = "application/connect+proto";

/** The error a subscription ends with, or undefined if it ended cleanly. */
async function failureOf(server: NodeClientOptions, options: { token?: () => string; apiKey?: string } = {}) {
  const client = createSluiceClient({ ...server, ...options });
  try {
    for await (const _ of client.subscribe("numbers", { backoff: { initialMs: 10, maxMs: 20 } })) {
      // no item expected
    }
    return undefined;
  } catch (error) {
    return error as { code: string; message: string };
  } finally {
    client.close();
  }
}

describe.each([
  { name: "HTTP/2", rawServer: rawHttp2Server, path: "/sluice.v1.SubscribeService/Subscribe" },
  { name: "WebSocket", rawServer: rawWebSocketServer, path: "/sluice.v1.SubscribeService/Subscribe" },
  { name: "HTTP/1.1 (half duplex)", rawServer: rawHttp1Server, path: "/sluice.v1.SubscribeService/SubscribeHalfDuplex" },
])("the direct Subscribe call over $name", ({ rawServer, path }) => {
  it("sends the Connect request headers and the credentials, with a fresh token for each call", async () => {
    const seen: RawCall["headers"][] = [];
    const server = await rawServer((call) => {
      seen.push(call.headers);
      call.respond(200, CONNECT_STREAM);
      call.end(endStream({ error: { code: "permission_denied", message: "not you" } }));
    });
    let calls = 0;
    const error = await failureOf(server, { token: () => `t${++calls}`, apiKey: "k1" });
    expect(error?.code).toBe("permission_denied");
    expect(error?.message).toContain("not you");
    expect(seen[0]).toMatchObject({ ":path": path, "content-type": "application/connect+proto", authorization: "Bearer t1", "x-api-key": "k1" });
  });

  it("refuses a response message longer than any frame by its length, before buffering it: protocol_violation", { timeout: 10_000 }, async () => {
    let calls = 0;
    const server = await rawServer((call) => {
      calls++;
      call.respond(200, CONNECT_STREAM);
      // Announces 2 GiB, sends 3 bytes of it, and keeps the stream open.
      call.write(envelope(0, new Uint8Array([1, 2, 3]), 0x7fff_ffff));
    });
    const error = await failureOf(server);
    expect(error?.code).toBe("protocol_violation");
    expect(error?.message).toBe("a response message of 2147483647 bytes (at most 67108864)");
    expect(calls).toBe(1);
  });

  it("retries a response that is no Connect stream (HTTP 503, text/plain) as unavailable, and a stream cut before its end", async () => {
    let calls = 0;
    const server = await rawServer((call) => {
      calls++;
      if (calls === 1) {
        call.respond(503, "text/plain");
        call.end("down for maintenance");
      } else if (calls === 2) {
        call.respond(200, CONNECT_STREAM);
        // A message, then the stream ends without the end-of-stream message.
        call.end(envelope(0, toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, {}))).subarray(0, 5));
      } else {
        call.respond(200, CONNECT_STREAM);
        call.end(endStream({ error: { code: "not_found", message: "no stream numbers" } }));
      }
    });
    const error = await failureOf(server);
    expect(calls).toBe(3);
    expect(error?.message).toContain("no stream numbers");
  });
});

describe("the direct half-duplex call over HTTP/1.1", () => {
  it("sends the Open as the one message of its SubscribeHalfDuplex request", async () => {
    const bodies: Uint8Array[] = [];
    const server = await rawHttp1Server((call) => {
      bodies.push(call.body!);
      call.respond(200, CONNECT_STREAM);
      call.end(endStream({ error: { code: "not_found", message: "no such stream" } }));
    });
    expect((await failureOf(server))?.code).toBe("stream_not_found");
    const body = bodies[0]!;
    // One envelope (flags 0, a 32-bit length) and nothing after it.
    expect(body[0]).toBe(0);
    expect(new DataView(body.buffer, body.byteOffset).getUint32(1)).toBe(body.byteLength - 5);
    const request = fromBinary(SubscribeHalfDuplexRequestSchema, body.subarray(5));
    expect(request.open?.stream).toBe("numbers");
  });
});
