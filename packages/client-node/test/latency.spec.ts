/**
 * SluiceServerOptions.onItemLatency over a real HTTP/2 connection: sampled
 * source-to-transport ("sent") and source-to-ack ("acked") latencies show
 * where items wait: in the client (a slow consumer of a pulled source), or
 * in a topic's queue (a push source, measured from publish).
 */
import { SluiceServer, Topic, fromIterable, listen } from "@sluice/server-node";
import { expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

it("reports sampled sent and acked latencies; a slow consumer shows up in both", async () => {
  const samples = { sent: [] as number[], acked: [] as number[] };
  const sluice = new SluiceServer({
    streams: {
      paced: {
        source: fromIterable(async function* () {
          for (let i = 1; i <= 60; i++) {
            yield i;
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
        }),
      },
    },
    onItemLatency: (stream, stage, ms) => {
      expect(stream).toBe("paced");
      samples[stage].push(ms);
    },
  });
  const server = await listen(sluice, { protocols: "h2c" });
  const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
  let items = 0;
  for await (const event of client.subscribe("paced", { window: { items: 5, bytes: 1 << 16 } })) {
    if (event.kind !== "item") continue;
    items++;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  client.close();
  await server.close();
  expect(items).toBe(60);
  expect(samples.sent.length).toBeGreaterThan(5);
  expect(samples.acked.length).toBeGreaterThan(5);
  // No item of a source paced at 2 ms waits in the server for long (it would
  // if chunks waited for a heartbeat to leave: the default interval is 15 s).
  expect(Math.max(...samples.sent)).toBeLessThan(1_000);
  // The source is pulled only on credit, so items do not wait in the server
  // ("sent" is about the chunk flush delay), but each is acked only after
  // the client's 20 ms with it.
  expect(median(samples.sent)).toBeLessThan(20);
  expect(median(samples.acked)).toBeGreaterThanOrEqual(19);
  console.log(`latency medians: sent ${median(samples.sent).toFixed(1)} ms (${samples.sent.length} samples), acked ${median(samples.acked).toFixed(1)} ms (${samples.acked.length} samples)`);
});

it("measures a topic's items from publish, so time in the subscriber queue counts", async () => {
  const samples = { sent: [] as number[], acked: [] as number[] };
  const topic = new Topic("events", { historyItems: 1_000 });
  const sluice = new SluiceServer({ streams: { events: { topic } }, onItemLatency: (_stream, stage, ms) => samples[stage].push(ms) });
  const server = await listen(sluice, { protocols: "h2c" });
  // Published every 2 ms, consumed at 20 ms each through a window of 5:
  // items pile up in the subscriber's topic queue, and that wait is latency.
  const publisher = setInterval(() => topic.publish(new TextEncoder().encode("1")), 2);
  const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
  let items = 0;
  for await (const event of client.subscribe("events", { window: { items: 5, bytes: 1 << 16 } })) {
    if (event.kind !== "item") continue;
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (++items === 40) break;
  }
  clearInterval(publisher);
  client.close();
  await server.close();
  expect(samples.sent.length).toBeGreaterThan(5);
  // By the 40th item, ~0.8 s in, the queue holds hundreds of items published 2 ms apart.
  expect(Math.max(...samples.sent)).toBeGreaterThan(300);
});
