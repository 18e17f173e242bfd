/**
 * Raw Connect calls over HTTP/1.1 (node:http / node:https): the half-duplex
 * SubscribeHalfDuplex stream (a request of one envelope, a chunked response
 * of envelopes) and unary Control calls, as a browser's fetch makes them.
 */
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { ClientFrame } from "@sluice/core";
import { decodeMessage, encodeControlRequest, encodeHalfDuplexRequest, decodeServerFrameMessage, streamContentType, unaryContentType, type Codec } from "./codec.js";
import { encodeEnvelope, EnvelopeReader, ENVELOPE_FLAG_END_STREAM, ControlResponseSchema } from "@sluice/protocol";
import { parseEndStream, type CallEnd, type RawCall } from "./call.js";
import { Inbox, type Received } from "./inbox.js";

/** Where raw HTTP/1.1 calls go and how they are encoded. */
export interface Http1Options {
  /** The server's base URL (http: or https:). */
  readonly baseUrl: string;
  /** The calls' codec. */
  readonly codec: Codec;
  /** Extra request headers (credentials, or hostile ones). */
  readonly headers?: Record<string, string>;
  /** Accept a self-signed certificate (https: targets the runner made itself). */
  readonly insecure?: boolean;
  /** Largest response message read. Default 64 MiB. */
  readonly maxMessageBytes?: number;
}

/** A keep-alive agent per session: Control calls reuse one connection, as a browser's would. */
export function http1Agent(options: Http1Options): http.Agent {
  return new URL(options.baseUrl).protocol === "https:" ? new https.Agent({ keepAlive: true, ...(options.insecure ? { rejectUnauthorized: false } : {}) }) : new http.Agent({ keepAlive: true });
}

function request(options: Http1Options, agent: http.Agent, path: string, contentType: string, body: Uint8Array): http.ClientRequest {
  const url = new URL(path, options.baseUrl);
  const module = url.protocol === "https:" ? https : http;
  const req = module.request(url, { method: "POST", agent, headers: { "content-type": contentType, "connect-protocol-version": "1", "content-length": String(body.byteLength), ...options.headers } });
  req.end(body);
  return req;
}

/** SubscribeHalfDuplex(open) with its response read envelope by envelope. `rawBody` replaces the request body (hostile input). */
export function openHalfDuplexCall(options: Http1Options, agent: http.Agent, open: ClientFrame & { type: "open" }, rawBody?: Uint8Array): RawCall {
  const body = rawBody ?? encodeEnvelope(0, encodeHalfDuplexRequest(open, options.codec));
  const req = request(options, agent, "/sluice.v1.SubscribeService/SubscribeHalfDuplex", streamContentType(options.codec), body);
  const inbox = new Inbox();
  const reader = new EnvelopeReader(options.maxMessageBytes ?? 64 << 20);
  let status = 0;
  let endStream: { error?: { code: string; message: string } } | undefined;
  let text = "";
  let socket: Socket | undefined;
  req.on("socket", (s) => (socket = s));
  const ended = new Promise<CallEnd>((resolve) => {
    let settled = false;
    const finish = (transport: string) => {
      if (settled) return;
      settled = true;
      inbox.end();
      resolve({ status, endStream: endStream !== undefined, ...(endStream?.error ? { error: endStream.error } : {}), transport, ...(status !== 200 ? { body: text } : {}) });
    };
    req.on("error", (error) => finish(`error: ${error.message}`));
    req.on("response", (response) => {
      status = response.statusCode ?? 0;
      response.on("data", (chunk: Buffer) => {
        if (status !== 200) return void (text += chunk.toString("utf8"));
        reader.push(chunk);
        try {
          for (let envelope = reader.next(); envelope; envelope = reader.next()) {
            if (envelope.flags & ENVELOPE_FLAG_END_STREAM) endStream = parseEndStream(envelope.data);
            else inbox.push(decodeServerFrameMessage(envelope.data, options.codec, true), envelope.data.byteLength);
          }
        } catch (error) {
          inbox.end(error as Error);
        }
      });
      // "aborted": the connection closed before the chunked body's last chunk.
      response.on("aborted", () => finish("truncated body"));
      response.on("error", (error) => finish(`error: ${error.message}`));
      response.on("end", () => finish(response.complete ? (reader.atBoundary ? "clean" : "truncated envelope") : "truncated body"));
      response.on("close", () => finish(response.complete ? "clean" : "truncated body"));
    });
  });
  return {
    sendFrame: () => {
      throw new Error("a half-duplex call carries later frames in Control calls");
    },
    sendBytes: () => {
      throw new Error("a half-duplex request is sent whole");
    },
    halfClose: () => undefined,
    next: (timeoutMs = 5_000): Promise<Received | undefined> => inbox.next(timeoutMs),
    ended,
    cut: () => {
      socket?.destroy();
      req.destroy();
    },
  };
}

/** How a unary call (Control) was answered. */
export interface UnaryResult {
  /** The HTTP status. */
  readonly status: number;
  /** The Connect error of a failed call ({code, message} from the JSON body). */
  readonly error?: {
    /** The Connect code, by its wire name. */
    readonly code: string;
    /** The error message. */
    readonly message: string;
  };
  /** The response body as text ("" on success). */
  readonly body: string;
}

/** One Control call. `rawBody` replaces the encoded request (hostile input). */
export async function controlCall(options: Http1Options, agent: http.Agent, sessionId: string, sessionSecret: Uint8Array, frames: readonly ClientFrame[], rawBody?: Uint8Array): Promise<UnaryResult> {
  const body = rawBody ?? encodeControlRequest(sessionId, sessionSecret, frames, options.codec);
  const req = request(options, agent, "/sluice.v1.SubscribeService/Control", unaryContentType(options.codec), body);
  return new Promise<UnaryResult>((resolve, reject) => {
    req.on("error", reject);
    req.on("response", (response) => {
      const pieces: Buffer[] = [];
      response.on("data", (chunk: Buffer) => pieces.push(chunk));
      response.on("end", () => {
        const all = Buffer.concat(pieces);
        const status = response.statusCode ?? 0;
        if (status === 200) {
          decodeMessage(ControlResponseSchema, all, options.codec);
          return resolve({ status, body: "" });
        }
        const text = all.toString("utf8");
        let error: { code: string; message: string } | undefined;
        try {
          const json = JSON.parse(text) as { code?: string; message?: string };
          if (json.code) error = { code: json.code, message: json.message ?? "" };
        } catch {
          // not a Connect error body
        }
        resolve({ status, body: text, ...(error ? { error } : {}) });
      });
    });
  });
}
