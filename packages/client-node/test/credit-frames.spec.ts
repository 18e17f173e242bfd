/**
 * What a reader that keeps up sends back (PROTOCOL.md §4.5, §7.2), over real
 * sockets on every transport. The server announces held signals, so a drain
 * grants only when the server says it holds an item for byte credit: a live
 * topic read as it arrives costs a Credit per half window, not one per chunk
 * (one per item, on a topic this slow). Items larger than the byte window are
 * held every time and still all arrive. Over half duplex each batch of client
 * frames is a Control request, so acks wait 250 ms there.
 */
import { SluiceServer, Topic, listen, type Listening } from "@sluice/server-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, createSluiceClient } from "../src/index.js";
import { TRANSPORTS } from "./fixtures/wire.js";

const live = new Topic("live", { historyItems: 1_000 });
const big = new Topic("big", { historyItems: 100 });
const sluice = new SluiceServer({ streams: { live: { topic: live }, big: { topic: big } } });
let server: Listening;
let publisher: ReturnType<typeof setInterval> | undefined;

beforeAll(async () => {
  server = await listen(sluice);
  let n = 0;
  // One item every 5 ms: each goes in a chunk of its own, and a reader drains after every one.
  publisher = setInterval(() => live.publish(new TextEncoder().encode(String(++n))), 5);
});
afterAll(async () => {
  clearInterval(publisher);
  await server.close();
});

describe.each(TRANSPORTS)("a reader that keeps up, over $name", ({ name, transport, httpVersion }) => {
  it("sends a Credit per half window of a live topic, not one per item: 200 items, window 64, at most 8 credits", async () => {
    const client = createSluiceClient({ baseUrl: server.url, transport, httpVersion });
    const stream = client.subscribe("live", { window: { items: 64, bytes: 1_048_576 } });
    let items = 0;
    for await (const event of stream) if (event.kind === "item" && ++items === 200) break;
    const { creditsSent, acksSent } = stream.stats;
    client.close();
    console.log(`${name}: 200 live items, ${creditsSent} credits, ${acksSent} acks`);
    // A grant every 32 items consumed: 6, plus one at most from a drain a held signal asked for.
    expect(creditsSent).toBeGreaterThanOrEqual(5);
    expect(creditsSent).toBeLessThanOrEqual(8);
  }, 20_000);

  it("gets every item larger than the byte window: each waits for a drain the server asks for", async () => {
    const client = createSluiceClient({ baseUrl: server.url, transport, httpVersion });
    const stream = client.subscribe("big", { codec: bytes(), window: { items: 64, bytes: 1_024 } });
    const seen: number[] = [];
    const reading = (async () => {
      for await (const event of stream) if (event.kind === "item" && seen.push(event.value.byteLength) === 30) break;
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (let i = 0; i < 30; i++) big.publish(new Uint8Array(4_096 + i));
    await reading;
    const { creditsSent } = stream.stats;
    client.close();
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => 4_096 + i));
    // Every item after the first waited for the receiver to drain: a credit each.
    expect(creditsSent).toBeGreaterThanOrEqual(29);
  }, 20_000);
});

describe("acks over HTTP/1.1 half duplex", () => {
  it("wait 250 ms (a Control request each): 200 live items in about a second take at most 8 acks", async () => {
    const client = createSluiceClient({ baseUrl: server.url, transport: "http", httpVersion: "1.1" });
    // A window of 1 000 items: an ack by count every 250, so the delay decides.
    const stream = client.subscribe("live", { window: { items: 1_000, bytes: 1_048_576 } });
    let items = 0;
    for await (const event of stream) if (event.kind === "item" && ++items === 200) break;
    const { acksSent } = stream.stats;
    client.close();
    console.log(`half duplex: 200 live items, ${acksSent} acks`);
    expect(acksSent).toBeGreaterThanOrEqual(2);
    expect(acksSent).toBeLessThanOrEqual(8);
  }, 20_000);
});
