/**
 * listen's direct Subscribe path (server/src/direct-calls.ts): binary
 * Connect Subscribe calls over HTTP/2 are served on the HTTP/2 stream
 * itself, not through connect-node's handler. Checked here over real
 * HTTP/2 on 127.0.0.1:
 * - connect-es' own client reads its envelopes and end-stream;
 * - hostile bytes (fast-check) get a Sluice Error frame naming what was
 *   wrong, and a well-formed end of stream, while others keep being served;
 * - calls it does not take (JSON, deadlines, compression) still work
 *   through connect-node;
 * - over WebSocket (sluice.ws.v1 calls spoken by hand), the same path
 *   serves Subscribe: the same Sluice Error frames for hostile bytes, which
 *   connect's router would answer with a Connect error and no frame.
 */
import http2 from "node:http2";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import { createSluiceClient as createIsomorphic } from "@sluice/client";
import type { ClientFrame, ServerFrame } from "@sluice/core";
import { clientFrameToWire, decodeServerFrame, encodeClientFrame, SubscribeHalfDuplexRequestSchema, SubscribeRequestSchema, SubscribeService } from "@sluice/protocol";
import { WebSocketFrameSchema } from "@sluice/protocol/ws";
import { WebSocket } from "ws";
import { SluiceServer, fromIterable, listen, type Listening } from "@sluice/server-node";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";
import { envelope } from "./fixtures/wire.js";

const MAX_FRAME_BYTES = 64 * 1024;
const sluice = new SluiceServer({
  // A short heartbeat: a half-closed session that waits for credit (the
  // client can send none) ends at its timeout, as PROTOCOL.md §3.2 says.
  limits: { maxFrameBytes: MAX_FRAME_BYTES, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 300 },
  streams: { numbers: { source: fromIterable((p: { count?: number }) => Array.from({ length: p.count ?? 1_000 }, (_, i) => i + 1)) } },
});
let server: Listening;
beforeAll(async () => {
  server = await listen(sluice);
});
afterAll(() => server.close());

const SUBSCRIBE_PATH = "/sluice.v1.SubscribeService/Subscribe";
const open = (stream: string, items = 100): ClientFrame => ({ type: "open", stream, params: { count: 50 }, window: { items, bytes: 1 << 20 }, heartbeatIntervalMs: 0, clientInfo: "raw" });

interface RawResult {
  readonly status: number | undefined;
  readonly contentType: string | undefined;
  readonly frames: ServerFrame[];
  readonly endStream: unknown;
  /** Bytes after the end-stream envelope, or a torn envelope: must be 0. */
  readonly leftover: number;
}

/** One Subscribe call by hand: writes `body`, ends the request, and reads the whole response. */
async function rawSubscribe(body: Uint8Array, headers: http2.OutgoingHttpHeaders = {}): Promise<RawResult> {
  const session = http2.connect(server.url);
  try {
    const stream = session.request({ ":method": "POST", ":path": SUBSCRIBE_PATH, "content-type": "application/connect+proto", ...headers });
    let status: number | undefined;
    let contentType: string | undefined;
    stream.on("response", (h) => {
      status = h[":status"];
      contentType = h["content-type"] as string | undefined;
    });
    stream.end(body);
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return { status, contentType, ...readEnvelopes(Buffer.concat(chunks)) };
  } finally {
    session.close();
  }
}

/** Envelopes of a response body: server frames, the end-stream JSON, and what is left over. */
function readEnvelopes(body: Buffer): Pick<RawResult, "frames" | "endStream" | "leftover"> {
  let data = body;
  const frames: ServerFrame[] = [];
  let endStream: unknown;
  while (data.byteLength >= 5 && endStream === undefined) {
    const length = data.readUInt32BE(1);
    if (data.byteLength < 5 + length) break;
    const message = data.subarray(5, 5 + length);
    if (data[0] === 0) frames.push(decodeServerFrame(message, 1 << 24));
    else if (data[0] === 2) endStream = JSON.parse(message.toString("utf8"));
    else throw new Error(`unexpected response flags ${data[0]}`);
    data = data.subarray(5 + length);
  }
  return { frames, endStream, leftover: data.byteLength };
}

/** One Subscribe call by hand over sluice.ws.v1 (PROTOCOL.md §14): CallStart, the body as CallData, half-close; reads until CallEnd. */
async function rawWebSocketSubscribe(body: Uint8Array): Promise<RawResult> {
  const socket = new WebSocket(`${server.url.replace(/^http/, "ws")}/connect`, "sluice.ws.v1");
  socket.binaryType = "nodebuffer";
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  const send = (kind: MessageInitShape<typeof WebSocketFrameSchema>["kind"]) => socket.send(toBinary(WebSocketFrameSchema, create(WebSocketFrameSchema, { callId: 1, kind })));
  try {
    let status: number | undefined;
    let contentType: string | undefined;
    const chunks: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      socket.on("message", (message: Buffer) => {
        const frame = fromBinary(WebSocketFrameSchema, message);
        if (frame.kind.case === "head") {
          status = frame.kind.value.status;
          contentType = frame.kind.value.headers.find((h) => h.name === "content-type")?.value;
        } else if (frame.kind.case === "data") chunks.push(Buffer.from(frame.kind.value.data));
        else if (frame.kind.case === "end") resolve();
        else if (frame.kind.case === "cancel") reject(new Error(`call cancelled: ${frame.kind.value.reason}`));
      });
      socket.once("close", () => reject(new Error("socket closed before CallEnd")));
    });
    send({ case: "start", value: { path: SUBSCRIBE_PATH, headers: [{ name: "content-type", value: "application/connect+proto" }], windowBytes: 1 << 20 } });
    if (body.byteLength > 0) send({ case: "data", value: { data: body } });
    send({ case: "halfClose", value: {} });
    await ended;
    return { status, contentType, ...readEnvelopes(Buffer.concat(chunks)) };
  } finally {
    socket.close();
  }
}

/** A 200 whose frames hold a Sluice Error of `code` matching `message`, then a clean end of stream. */
function expectSluiceError(result: RawResult, code: string, message: RegExp): void {
  expect(result.status).toBe(200);
  const error = errorOf(result.frames);
  expect(error?.code).toBe(code);
  expect(error?.message).toMatch(message);
  expect(result.endStream).toEqual({});
  expect(result.leftover).toBe(0);
}

const errorOf = (frames: ServerFrame[]) => frames.find((f): f is Extract<ServerFrame, { type: "error" }> => f.type === "error");

describe("the direct Subscribe path", () => {
  it("serves an Open sent by hand: Opened, the items, End, then Connect's end-stream {}", async () => {
    const result = await rawSubscribe(envelope(0, encodeClientFrame(open("numbers"))));
    expect(result.status).toBe(200);
    expect(result.contentType).toBe("application/connect+proto");
    expect(result.frames[0]?.type).toBe("opened");
    const items = result.frames.flatMap((f) => (f.type === "chunk" ? f.items.map((item) => Number(new TextDecoder().decode(item))) : []));
    expect(items).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(result.frames.at(-1)?.type).toBe("end");
    expect(result.endStream).toEqual({});
    expect(result.leftover).toBe(0);
  });

  it("is read by connect-es' own client (envelopes and end-stream as connect-node writes them)", async () => {
    const manager = new Http2SessionManager(server.url);
    const client = createClient(SubscribeService, createConnectTransport({ baseUrl: server.url, httpVersion: "2", sessionManager: manager }));
    const types: string[] = [];
    for await (const response of client.subscribe((async function* () {
      yield create(SubscribeRequestSchema, { frame: clientFrameToWire(open("numbers")) });
    })())) types.push(response.frame?.kind.case ?? "none");
    manager.abort();
    expect(types[0]).toBe("opened");
    expect(types.at(-1)).toBe("end");
    expect(types).toContain("chunk");
  });

  it.each([
    ["a compressed message nobody negotiated", "protocol_violation", envelope(1, encodeClientFrame(open("numbers"))), /compressed message, but the call negotiated no compression/],
    ["an end-stream envelope from the client", "protocol_violation", envelope(2, new TextEncoder().encode("{}")), /envelope flags 0x02: a client sends messages only/],
    ["a length prefix of 2 GiB (refused before buffering)", "limit_exceeded", envelope(0, new Uint8Array(10), 2 ** 31), /frame of 2147483648 bytes exceeds the max frame size 65536/],
    ["a message that is not a SubscribeRequest", "protocol_violation", envelope(0, new Uint8Array([0xff, 0xff, 0xff])), /malformed client frame/],
    ["a request that ends inside an envelope", "protocol_violation", envelope(0, encodeClientFrame(open("numbers"))).subarray(0, 9), /request ended inside an envelope \(9 bytes left over\)/],
  ] as const)("answers %s with a Sluice %s error frame and a clean end of stream", async (_name, code, body, message) => {
    expectSluiceError(await rawSubscribe(body), code, message);
  });

  it("answers any bytes with a well-formed response and keeps serving others (property)", async () => {
    const good = createSluiceClient({ baseUrl: server.url, transport: "http" });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          // Plausible envelopes around garbage messages, to get past the prefix checks.
          fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 4 }).map((messages) => Buffer.concat(messages.map((m) => envelope(0, m)))),
        ),
        async (body) => {
          const result = await rawSubscribe(body);
          expect(result.status).toBe(200);
          expect(result.endStream).toEqual({});
          expect(result.leftover).toBe(0);
          const error = errorOf(result.frames);
          if (error) expect(["protocol_violation", "limit_exceeded", "stream_not_found", "invalid_argument"]).toContain(error.code);
        },
      ),
      { numRuns: 60 },
    );
    const values: number[] = [];
    for await (const event of good.subscribe<number>("numbers", { params: { count: 500 } })) if (event.kind === "item") values.push(event.value);
    expect(values).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    good.close();
  });
});

describe("the direct Subscribe path over WebSocket", () => {
  it("serves an Open sent by hand: Opened, the items, End, then Connect's end-stream {}", async () => {
    const result = await rawWebSocketSubscribe(envelope(0, encodeClientFrame(open("numbers"))));
    expect(result.status).toBe(200);
    expect(result.contentType).toBe("application/connect+proto");
    const items = result.frames.flatMap((f) => (f.type === "chunk" ? f.items.map((item) => Number(new TextDecoder().decode(item))) : []));
    expect(items).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(result.frames.at(-1)?.type).toBe("end");
    expect(result.endStream).toEqual({});
    expect(result.leftover).toBe(0);
  });

  it.each([
    ["a compressed message nobody negotiated", "protocol_violation", envelope(1, encodeClientFrame(open("numbers"))), /compressed message, but the call negotiated no compression/],
    ["a message that is not a SubscribeRequest", "protocol_violation", envelope(0, new Uint8Array([0xff, 0xff, 0xff])), /malformed client frame/],
    ["a request that ends inside an envelope", "protocol_violation", envelope(0, encodeClientFrame(open("numbers"))).subarray(0, 9), /request ended inside an envelope \(9 bytes left over\)/],
  ] as const)("answers %s with a Sluice %s error frame and a clean end of stream", async (_name, code, body, message) => {
    expectSluiceError(await rawWebSocketSubscribe(body), code, message);
  });
});

describe("calls the direct path leaves to connect-node", () => {
  it.each([
    ["JSON", { useBinaryFormat: false }],
    ["a deadline (connect-timeout-ms)", { defaultTimeoutMs: 30_000 }],
  ] as const)("serves a Connect client sending %s", async (_name, transportOptions) => {
    const manager = new Http2SessionManager(server.url);
    const transport = createConnectTransport({ baseUrl: server.url, httpVersion: "2", sessionManager: manager, ...transportOptions });
    const client = createIsomorphic({ transport, transportName: "connect" });
    const values: number[] = [];
    try {
      for await (const event of client.subscribe<number>("numbers", { params: { count: 300 }, window: { items: 64, bytes: 1 << 16 } })) if (event.kind === "item") values.push(event.value);
    } finally {
      manager.abort();
    }
    expect(values).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });
});

describe("HTTP/2 streams served bare (no compat request and response)", () => {
  let cors: Listening;
  beforeAll(async () => {
    cors = await listen(sluice, { corsOrigins: ["https://app.example.com"] });
  });
  afterAll(() => cors.close());

  /** The response headers of one HTTP/2 request to `url`, its body read to the end. */
  async function responseHeaders(url: string, headers: http2.OutgoingHttpHeaders, body?: Uint8Array): Promise<http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader> {
    const session = http2.connect(url);
    try {
      const stream = session.request(headers);
      const response = new Promise<http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader>((resolve) => stream.once("response", resolve));
      stream.end(body);
      for await (const _ of stream as AsyncIterable<Buffer>) void _;
      return await response;
    } finally {
      session.close();
    }
  }

  it("answers an allowed origin's direct Subscribe with CORS headers, and another origin's without", async () => {
    const request = (origin: string) => responseHeaders(cors.url, { ":method": "POST", ":path": SUBSCRIBE_PATH, "content-type": "application/connect+proto", origin }, envelope(0, encodeClientFrame(open("numbers"))));
    const allowed = await request("https://app.example.com");
    expect(allowed[":status"]).toBe(200);
    expect(allowed["access-control-allow-origin"]).toBe("https://app.example.com");
    expect(allowed["vary"]).toBe("Origin");
    expect(allowed["access-control-expose-headers"]).toMatch(/Connect-Protocol-Version|Grpc-Status/i);
    const other = await request("https://evil.example.com");
    expect(other[":status"]).toBe(200);
    expect(other["access-control-allow-origin"]).toBeUndefined();
  });

  it("answers a preflight over HTTP/2 (through connect-node's side) as over HTTP/1.1", async () => {
    const preflight = await responseHeaders(cors.url, { ":method": "OPTIONS", ":path": SUBSCRIBE_PATH, origin: "https://app.example.com", "access-control-request-method": "POST" });
    expect(preflight[":status"]).toBe(204);
    expect(preflight["access-control-allow-origin"]).toBe("https://app.example.com");
    expect(preflight["access-control-allow-methods"]).toMatch(/POST/);
  });

  it.each([
    ["CONNECT", { ":method": "CONNECT", ":authority": "127.0.0.1:1" }, 405],
    ["an expectation it cannot meet", { ":method": "POST", ":path": "/sluice.v1.SubscribeService/Control", "content-type": "application/json", expect: "something-else" }, 417],
  ] as const)("answers %s as Node's own HTTP/2 dispatch does", async (_name, headers, status) => {
    expect((await responseHeaders(server.url, headers))[":status"]).toBe(status);
  });

  it("keeps serving after a client resets a half-duplex call with an error code mid-response (no unhandled stream error)", async () => {
    const session = http2.connect(server.url);
    const request = create(SubscribeHalfDuplexRequestSchema, { open: clientFrameToWire({ type: "open", stream: "numbers", params: { count: 1_000 }, window: { items: 4, bytes: 1 << 20 }, heartbeatIntervalMs: 0, clientInfo: "raw" }).kind.value as never });
    const stream = session.request({ ":method": "POST", ":path": "/sluice.v1.SubscribeService/SubscribeHalfDuplex", "content-type": "application/connect+proto" });
    // This side's stream errors too when it resets with a code.
    stream.on("error", () => undefined);
    const closed = new Promise((resolve) => stream.once("close", resolve));
    stream.end(envelope(0, toBinary(SubscribeHalfDuplexRequestSchema, request)));
    await new Promise((resolve) => stream.once("data", resolve));
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    await closed;
    session.close();
    const result = await rawSubscribe(envelope(0, encodeClientFrame(open("numbers"))));
    expect(result.frames.at(-1)?.type).toBe("end");
    expect(result.endStream).toEqual({});
  });
});
