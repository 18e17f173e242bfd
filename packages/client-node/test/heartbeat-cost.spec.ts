/**
 * What an idle subscription's heartbeats cost (PROTOCOL.md §6), over real
 * sockets on every transport: the client's ping rides on its pong of the
 * server's, so the server gets one Heartbeat from the client per ping it
 * sends (answering at once and pinging on its own timer made it two), and
 * the server answers that ping with its next one, saying how long it held
 * the pong, so both RTTs stay the round trip, not the interval.
 */
import { SluiceServer, Topic, listen, type Listening, type SessionOutcome } from "@sluice/server-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";
import { TRANSPORTS } from "./fixtures/wire.js";

const INTERVAL_MS = 100;
const idle = new Topic("idle");
const outcomes: SessionOutcome[] = [];
const serverRtts: number[] = [];
const sluice = new SluiceServer({
  limits: { heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: 1_000 },
  streams: { idle: { topic: idle } },
  onSessionEnd: (outcome) => outcomes.push(outcome),
  onRtt: (_stream, rttMs) => serverRtts.push(rttMs),
});
let server: Listening;

beforeAll(async () => {
  server = await listen(sluice);
});
afterAll(async () => {
  await server.close();
});

describe.each(TRANSPORTS)("an idle subscription's heartbeats, over $name", ({ name, transport, httpVersion }) => {
  it("take one client Heartbeat per server ping, and measure the round trip on both sides", async () => {
    outcomes.length = 0;
    serverRtts.length = 0;
    const client = createSluiceClient({ baseUrl: server.url, transport, httpVersion });
    const stream = client.subscribe("idle");
    const reading = (async () => {
      for await (const _ of stream) void _;
    })();
    await new Promise((resolve) => setTimeout(resolve, 25 * INTERVAL_MS));
    const clientRtt = stream.stats.rttMs;
    stream.cancel();
    await reading;
    client.close();
    await expect.poll(() => outcomes.length).toBe(1);
    const { heartbeatsSent, heartbeatsReceived } = outcomes[0]!.counters;
    console.log(`${name}: server pings ${heartbeatsSent}, client heartbeats ${heartbeatsReceived}, RTT client ${clientRtt?.toFixed(2)} ms, server max ${Math.max(...serverRtts).toFixed(2)} ms`);
    expect(heartbeatsSent).toBeGreaterThanOrEqual(15);
    // One answer per ping (give or take the first and the last); without riding, twice as many.
    expect(heartbeatsReceived).toBeLessThanOrEqual(heartbeatsSent + 2);
    expect(heartbeatsReceived).toBeGreaterThanOrEqual(heartbeatsSent - 2);
    // The client's RTT comes from pongs the server held for up to an interval: held time off, it is the round trip.
    expect(clientRtt).toBeDefined();
    expect(clientRtt!).toBeLessThan(INTERVAL_MS / 2);
    expect(serverRtts.length).toBeGreaterThanOrEqual(10);
    expect(Math.max(...serverRtts)).toBeLessThan(INTERVAL_MS / 2);
  }, 20_000);
});
