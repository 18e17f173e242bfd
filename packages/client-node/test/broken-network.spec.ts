/**
 * Broken networks between client and server, through a TCP proxy on
 * 127.0.0.1 that can freeze its connections (a black hole: nothing is
 * forwarded, nothing is closed). A session that dies of silence must take
 * its connection with it: the client resumes over a new connection within
 * the heartbeat timeout plus its backoff, on every transport, and sees each
 * item once.
 */
import { SluiceServer, listen, type Listening } from "@sluice/server-node";
import { startTcpProxy, type TcpProxy } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";
import { TRANSPORTS } from "./fixtures/wire.js";

const encoder = new TextEncoder();
let server: Listening;

beforeAll(async () => {
  const sluice = new SluiceServer({
    // The setting: heartbeat every second, silence for 3 s is death.
    limits: { heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 3_000 },
    streams: {
      // 50 items/s, endless; each item is its seq.
      live: {
        source: {
          async *open(_params, cursor, { signal }) {
            let seq = cursor.byteLength ? new DataView(cursor.buffer, cursor.byteOffset).getUint32(0) : 0;
            while (!signal.aborted) {
              await new Promise((resolve) => setTimeout(resolve, 20));
              seq++;
              const c = new Uint8Array(4);
              new DataView(c.buffer).setUint32(0, seq);
              yield { data: encoder.encode(String(seq)), cursor: c };
            }
          },
        },
      },
    },
  });
  server = await listen(sluice);
});
afterAll(async () => {
  await server.close();
});

describe.each(TRANSPORTS)("a frozen connection over $name", ({ transport, httpVersion }) => {
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = await startTcpProxy({ port: server.port });
  });
  afterAll(async () => {
    await proxy.close();
  });

  it("is abandoned when its session dies of silence: items flow again over a new connection within the timeout + backoff, each once", async () => {
    const client = createSluiceClient({ baseUrl: proxy.url, transport, httpVersion });
    const stream = client.subscribe<number>("live", { backoff: { initialMs: 100, maxMs: 500 } });
    const seen: number[] = [];
    let frozenAt = 0;
    let recoveredAfter = 0;
    let acceptedAtFreeze = 0;
    for await (const event of stream) {
      if (event.kind !== "item") continue;
      seen.push(event.value);
      if (seen.length === 25) {
        acceptedAtFreeze = proxy.accepted;
        frozenAt = performance.now();
        proxy.freezeAll();
      } else if (frozenAt > 0 && recoveredAfter === 0 && stream.stats.reconnects > 0) {
        recoveredAfter = performance.now() - frozenAt;
      }
      if (recoveredAfter > 0 && seen.length >= 50) break;
    }
    client.close();
    console.log(`${transport}/${httpVersion}: items again ${Math.round(recoveredAfter)} ms after the freeze; ${proxy.accepted - acceptedAtFreeze} new connection(s)`);
    // Heartbeat timeout 3 s, then the first backoff (at most 100 ms) and a new connection.
    expect(recoveredAfter).toBeGreaterThan(2_500);
    expect(recoveredAfter).toBeLessThan(3_000 + 100 + 1_500);
    expect(proxy.accepted).toBeGreaterThan(acceptedAtFreeze);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1));
  }, 30_000);
});
