/**
 * The client's direct Subscribe call over HTTP/2 (src/direct-http2.ts): the
 * same Connect call as connect-es makes, read straight off the stream.
 * Against hand-written node:http2 servers on 127.0.0.1 that answer what a
 * broken or hostile server could: the call carries the client's credentials
 * (a fresh token per call), a Connect end-of-stream error becomes that
 * Sluice error, a message longer than any frame is refused by name before it
 * is buffered, and a response that is no Connect stream is retried as
 * unavailable. The rest of client-node's tests run their HTTP/2 sessions on
 * this path too (it is the default).
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { SubscribeResponseSchema } from "@sluice/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";
import { envelope } from "./fixtures/wire.js";

const servers: http2.Http2Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** An h2c server on a random port whose every stream gets `answer`. */
async function rawServer(answer: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<string> {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined); // a client that went away is no failure here
    answer(stream, headers);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const endStream = (body: unknown) => envelope(2, new TextEncoder().encode(JSON.stringify(body)));
const connectHeaders = { ":status": 200, "content-type": "application/connect+proto" };

/** The error a subscription ends with, or undefined if it ended cleanly. */
async function failureOf(baseUrl: string, options: { token?: () => string; apiKey?: string; directSubscribe?: boolean } = {}) {
  const client = createSluiceClient({ baseUrl, transport: "http", ...options });
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

describe("the direct HTTP/2 Subscribe call", () => {
  it("sends the Connect request headers and the credentials, with a fresh token for each call", async () => {
    const seen: http2.IncomingHttpHeaders[] = [];
    const baseUrl = await rawServer((stream, headers) => {
      seen.push(headers);
      stream.respond(connectHeaders);
      stream.end(endStream({ error: { code: "permission_denied", message: "not you" } }));
    });
    let calls = 0;
    const error = await failureOf(baseUrl, { token: () => `t${++calls}`, apiKey: "k1" });
    expect(error?.code).toBe("permission_denied");
    expect(error?.message).toContain("not you");
    expect(seen[0]).toMatchObject({ ":method": "POST", ":path": "/sluice.v1.SubscribeService/Subscribe", "content-type": "application/connect+proto", authorization: "Bearer t1", "x-api-key": "k1" });
  });

  it("refuses a response message longer than any frame by its length, before buffering it: protocol_violation", { timeout: 10_000 }, async () => {
    let calls = 0;
    const baseUrl = await rawServer((stream) => {
      calls++;
      stream.respond(connectHeaders);
      // Announces 2 GiB, sends 3 bytes of it, and keeps the stream open.
      stream.write(envelope(0, new Uint8Array([1, 2, 3]), 0x7fff_ffff));
    });
    const error = await failureOf(baseUrl);
    expect(error?.code).toBe("protocol_violation");
    expect(error?.message).toBe("a response message of 2147483647 bytes (at most 67108864)");
    expect(calls).toBe(1);
  });

  it("retries a response that is no Connect stream (HTTP 503, text/plain) as unavailable, and a stream cut before its end", async () => {
    let calls = 0;
    const baseUrl = await rawServer((stream) => {
      calls++;
      if (calls === 1) {
        stream.respond({ ":status": 503, "content-type": "text/plain" });
        stream.end("down for maintenance");
      } else if (calls === 2) {
        stream.respond(connectHeaders);
        // A message, then the stream ends without the end-of-stream message.
        stream.end(envelope(0, toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, {}))).subarray(0, 5));
      } else {
        stream.respond(connectHeaders);
        stream.end(endStream({ error: { code: "not_found", message: "no stream numbers" } }));
      }
    });
    const error = await failureOf(baseUrl);
    expect(calls).toBe(3);
    expect(error?.message).toContain("no stream numbers");
  });
});
