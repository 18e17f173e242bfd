/**
 * Connection states over real sockets (issue 16): a stream whose connection
 * is reset through a TCP proxy reports connecting → open → reconnecting →
 * connecting → resumed → closed, on HTTP/2, HTTP/1.1 half duplex and
 * WebSocket; a stream that cannot succeed reports failed with its error.
 */
import { SluiceServer, fromIterable, listen, type Listening } from "@sluice/server-node";
import { startTcpProxy, type TcpProxy } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSluiceClient, type StreamState } from "../src/index.js";

let server: Listening;
let proxy: TcpProxy;

beforeAll(async () => {
  const sluice = new SluiceServer({
    streams: {
      numbers: {
        source: fromIterable(async function* () {
          for (let n = 1; n <= 400; n++) {
            yield n;
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
        }),
      },
    },
  });
  server = await listen(sluice, { port: 0 });
  proxy = await startTcpProxy({ port: Number(new URL(server.url).port) });
});

afterAll(async () => {
  await proxy.close();
  await server.close();
});

describe.each([
  { transport: "http" as const, httpVersion: "2" as const },
  { transport: "http" as const, httpVersion: "1.1" as const },
  { transport: "websocket" as const, httpVersion: "2" as const },
])("stream states over $transport $httpVersion", ({ transport, httpVersion }) => {
  it("connecting → open → reconnecting → connecting → resumed → closed, every item once", async () => {
    const client = createSluiceClient({ baseUrl: proxy.url, transport, httpVersion });
    const states: StreamState[] = [];
    const stream = client.subscribe<number>("numbers", { backoff: { initialMs: 50, maxMs: 50 }, onState: (s) => states.push(s) });
    const seen: number[] = [];
    for await (const event of stream) {
      if (event.kind !== "item") continue;
      seen.push(event.value);
      if (event.value === 100) proxy.cutAll();
    }
    client.close();
    expect(seen).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    expect(states.map((s) => s.state)).toEqual(["connecting", "open", "reconnecting", "connecting", "resumed", "closed"]);
    expect(states[2]).toMatchObject({ state: "reconnecting", attempt: 1, error: { retryable: true } });
    expect(states[4]).toMatchObject({ state: "resumed", resume: { requestedSeq: expect.any(Number) } });
    expect(stream.state).toEqual({ state: "closed", reason: "ended" });
  });

  it("reports failed with the server's error for a stream that cannot succeed", async () => {
    const client = createSluiceClient({ baseUrl: server.url, transport, httpVersion });
    const stream = client.subscribe("nope");
    const heard: StreamState[] = [];
    stream.onStateChange((s) => heard.push(s));
    await expect((async () => {
      for await (const _ of stream) void _;
    })()).rejects.toMatchObject({ code: "stream_not_found" });
    client.close();
    expect(heard.map((s) => s.state)).toEqual(["connecting", "failed"]);
    expect(stream.state).toMatchObject({ state: "failed", error: { code: "stream_not_found", message: "stream not configured: nope" } });
  });
});
