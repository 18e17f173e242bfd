/**
 * Live means live (PROTOCOL.md §5.1): an item of a slow source or a quiet
 * topic leaves in its chunk at the flush deadline, not with the next
 * heartbeat. Each item carries the time it was made; the client times its
 * arrival. The heartbeat interval is 10 s, so a missed flush deadline shows
 * as seconds, far above the bound, which a busy CI machine cannot reach by
 * accident.
 */
import { SluiceServer, Topic, listen, type Listening } from "@sluice/server-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";
import { TRANSPORTS } from "./fixtures/wire.js";

const encoder = new TextEncoder();
const now = () => performance.timeOrigin + performance.now();
const topic = new Topic("live", { historyItems: 100 });
let publisher: ReturnType<typeof setInterval> | undefined;

const sluice = new SluiceServer({
  limits: { heartbeatIntervalMs: 10_000, heartbeatTimeoutMs: 30_000 },
  streams: {
    // A 20 items/s generator: the source is idle 50 ms between items.
    ticks: {
      source: {
        async *open(_params, _cursor, { signal }) {
          while (!signal.aborted) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            yield { data: encoder.encode(JSON.stringify({ at: now() })) };
          }
        },
      },
    },
    live: { topic },
    // The same topic behind a 2 s flush deadline: its items can only arrive sooner if the session flushes when the topic is caught up.
    patient: { topic, chunk: { flushDelayMs: 2_000 } },
  },
});
let server: Listening;

beforeAll(async () => {
  server = await listen(sluice);
  publisher = setInterval(() => topic.publish(encoder.encode(JSON.stringify({ at: now() }))), 50);
});
afterAll(async () => {
  clearInterval(publisher);
  await server.close();
});

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

describe.each(TRANSPORTS)("live items over $name", ({ transport, httpVersion }) => {
  for (const stream of ["ticks", "live"]) {
    it(`${stream}: every item reaches the app within 250 ms of being made (heartbeat every 10 s)`, async () => {
      const client = createSluiceClient({ baseUrl: server.url, transport, httpVersion });
      const lags: number[] = [];
      for await (const event of client.subscribe<{ at: number }>(stream)) {
        if (event.kind !== "item") continue;
        lags.push(now() - event.value.at);
        if (lags.length === 40) break;
      }
      client.close();
      const p99 = percentile(lags, 0.99);
      console.log(`${stream} over ${transport}/${httpVersion}: p50 ${percentile(lags, 0.5).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms`);
      expect(lags).toHaveLength(40);
      expect(p99).toBeLessThan(250);
    }, 20_000);
  }
});

describe.each(TRANSPORTS)("a topic caught up over $name", ({ transport, httpVersion }) => {
  it("sends its open chunk at once, not at the flush deadline: with a 2 s deadline every item still arrives within 250 ms", async () => {
    const client = createSluiceClient({ baseUrl: server.url, transport, httpVersion });
    const lags: number[] = [];
    for await (const event of client.subscribe<{ at: number }>("patient")) {
      if (event.kind !== "item") continue;
      lags.push(now() - event.value.at);
      if (lags.length === 20) break;
    }
    client.close();
    console.log(`patient over ${transport}/${httpVersion}: p50 ${percentile(lags, 0.5).toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms`);
    expect(Math.max(...lags)).toBeLessThan(250);
  }, 20_000);
});
