/**
 * Checks of the HTTP binding (§3.5), the half-duplex Control call (§3.3) and
 * the WebSocket transport (§14): what a server answers to calls that are
 * not well-formed sessions.
 */
import http from "node:http";
import https from "node:https";
import { create, toBinary } from "@bufbuild/protobuf";
import { encodeEnvelope } from "@sluice/protocol";
import { WebSocketFrameSchema } from "@sluice/protocol/ws";
import { expectError, expectThat, openFrame, STREAMS, type Check, type CheckContext } from "../check.js";
import { StrictSession } from "../strict-session.js";
import { streamContentType } from "../wire/codec.js";
import { openH2Call } from "../wire/h2-call.js";
import { RawSession, websocketUrlOf, type Target } from "../wire/raw-session.js";
import { WsSocket } from "../wire/ws-call.js";

const SERVICE = "/sluice.v1.SubscribeService";
const RETRYABLE_CONNECT_CODES = new Set(["unavailable", "canceled", "aborted", "deadline_exceeded", "resource_exhausted", "internal", "data_loss", "unknown"]);

/** One HTTP/1.1 POST; resolves with the status and body text. */
function post(target: Target, path: string, headers: Record<string, string>, body: Uint8Array): Promise<{ status: number; body: string }> {
  const url = new URL(path, target.baseUrl);
  const module = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = module.request(url, { method: "POST", headers: { ...target.headers, ...headers, "content-length": String(body.byteLength) }, ...(target.insecure ? { rejectUnauthorized: false } : {}) }, (response) => {
      let text = "";
      response.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on("error", reject);
    request.end(body);
  });
}

/** The Connect end-of-stream error of a streaming response body (the last envelope). */
function endStreamError(body: string): { code?: string } | undefined {
  const at = body.lastIndexOf('{"error"');
  if (at < 0) return undefined;
  try {
    return (JSON.parse(body.slice(at)) as { error: { code?: string } }).error;
  } catch {
    return undefined;
  }
}

const halfDuplex = (context: CheckContext) => new RawSession(context.target, "http1.1", context.codec);

export const BINDING_CHECKS: Check[] = [
  {
    title: "answers Subscribe over HTTP/1.1 with HTTP 505 (it needs full duplex)",
    spec: "§3.5",
    modes: "once",
    async run({ target }) {
      const result = await post(target, `${SERVICE}/Subscribe`, { "content-type": streamContentType("binary") }, encodeEnvelope(0, new Uint8Array()));
      expectThat(result.status === 505, `HTTP ${result.status}`);
    },
  },
  {
    title: "answers an unknown method with HTTP 404 (Connect: unimplemented)",
    spec: "§3.5",
    modes: "once",
    async run({ target }) {
      const result = await post(target, `${SERVICE}/NoSuchMethod`, { "content-type": "application/proto" }, new Uint8Array());
      expectThat(result.status === 404, `HTTP ${result.status}`);
    },
  },
  {
    title: "refuses a content type it does not speak with HTTP 415",
    spec: "§3.5",
    modes: "once",
    async run({ target }) {
      const result = await post(target, `${SERVICE}/SubscribeHalfDuplex`, { "content-type": "text/plain" }, new Uint8Array(10));
      expectThat(result.status === 415, `HTTP ${result.status}`);
    },
  },
  {
    title: "refuses a malformed SubscribeHalfDuplex request with a code that is not retryable",
    spec: "§3.5, §9.3",
    modes: "once",
    async run({ target }) {
      for (const [what, body] of [
        ["no open", encodeEnvelope(0, new Uint8Array())],
        ["undecodable bytes", encodeEnvelope(0, new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f]))],
      ] as const) {
        const result = await post(target, `${SERVICE}/SubscribeHalfDuplex`, { "content-type": streamContentType("binary") }, body);
        const error = endStreamError(result.body);
        expectThat(result.status !== 200 || error !== undefined, `${what}: accepted (HTTP ${result.status})`);
        const code = error?.code ?? "";
        expectThat(error === undefined || !RETRYABLE_CONNECT_CODES.has(code), `${what}: answered ${code}, which clients retry forever`);
      }
    },
  },
  {
    title: "ends the session with LIMIT_EXCEEDED when a client message is over max_frame_bytes, before buffering it",
    spec: "§2, §10",
    modes: ["http2", "websocket"],
    async run(context) {
      const s = new StrictSession(new RawSession(context.target, context.mode, context.codec), openFrame(STREAMS.items, { window: { items: 5, bytes: 1 << 20 } }));
      try {
        await s.start();
        const max = s.opened!.limits.maxFrameBytes;
        // The prefix announces max + 1 bytes; only a few follow.
        const prefix = new Uint8Array([0, (max + 1) >>> 24, ((max + 1) >>> 16) & 0xff, ((max + 1) >>> 8) & 0xff, (max + 1) & 0xff]);
        s.raw.sendBytes(new Uint8Array([...prefix, 1, 2, 3]));
        expectError(await s.readUntil((f) => f.type === "error" || f.type === "end"), "limit_exceeded", { retryable: false });
      } finally {
        s.raw.close();
      }
    },
  },
  {
    title: "ends the session with PROTOCOL_VIOLATION for a request frame with no kind",
    spec: "§2",
    modes: ["http2", "websocket"],
    async run(context) {
      const s = new StrictSession(new RawSession(context.target, context.mode, context.codec), openFrame(STREAMS.items, { window: { items: 5, bytes: 1 << 20 } }));
      try {
        await s.start();
        // SubscribeRequest{frame: ClientFrame{}}: binary 0a 00, JSON {"frame":{}}.
        const message = context.codec === "binary" ? new Uint8Array([0x0a, 0x00]) : new TextEncoder().encode('{"frame":{}}');
        s.raw.sendBytes(encodeEnvelope(0, message));
        expectError(await s.readUntil((f) => f.type === "error" || f.type === "end"), "protocol_violation", { retryable: false });
      } finally {
        s.raw.close();
      }
    },
  },
  {
    title: "ends the session with PROTOCOL_VIOLATION when the first frame is not Open",
    spec: "§3.1, §11.1",
    modes: ["http2"],
    async run({ target, codec }) {
      const call = openH2Call({ baseUrl: target.baseUrl, path: `${SERVICE}/Subscribe`, codec, ...(target.headers ? { headers: target.headers } : {}), ...(target.insecure ? { insecure: true } : {}) });
      try {
        call.sendFrame({ type: "credit", maxSeq: 10, maxBytes: 10 });
        const first = await call.next(5_000);
        expectError(first?.frame, "protocol_violation", { retryable: false });
      } finally {
        call.cut();
      }
    },
  },
  {
    title: "refuses a Control call with a wrong secret or for an unknown session with permission_denied, leaving the session as it was",
    spec: "§3.3",
    modes: ["http1.1"],
    async run(context) {
      const s = new StrictSession(halfDuplex(context), openFrame(STREAMS.items, { window: { items: 5, bytes: 1 << 20 } }));
      try {
        await s.start();
        for (const override of [{ sessionSecret: new Uint8Array(16).fill(9) }, { sessionId: "no-such-session" }]) {
          const result = await s.raw.control([{ type: "cancel", reason: "not mine" }], override);
          expectThat(result.error?.code === "permission_denied", `answered ${result.status} ${result.error?.code ?? result.body}`);
        }
        // The session goes on: credit through the right secret lets more items out.
        await s.readUntil(() => s.receivedSeq >= 5);
        s.grant(10, s.receivedBytes + s.window!.bytes);
        await s.readUntil(() => s.receivedSeq >= 10);
        s.send({ type: "cancel", reason: "done" });
        await s.readToEnd();
      } finally {
        s.raw.close();
      }
    },
  },
  {
    title: "accepts a Control call with no frames",
    spec: "§3.3",
    modes: ["http1.1"],
    async run(context) {
      const s = new StrictSession(halfDuplex(context), openFrame(STREAMS.items, { window: { items: 5, bytes: 1 << 20 } }));
      try {
        await s.start();
        const result = await s.raw.control([]);
        expectThat(result.status === 200, `answered ${result.status} ${result.body}`);
        s.send({ type: "cancel", reason: "done" });
        await s.readToEnd();
      } finally {
        s.raw.close();
      }
    },
  },
  {
    title: "refuses a Control call with an undecodable frame (invalid_argument naming it) and ends the session with PROTOCOL_VIOLATION",
    spec: "§3.3",
    modes: ["http1.1"],
    codecs: ["binary"],
    async run(context) {
      const s = new StrictSession(halfDuplex(context), openFrame(STREAMS.items, { window: { items: 5, bytes: 1 << 20 } }));
      try {
        const opened = (await s.start())!;
        // ControlRequest{session_id, session_secret, frames: [ClientFrame{}]}, by hand.
        const id = new TextEncoder().encode(opened.sessionId);
        const body = new Uint8Array([0x0a, id.byteLength, ...id, 0x12, opened.sessionSecret.byteLength, ...opened.sessionSecret, 0x1a, 0x00]);
        const result = await s.raw.control([], { rawBody: body });
        expectThat(result.error?.code === "invalid_argument" && /frames\[0\]/.test(result.error.message), `answered ${result.status} ${result.body}`);
        expectError(await s.readUntil((f) => f.type === "error" || f.type === "end"), "protocol_violation", { retryable: false });
      } finally {
        s.raw.close();
      }
    },
  },
  {
    title: "refuses a WebSocket upgrade that does not offer sluice.ws.v1 with HTTP 400",
    spec: "§14.1",
    modes: "once",
    async run({ target }) {
      const socket = new WsSocket({ url: websocketUrlOf(target), protocols: ["chat"], ...(target.insecure ? { insecure: true } : {}) });
      const outcome = await socket.opened.then(
        () => "open",
        (error: Error) => error.message,
      );
      socket.close();
      expectThat(/upgrade answered 400/.test(outcome), `the upgrade without the subprotocol: ${outcome}`);
    },
  },
  {
    title: "closes a WebSocket with 1002 on a text message, and answers a ping with its pong",
    spec: "§14.1, §14.4",
    modes: "once",
    async run({ target }) {
      const pinged = new WsSocket({ url: websocketUrlOf(target), ...(target.insecure ? { insecure: true } : {}) });
      await pinged.opened;
      expectThat(pinged.protocol === "sluice.ws.v1", `the handshake chose ${JSON.stringify(pinged.protocol)}`);
      pinged.sendRaw(toBinary(WebSocketFrameSchema, create(WebSocketFrameSchema, { kind: { case: "ping", value: { id: 4242n } } })));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expectThat(pinged.received.some((f) => f.kind.case === "pong" && f.kind.value.id === 4242n), "no pong 4242");
      pinged.close();
      const texted = new WsSocket({ url: websocketUrlOf(target), ...(target.insecure ? { insecure: true } : {}) });
      await texted.opened;
      texted.sendRaw("hello");
      const closed = await Promise.race([texted.closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2_000))]);
      expectThat(closed?.code === 1002, `closed with ${closed?.code ?? "nothing"}`);
    },
  },
];
