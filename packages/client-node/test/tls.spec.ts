/**
 * `listen` with a certificate: TLS on the one port, HTTP/2 and HTTP/1.1 by
 * ALPN, WebSocket over wss:. The Node client trusts the test's self-signed
 * certificate through its `tls.ca` option; without it the client fails with
 * the certificate named, and a plain-HTTP client cannot get in.
 */
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import { SluiceServer, fromIterable, listen, type Listening } from "@sluice/server-node";
import { selfSignedCertificate } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSluiceClient, type NodeClientOptions } from "../src/index.js";

const certificate = selfSignedCertificate();
const sluice = new SluiceServer({
  streams: {
    numbers: { source: fromIterable((params: { count?: number }) => Array.from({ length: params.count ?? 20_000 }, (_, i) => i + 1)) },
  },
});
let server: Listening;
beforeAll(async () => {
  server = await listen(sluice, { tls: { cert: certificate.cert, key: certificate.key }, fallback: (_request, response) => void response.writeHead(200).end("page") });
});
afterAll(() => server.close());

async function receiveAll(options: Omit<NodeClientOptions, "baseUrl">, count = 20_000): Promise<{ values: number[]; transport: string }> {
  const client = createSluiceClient({ baseUrl: server.url, ...options });
  const values: number[] = [];
  const stream = client.subscribe<number>("numbers", { params: { count }, window: { items: 1_000, bytes: 1 << 16 }, backoff: { maxAttempts: 0 } });
  try {
    for await (const event of stream) if (event.kind === "item") values.push(event.value);
  } finally {
    client.close();
  }
  return { values, transport: stream.stats.transport };
}

describe("TLS", () => {
  it("serves https: on the port listen reports", () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it.each([
    ["HTTP/2 (ALPN h2)", { transport: "http", httpVersion: "2" }, "http2"],
    ["HTTP/1.1 half duplex (ALPN http/1.1)", { transport: "http", httpVersion: "1.1" }, "http1.1"],
    ["WebSocket (wss:)", { transport: "websocket" }, "websocket"],
  ] as const)("delivers every item in order over %s", async (_name, options, transport) => {
    const result = await receiveAll({ ...options, tls: { ca: certificate.cert } });
    expect(result.transport).toBe(transport);
    expect(result.values).toEqual(Array.from({ length: 20_000 }, (_, i) => i + 1));
  });

  it("negotiates h2 for HTTP/2 clients and serves the fallback over HTTP/1.1 TLS", async () => {
    const session = http2.connect(server.url, { ca: certificate.cert });
    const request = session.request({ ":path": "/page" });
    const status = await new Promise<number>((resolve) => request.on("response", (headers) => resolve(Number(headers[":status"]))));
    request.resume();
    expect(status).toBe(200);
    expect(session.alpnProtocol).toBe("h2");
    session.close();
    const body = await new Promise<string>((resolve, reject) =>
      https.get(`${server.url}/page`, { ca: certificate.cert }, (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => resolve(text));
      }).on("error", reject),
    );
    expect(body).toBe("page");
  });

  it.each(["http", "websocket"] as const)("fails naming the certificate when the client does not trust it (%s)", async (transport) => {
    await expect(receiveAll({ transport, httpVersion: "2" })).rejects.toThrow(/certificate/i);
  });

  it("closes a plain-HTTP connection to the TLS port, and keeps serving TLS clients", async () => {
    const plain = await new Promise<string>((resolve) =>
      http
        .get(server.url.replace("https:", "http:"), (response) => resolve(`status ${response.statusCode}`))
        .on("error", (error) => resolve(`error ${(error as NodeJS.ErrnoException).code}`)),
    );
    expect(plain).toMatch(/^error /);
    const result = await receiveAll({ transport: "http", tls: { ca: certificate.cert } }, 1_000);
    expect(result.values).toHaveLength(1_000);
  });

  it("dropConnections cuts TLS connections, and the client resumes with each item once", async () => {
    const client = createSluiceClient({ baseUrl: server.url, transport: "http", tls: { ca: certificate.cert } });
    const values: number[] = [];
    const stream = client.subscribe<number>("numbers", { params: { count: 50_000 }, window: { items: 500, bytes: 1 << 15 }, backoff: { initialMs: 10, maxMs: 50 } });
    let dropped = false;
    for await (const event of stream) {
      if (event.kind !== "item") continue;
      values.push(event.value);
      if (!dropped && values.length === 10_000) {
        dropped = true;
        server.dropConnections();
      }
    }
    client.close();
    expect(stream.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(values).toEqual(Array.from({ length: 50_000 }, (_, i) => i + 1));
  });
});
