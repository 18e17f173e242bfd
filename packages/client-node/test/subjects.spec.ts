/**
 * Subjects and patterns end to end (PROTOCOL.md §7.10), over real sockets on
 * every transport: items routed to subjects on publish, pattern subscribers
 * that get exactly the matching items, numbered 1, 2, … by their own
 * stream, and resume through their cursors (topic seqs) when the
 * connection is cut, with nothing lost and nothing twice.
 */
import { startTcpProxy } from "@sluice/testing";
import { SluiceServer, Topic, listen } from "@sluice/server-node";
import { describe, expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";

const TRANSPORTS = {
  http2: { transport: "http" },
  websocket: { transport: "websocket" },
  "HTTP/1.1 half duplex": { transport: "http", httpVersion: "1.1" },
} as const;

interface Reading {
  readonly site: string;
  readonly kind: string;
  readonly n: number;
}

const SITES = ["north", "south", "east"];
const KINDS = ["temp", "hum"];
const reading = (n: number): Reading => ({ site: SITES[n % 3]!, kind: KINDS[Math.floor(n / 3) % 2]!, n });

describe.each(Object.entries(TRANSPORTS))("subjects over %s", (_name, connection) => {
  it("routes published items by template, and pattern subscribers cut off 4 times get every matching item once, in order, with contiguous seqs", async () => {
    // Queues as long as the run: this test is about cuts and resumes, not the overflow policy (the topic contract tests that).
    const topic = new Topic("sensors", { historyItems: 100_000, subscriberQueueItems: 10_000 });
    const server = new SluiceServer({
      limits: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 },
      streams: { sensors: { topic, publish: { route: { template: "sensors.{site}.{kind}", fallback: "sensors.unrouted" } } } },
    });
    const running = await listen(server);
    const cutting = await startTcpProxy({ port: running.port });
    const client = createSluiceClient({ baseUrl: cutting.url, ...connection });
    try {
      const total = 6_000;
      const window = { items: 64, bytes: 1 << 16 };
      const backoff = { initialMs: 10, maxMs: 50 };
      const temps = client.subscribe<Reading>("sensors.*.temp", { window, backoff });
      const north = client.subscribe<Reading>("sensors.north.>", { window, backoff });
      const collect = async (stream: AsyncIterable<{ kind: string; seq?: number; value?: Reading; subject?: string | undefined }>, want: number) => {
        const got: { seq: number; n: number }[] = [];
        for await (const event of stream) {
          if (event.kind !== "item") throw new Error(`unexpected ${event.kind} event: ${JSON.stringify(event)}`);
          // Each item tells the subject it was published to.
          const r = event.value!;
          if (event.subject !== (r.site === undefined ? "sensors.unrouted" : `sensors.${r.site}.${r.kind}`)) throw new Error(`item ${r.n} has subject ${event.subject}`);
          got.push({ seq: event.seq!, n: r.n });
          if (got.length === want) break;
        }
        return got;
      };
      const wantTemps = Array.from({ length: total }, (_, n) => reading(n)).filter((r) => r.kind === "temp");
      const wantNorth = Array.from({ length: total }, (_, n) => reading(n)).filter((r) => r.site === "north");
      const reading1 = collect(temps, wantTemps.length + 1);
      const reading2 = collect(north, wantNorth.length + 1);
      // Both open before the first publish (a fresh pattern subscription starts at the topic's head).
      await new Promise((resolve) => setTimeout(resolve, 300));
      const publisher = createSluiceClient({ baseUrl: running.url }).publish<Reading | string>("sensors");
      let cuts = 0;
      const cutter = setInterval(() => {
        if (cuts < 4 && topic.stats.published >= ((cuts + 1) * total) / 5) {
          cuts++;
          cutting.cutAll();
        }
      }, 5);
      const sends: Promise<unknown>[] = [];
      for (let n = 0; n < total; n++) {
        sends.push(publisher.send(reading(n)));
        // Let the subscribers read while publishing goes on, so the cuts land mid-stream.
        if (n % 500 === 499) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // One item that fits no template goes to the fallback subject, and then one last temp item for each reader to end on.
      sends.push(publisher.send("not a reading"));
      sends.push(publisher.send({ site: "north", kind: "temp", n: total }));
      await Promise.all(sends);
      const [gotTemps, gotNorth] = await Promise.all([reading1, reading2]);
      clearInterval(cutter);
      expect(cuts).toBe(4);
      expect(temps.stats.resumes).toBeGreaterThanOrEqual(1);
      expect(gotTemps.map((r) => r.n)).toEqual([...wantTemps.map((r) => r.n), total]);
      expect(gotNorth.map((r) => r.n)).toEqual([...wantNorth.map((r) => r.n), total]);
      // Each filtered stream numbers its own items from 1.
      expect(gotTemps.map((r) => r.seq)).toEqual(gotTemps.map((_, i) => i + 1));
      expect(gotNorth.map((r) => r.seq)).toEqual(gotNorth.map((_, i) => i + 1));
      expect(server.publishRouters.get("sensors")!.stats).toEqual({ custom: 0, content: 0, template: total + 1, fallback: 1, unrouted: 0 });
      await publisher.close();
    } finally {
      client.close();
      await cutting.close();
      await running.close();
    }
  }, 120_000);
});

describe("subjects: history", () => {
  it.each(["http", "websocket"] as const)("resumes a pattern subscriber past expired history with a history_expired gap, no item twice, and stats.lastResume (%s)", async (transport) => {
    const topic = new Topic("sensors", { historyItems: 20, resumeExpired: "gap" });
    const running = await listen(new SluiceServer({ streams: { sensors: { topic } } }));
    const client = createSluiceClient({ baseUrl: running.url, transport });
    try {
      const stream = client.subscribe<number>("sensors.*.temp", { window: { items: 4, bytes: 1 << 16 }, autoAck: false, backoff: { initialMs: 10, maxMs: 20 } });
      const iterator = stream[Symbol.asyncIterator]();
      const first = iterator.next();
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Temps 1, 2, 3, with another subject's item between each.
      let n = 0;
      const publish = (count: number) => {
        for (let i = 0; i < count; i++) {
          n++;
          topic.publish(new TextEncoder().encode(String(n)), { subject: "sensors.a.temp" });
          topic.publish(new TextEncoder().encode(String(-n)), { subject: "sensors.a.hum" });
        }
      };
      publish(3);
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = i === 0 ? await first : await iterator.next();
        if (r.value?.kind !== "item") throw new Error(`expected an item, got ${JSON.stringify(r.value)}`);
        seen.push(r.value.value);
        r.value.ack();
      }
      expect(seen).toEqual([1, 2, 3]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      // While it is away, 50 more of each: the history keeps the newest 20 items, 10 of them temps (44..53).
      running.dropConnections();
      publish(50);
      const gap = await iterator.next();
      // Its cursor is the topic position of temp 3 (the topic's 5th item); the history starts at the 87th:
      // 81 topic seqs lost in between, so at most 81 temps (in fact 40: temps 4..43).
      expect(gap.value).toMatchObject({ kind: "gap", fromSeq: 4, count: 81, reason: "history_expired" });
      const rest: number[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await iterator.next();
        if (r.value?.kind !== "item") throw new Error(`expected an item, got ${JSON.stringify(r.value)}`);
        rest.push(r.value.value);
        expect(r.value.seq).toBe(85 + i);
        r.value.ack();
      }
      expect(rest).toEqual(Array.from({ length: 10 }, (_, i) => 44 + i));
      expect(stream.stats.lastResume).toMatchObject({ requestedSeq: 3, nextSeq: 85, gap: { fromSeq: 4, count: 81, reason: "history_expired" } });
      stream.cancel();
    } finally {
      client.close();
      await running.close();
    }
  });
});

describe("subjects: errors", () => {
  it("refuses a bad pattern with invalid_argument naming what is wrong, and an unknown root with stream_not_found", async () => {
    const topic = new Topic("sensors");
    const running = await listen(new SluiceServer({ streams: { sensors: { topic } } }));
    const client = createSluiceClient({ baseUrl: running.url });
    try {
      const fail = async (stream: string) => {
        for await (const _ of client.subscribe(stream)) throw new Error("no item expected");
        throw new Error("the stream ended without an error");
      };
      await expect(fail("sensors.>.temp")).rejects.toMatchObject({ code: "invalid_argument", message: expect.stringContaining('">" may only be the last token') });
      await expect(fail("sensors.a*")).rejects.toMatchObject({ code: "invalid_argument", message: expect.stringContaining("a wildcard is a whole token") });
      await expect(fail("sensorsx.>")).rejects.toMatchObject({ code: "stream_not_found" });
      // The server serves everyone else all the same.
      const stream = client.subscribe<number>("sensors.ok");
      const first = stream[Symbol.asyncIterator]().next();
      await new Promise((resolve) => setTimeout(resolve, 200));
      topic.publish(new TextEncoder().encode("7"), { subject: "sensors.ok" });
      expect((await first).value).toMatchObject({ kind: "item", seq: 1, value: 7 });
      stream.cancel();
    } finally {
      client.close();
      await running.close();
    }
  });
});
