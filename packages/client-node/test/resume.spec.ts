/**
 * What the application learns from a resume (PROTOCOL.md §7.7): the
 * client's stats carry the last ResumeResult, and a position the topic no
 * longer holds arrives as a history_expired gap when its policy allows it.
 */
import { SluiceServer, Topic, listen } from "@sluice/server-node";
import { expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";

const encoder = new TextEncoder();

it.each(["http", "websocket"] as const)("reports a resume past the topic's history as a history_expired gap and in stats.lastResume (%s)", async (transport) => {
  const topic = new Topic("news", { historyItems: 20, resumeExpired: "gap" });
  const server = await listen(new SluiceServer({ streams: { news: { topic } } }));
  const client = createSluiceClient({ baseUrl: server.url, transport });
  const stream = client.subscribe<number>("news", { window: { items: 5, bytes: 1 << 16 }, autoAck: false, backoff: { initialMs: 10, maxMs: 20 } });
  const iterator = stream[Symbol.asyncIterator]();
  const publish = (n: number) => topic.publish(encoder.encode(String(n)));
  // Wait until the subscription is open before the first item is published.
  const first = iterator.next();
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (let n = 1; n <= 3; n++) publish(n);
  const seen: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = i === 0 ? await first : await iterator.next();
    if (r.value?.kind === "item") {
      seen.push(r.value.value);
      r.value.ack();
    }
  }
  expect(seen).toEqual([1, 2, 3]);
  // While the client is away, 100 more items: the history keeps the last 20.
  await new Promise((resolve) => setTimeout(resolve, 100));
  server.dropConnections();
  for (let n = 4; n <= 103; n++) publish(n);
  // Seqs count from the topic's clock-based first seq (about 1.8e15): item n is seq base + n.
  const base = topic.firstSeq - 1;
  const gap = await iterator.next();
  expect(gap.value).toMatchObject({ kind: "gap", fromSeq: base + 4, count: 80, reason: "history_expired" });
  const next = await iterator.next();
  expect(next.value).toMatchObject({ kind: "item", seq: base + 84, value: 84 });
  expect(stream.stats.lastResume).toEqual({ requestedSeq: base + 3, nextSeq: base + 84, replayed: 20, gap: { fromSeq: base + 4, count: 80, reason: "history_expired" } });
  expect(stream.stats.resumes).toBe(1);
  stream.cancel();
  client.close();
  await server.close();
});
