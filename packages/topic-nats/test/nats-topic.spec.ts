/**
 * What the JetStream engine adds to the topic contract, on real
 * nats-servers: the topic outlives its process (a second NatsTopic on
 * another connection, as another server instance would open it, has the
 * same items under the same seqs), a keyed publish repeated on another
 * instance lands once, a burst does not make a fast subscriber a slow one
 * (overflowGraceMs) while a stalled one gets the policy, items removed by
 * retention before a subscriber read them are a gap, and a subscriber
 * rides out a restart of NATS itself.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { SourceYield } from "@sluice/driver";
import { freePort, waitForPort } from "@sluice/testing";
import { afterAll, describe, expect, it } from "vitest";
import { NatsTopic } from "../src/index.js";
import { natsOrSkip } from "./nats-server.js";

const shared = await natsOrSkip("NATS topic engine");
const text = (s: string) => new TextEncoder().encode(s);
const value = (entry: SourceYield) => ("gap" in entry ? `gap ${entry.gap} ${entry.reason}` : new TextDecoder().decode(entry.data));
const streams: string[] = [];
let n = 0;
const uniqueName = () => `engine.t${process.pid}.${Date.now() % 1_000_000}.${++n}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!shared)("NatsTopic", () => {
  const connections: NatsConnection[] = [];
  const other = async () => {
    const connection = await connect({ servers: process.env.SLUICE_NATS_URL ?? "127.0.0.1:4222" });
    connections.push(connection);
    return connection;
  };
  const open = async (name: string, connection: NatsConnection, options: Partial<Parameters<typeof NatsTopic.open>[1]> = {}) => {
    const topic = await NatsTopic.open(name, { connection, ...options });
    if (!streams.includes(topic.stream)) streams.push(topic.stream);
    return topic;
  };
  afterAll(async () => {
    const jsm = await jetstreamManager(shared!);
    await Promise.all(streams.map((stream) => jsm.streams.delete(stream).catch(() => undefined)));
    await Promise.all(connections.map((c) => c.close()));
    await shared!.close();
  });

  it("is the same topic on another connection (another instance): the same items under the same seqs, and its stream keeps the history settings", async () => {
    const name = uniqueName();
    const first = await open(name, shared!, { historyItems: 500, historyMaxAgeMs: 60_000 });
    const seqs = [];
    for (let i = 0; i < 5; i++) seqs.push((await first.publish(text(`p${i}`))).seq);
    const second = await open(name, await other(), { historyItems: 500, historyMaxAgeMs: 60_000 });
    const sub = await second.subscribe(seqs[0]! - 1);
    expect(sub.nextSeq).toBe(seqs[0]);
    const iterator = sub.items[Symbol.asyncIterator]();
    const got = [];
    for (let i = 0; i < 5; i++) got.push(value((await iterator.next()).value));
    expect(got).toEqual(["p0", "p1", "p2", "p3", "p4"]);
    expect(await second.retainedRange()).toEqual({ oldestSeq: seqs[0], nextSeq: seqs[4]! + 1 });
    const info = await (await jetstreamManager(shared!)).streams.info(first.stream);
    expect(info.config).toMatchObject({ subjects: [first.stream, `${first.stream}.>`], max_msgs: 500, max_age: 60_000 * 1_000_000, duplicate_window: 60_000 * 1_000_000 });
    await iterator.return!();
  });

  it("opens nested topic names (orders and orders.dlq) side by side: their JetStream subjects do not overlap, and neither sees the other's items", async () => {
    const name = uniqueName();
    const orders = await open(name, shared!, { storage: "memory" });
    const dlq = await open(`${name}.dlq`, shared!, { storage: "memory" });
    const all = await orders.subscribe(undefined, undefined, { filter: `${name}.>` });
    const letters = await dlq.subscribe(undefined);
    await orders.publish(text("o1"), { subject: `${name}.eu` });
    await dlq.publish(text("d1"));
    await orders.publish(text("o2"), { subject: `${name}.us` });
    const a = all.items[Symbol.asyncIterator]();
    const d = letters.items[Symbol.asyncIterator]();
    expect([value((await a.next()).value), value((await a.next()).value)]).toEqual(["o1", "o2"]);
    expect(value((await d.next()).value)).toBe("d1");
    await a.return!();
    await d.return!();
  });

  it("serves subscribers at the head from one shared consumer; one that stalls falls off the tail, reads its backlog from JetStream and gets every item once, in order", async () => {
    const name = uniqueName();
    const topic = await open(name, shared!, { subscriberQueueItems: 20, overflowGraceMs: 60_000, storage: "memory" });
    const subs = await Promise.all(Array.from({ length: 50 }, () => topic.subscribe(undefined)));
    const jsm = await jetstreamManager(shared!);
    const consumers = async () => (await (await jsm.consumers.list(topic.stream)).next()).length;
    // Fifty subscribers at the head, one JetStream consumer: the topic's tail.
    expect(await consumers()).toBe(1);
    const readers = subs.slice(1).map(async (sub) => {
      const got: string[] = [];
      for await (const entry of sub.items) {
        got.push(value(entry));
        if (got.length === 200) break;
      }
      return got;
    });
    const stalled = subs[0]!.items[Symbol.asyncIterator]();
    for (let i = 0; i < 200; i++) await topic.publish(text(`t${i}`));
    const want = Array.from({ length: 200 }, (_, i) => `t${i}`);
    for (const got of await Promise.all(readers)) expect(got).toEqual(want);
    // The stalled one held at most its queue (20) on the tail, then fell off; its backlog came from JetStream.
    const late: string[] = [];
    for (let i = 0; i < 200; i++) late.push(value((await stalled.next()).value as SourceYield));
    expect(late).toEqual(want);
    // Its own consumer: a second one on the stream.
    expect(await consumers()).toBeGreaterThanOrEqual(2);
    await stalled.return!();
  });

  it("keeps a subscriber going when its consumer is deleted under it (an operator, a cleanup): nothing lost, nothing twice", async () => {
    const topic = await open(uniqueName(), shared!, { storage: "memory" });
    const sub = await topic.subscribe(undefined);
    const iterator = sub.items[Symbol.asyncIterator]();
    await topic.publish(text("before"));
    expect(value((await iterator.next()).value as SourceYield)).toBe("before");
    const jsm = await jetstreamManager(shared!);
    for (const info of await (await jsm.consumers.list(topic.stream)).next()) await jsm.consumers.delete(topic.stream, info.name);
    for (let i = 0; i < 5; i++) await topic.publish(text(`after${i}`));
    const rest: string[] = [];
    for (let i = 0; i < 5; i++) rest.push(value((await iterator.next()).value as SourceYield));
    expect(rest).toEqual(["after0", "after1", "after2", "after3", "after4"]);
    await iterator.return!();
  });

  it("lands a keyed publish once even when it is repeated on another instance (Nats-Msg-Id, the stream's duplicate window)", async () => {
    const name = uniqueName();
    const a = await open(name, shared!);
    const b = await open(name, await other());
    const first = await a.publish(text("x"), { key: "orders/p1/7" });
    const again = await b.publish(text("x"), { key: "orders/p1/7" });
    expect(again).toEqual({ seq: first.seq, duplicate: true });
    expect((await b.retainedRange()).nextSeq).toBe(first.seq + 1);
  });

  it("does not treat a subscriber that keeps up with a burst as slow; one that stalls for overflowGraceMs gets the policy (drop_oldest)", async () => {
    const topic = await open(uniqueName(), shared!, { subscriberQueueItems: 50, overflowGraceMs: 300, storage: "memory" });
    const fast = await topic.subscribe(undefined);
    const stalled = await topic.subscribe(undefined);
    const reading = (async () => {
      const got: string[] = [];
      for await (const entry of fast.items) {
        got.push(value(entry));
        if (got.length === 2_000) break;
      }
      return got;
    })();
    // A burst of 2 000 items, 40 times the queue, published at once.
    await Promise.all(Array.from({ length: 2_000 }, (_, i) => topic.publish(text(`b${i}`))));
    const got = await reading;
    expect(got.filter((v) => v.startsWith("gap"))).toEqual([]);
    // The stalled one reads once, then not for longer than the grace, then on: it is skipped ahead.
    const iterator = stalled.items[Symbol.asyncIterator]();
    expect(value((await iterator.next()).value)).toBe("b0");
    await sleep(400);
    const rest: string[] = [];
    for (let covered = 1; covered < 2_000; ) {
      const entry = (await iterator.next()).value as SourceYield;
      rest.push(value(entry));
      covered += "gap" in entry ? entry.gap : 1;
    }
    expect(rest.some((v) => /^gap \d+ dropped_oldest$/.test(v))).toBe(true);
    expect(rest.at(-1)).toBe("b1999");
    expect(topic.stats.dropped).toBeGreaterThan(0);
    await iterator.return!();
  });

  it("reports items that retention removed before the subscriber read them as a gap, never silently", async () => {
    const topic = await open(uniqueName(), shared!, { historyItems: 10, subscriberQueueItems: 100_000, pullAhead: 1, storage: "memory" });
    // Behind the head from the start (a resume), it reads through its own consumer, not the tail.
    const r0 = await topic.publish(text("r0"));
    await topic.publish(text("r1"));
    const sub = await topic.subscribe(r0.seq - 1);
    const iterator = sub.items[Symbol.asyncIterator]();
    expect(value((await iterator.next()).value)).toBe("r0");
    // 29 more while it does not read: the stream keeps the newest 10.
    for (let i = 2; i <= 30; i++) await topic.publish(text(`r${i}`));
    const rest: string[] = [];
    for (let covered = 1; covered <= 30; ) {
      const entry = (await iterator.next()).value as SourceYield;
      rest.push(value(entry));
      covered += "gap" in entry ? entry.gap : 1;
    }
    expect(rest.at(-1)).toBe("r30");
    expect(rest.filter((v) => v.startsWith("gap")).length).toBeGreaterThan(0);
    await iterator.return!();
  });

  it("tells a pattern subscriber which matching items retention removed before it read them (a gap of at most that many), while other subjects' items are no gap", async () => {
    const name = uniqueName();
    const topic = await open(name, shared!, { historyItems: 10, subscriberQueueItems: 100_000, pullAhead: 1, storage: "memory" });
    // Interleaved with other subjects: the reader's seqs jump, and nothing is lost.
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) seqs.push((await topic.publish(text(`${i % 2 ? "cold" : "hot"}${i}`), { subject: `${name}.${i % 2 ? "cold" : "hot"}` })).seq);
    // Behind the head from the start (a resume), it reads through its own consumer, not the tail.
    const sub = await topic.subscribe(seqs[0]! - 1, undefined, { filter: `${name}.hot` });
    const iterator = sub.items[Symbol.asyncIterator]();
    const first: string[] = [];
    for (let i = 0; i < 2; i++) first.push(value((await iterator.next()).value as SourceYield));
    expect(first).toEqual(["hot0", "hot2"]);
    // Now it stops reading while 30 more go by (15 of them hot); the stream keeps the newest 10.
    for (let i = 6; i < 36; i++) await topic.publish(text(`${i % 2 ? "cold" : "hot"}${i}`), { subject: `${name}.${i % 2 ? "cold" : "hot"}` });
    const rest: string[] = [];
    while (rest.at(-1) !== "hot34") rest.push(value((await iterator.next()).value as SourceYield));
    const gaps = rest.filter((v) => v.startsWith("gap"));
    expect(gaps.length).toBe(1);
    expect(gaps[0]).toMatch(/^gap \d+ dropped_oldest$/);
    // The 5 hot items still retained (26, 28, …, 34) follow the gap; the gap covers at least the 11 hot ones removed (4 … 24).
    expect(rest.slice(1)).toEqual(["hot26", "hot28", "hot30", "hot32", "hot34"]);
    expect(Number(gaps[0]!.split(" ")[1])).toBeGreaterThanOrEqual(11);
    await iterator.return!();
  });
});

describe.skipIf(!shared)("NatsTopic across a NATS restart", () => {
  let server: ChildProcess | undefined;
  const store = mkdtempSync(join(tmpdir(), "sluice-nats-store-"));
  const startNats = async (port: number) => {
    server = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store], { stdio: "ignore" });
    await waitForPort(port, 10_000);
  };
  afterAll(() => {
    server?.kill("SIGKILL");
  });

  it("keeps a subscriber and a publisher going by themselves when nats-server restarts mid-stream: acked items are all there, in order", async () => {
    const port = await freePort();
    await startNats(port);
    const connection = await connect({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      const topic = await NatsTopic.open("restart.topic", { connection });
      const sub = await topic.subscribe(undefined);
      const got: string[] = [];
      const reading = (async () => {
        for await (const entry of sub.items) {
          got.push(value(entry));
          if (got.length === 200) break;
        }
      })();
      const acked: number[] = [];
      const publish = async (i: number) => {
        // A publisher retries what was not acked (as the ingest path does: the sink fails, the publisher resends).
        for (;;) {
          try {
            acked.push((await topic.publish(text(`n${i}`), { key: `k${i}` })).seq);
            return;
          } catch {
            await sleep(100);
          }
        }
      };
      for (let i = 0; i < 100; i++) await publish(i);
      server!.kill("SIGTERM");
      await new Promise((resolve) => server!.once("exit", resolve));
      await startNats(port);
      for (let i = 100; i < 200; i++) await publish(i);
      await reading;
      expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `n${i}`));
      // The subscriber's ordered consumer was recreated across the restart (sluice_nats_consumer_resets_total).
      expect(topic.stats.consumerResets).toBeGreaterThanOrEqual(1);
      for (let i = 1; i < acked.length; i++) expect(acked[i]).toBe(acked[i - 1]! + 1);
    } finally {
      await connection.close();
    }
  }, 60_000);
});
