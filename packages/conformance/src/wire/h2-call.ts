/**
 * A raw Connect streaming call over HTTP/2 (node:http2, h2c or TLS):
 * envelopes written and read by hand, so the runner sees exactly what the
 * server sends and can send what no well-behaved client would.
 */
import http2 from "node:http2";
import type { ClientFrame } from "@sluice/core";
import { encodeEnvelope, EnvelopeReader, ENVELOPE_FLAG_END_STREAM } from "@sluice/protocol";
import { parseEndStream, type CallEnd, type RawCall } from "./call.js";
import { decodeServerFrameMessage, encodeSubscribeRequest, streamContentType, type Codec } from "./codec.js";
import { Inbox, type Received } from "./inbox.js";

/** Where a raw HTTP/2 call goes and how it is encoded. */
export interface H2CallOptions {
  /** The server's base URL (http: for h2c, https: for TLS). */
  readonly baseUrl: string;
  /** The RPC path, e.g. "/sluice.v1.SubscribeService/Subscribe". */
  readonly path: string;
  /** The call's codec. */
  readonly codec: Codec;
  /** Extra request headers (credentials, or hostile ones). */
  readonly headers?: Record<string, string>;
  /** Accept a self-signed certificate (https: targets the runner made itself). */
  readonly insecure?: boolean;
  /** Largest response message read. Default 64 MiB. */
  readonly maxMessageBytes?: number;
}

/** Opens a streaming call over a new HTTP/2 connection of its own; `cut()` destroys it. */
export function openH2Call(options: H2CallOptions): RawCall {
  const session = http2.connect(options.baseUrl, { settings: { initialWindowSize: 4 << 20 }, ...(options.insecure ? { rejectUnauthorized: false } : {}) });
  session.on("error", () => undefined);
  const stream = session.request({
    ":method": "POST",
    ":path": options.path,
    "content-type": streamContentType(options.codec),
    "connect-protocol-version": "1",
    ...options.headers,
  });
  const inbox = new Inbox();
  const reader = new EnvelopeReader(options.maxMessageBytes ?? 64 << 20);
  let status = 0;
  let endStream: { error?: { code: string; message: string } } | undefined;
  let body = "";
  const halfDuplex = options.path.endsWith("/SubscribeHalfDuplex");
  const ended = new Promise<CallEnd>((resolve) => {
    let settled = false;
    const finish = (transport: string) => {
      if (settled) return;
      settled = true;
      inbox.end();
      resolve({ status, endStream: endStream !== undefined, ...(endStream?.error ? { error: endStream.error } : {}), transport, ...(status !== 200 ? { body } : {}) });
      session.close();
    };
    stream.on("response", (headers) => (status = Number(headers[":status"])));
    stream.on("data", (chunk: Buffer) => {
      if (status !== 200) return void (body += chunk.toString("utf8"));
      reader.push(chunk);
      try {
        for (let envelope = reader.next(); envelope; envelope = reader.next()) {
          if (envelope.flags & ENVELOPE_FLAG_END_STREAM) endStream = parseEndStream(envelope.data);
          else inbox.push(decodeServerFrameMessage(envelope.data, options.codec, halfDuplex), envelope.data.byteLength);
        }
      } catch (error) {
        inbox.end(error as Error);
      }
    });
    stream.on("end", () => finish(reader.atBoundary ? "clean" : "truncated body"));
    stream.on("close", () => finish(stream.rstCode ? `reset (code ${stream.rstCode})` : "closed"));
    stream.on("error", (error) => finish(`error: ${error.message}`));
    session.on("close", () => finish("connection closed"));
  });
  return {
    sendFrame: (frame: ClientFrame) => void stream.write(encodeEnvelope(0, encodeSubscribeRequest(frame, options.codec))),
    sendBytes: (bytes) => void stream.write(bytes),
    halfClose: () => void stream.end(),
    next: (timeoutMs = 5_000): Promise<Received | undefined> => inbox.next(timeoutMs),
    ended,
    cut: () => session.destroy(),
  };
}
