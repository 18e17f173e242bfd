/**
 * Publishing (PROTOCOL.md §3.4) over real sockets on 127.0.0.1, HTTP/2 and
 * WebSocket: items reach a topic's subscribers once, in order; connections
 * killed mid-publish lose and duplicate nothing; bad publishes get clear errors.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { PublishService } from "@sluice/protocol";
import { SluiceServer, Topic, listen, type IngestOutcome, type Listening } from "@sluice/server-node";
import { startTcpProxy, until } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, createSluiceClient, PublishError } from "../src/index.js";

// A queue that holds the whole burst: this test is about publishing, not about a slow subscriber's drops.
const orders = new Topic("orders", { historyItems: 100_000, subscriberQueueItems: 100_000 });
const audit = new Topic("audit", { historyItems: 10_000 });
const outcomes: IngestOutcome[] = [];
const sluice = new SluiceServer({
  limits: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 },
  onPublishEnd: (outcome) => outcomes.push(outcome),
  streams: {
    orders: { topic: orders, publish: {} },
    audit: { topic: audit },
    checked: {
      publish: {
        sink: {
          write: (items) =>
            items.map((item) => {
              const value = JSON.parse(new TextDecoder().decode(item.data)) as { n: number };
              return value.n % 10 === 0 ? { accepted: false, reason: `n=${value.n} is a multiple of 10`, deadLetterTopic: "checked.dlq" } : { accepted: true };
            }),
        },
      },
    },
  },
});
let server: Listening;
beforeAll(async () => {
  server = await listen(sluice);
});
afterAll(async () => {
  await server.close();
});

const TRANSPORTS = {
  http2: { transport: "http" },
  websocket: { transport: "websocket" },
  "HTTP/1.1 half duplex (PublishBatch)": { transport: "http", httpVersion: "1.1" },
} as const;

describe.each(Object.entries(TRANSPORTS))("publishing over %s", (transport, connection) => {
  it("acks every item once the topic has it, and subscribers get each once, in order", async () => {
    const client = createSluiceClient({ baseUrl: server.url, ...connection });
    const before = orders.stats.published;
    const subscriber = createSluiceClient({ baseUrl: server.url });
    const seen: number[] = [];
    let opened!: () => void;
    const subscribed = new Promise<void>((resolve) => (opened = resolve));
    const reading = (async () => {
      for await (const event of subscriber.subscribe<{ n: number; from: string }>("orders", { onState: (state) => state.state === "open" && opened() })) {
        if (event.kind === "gap") throw new Error(`gap of ${event.count} at ${event.fromSeq} (${event.reason})`);
        if (event.value.from !== transport) continue;
        seen.push(event.value.n);
        if (seen.length === 20_000) break;
      }
    })();
    await subscribed;
    const publisher = client.publish<{ n: number; from: string }>("orders");
    const receipts = await Promise.all(Array.from({ length: 20_000 }, (_, n) => publisher.send({ n, from: transport })));
    expect(receipts.map((r) => r.seq)).toEqual(Array.from({ length: 20_000 }, (_, i) => i + 1));
    expect(orders.stats.published - before).toBe(20_000);
    await reading;
    expect(seen).toEqual(Array.from({ length: 20_000 }, (_, n) => n));
    expect(publisher.stats).toMatchObject({ acked: 20_000, inFlight: 0, deadLettered: 0 });
    await publisher.close();
    expect(publisher.state.state).toBe("closed");
    client.close();
    subscriber.close();
  }, 60_000);

  it("rejects a dead-lettered item with its reason and accepts the rest", async () => {
    const client = createSluiceClient({ baseUrl: server.url, ...connection });
    const publisher = client.publish<{ n: number }>("checked");
    const results = await Promise.allSettled(Array.from({ length: 25 }, (_, n) => publisher.send({ n: n + 1 })));
    const rejected = results.flatMap((r, i) => (r.status === "rejected" ? [[i + 1, r.reason as PublishError] as const] : []));
    expect(rejected.map(([n]) => n)).toEqual([10, 20]);
    expect(rejected[0]![1]).toBeInstanceOf(PublishError);
    expect(rejected[0]![1]).toMatchObject({ failure: "dead_lettered", seq: 10, deadLetterTopic: "checked.dlq", message: "dead-lettered: n=10 is a multiple of 10" });
    expect(publisher.stats).toMatchObject({ acked: 23, deadLettered: 2 });
    await publisher.close();
    client.close();
  });

  it("refuses a stream that takes no publishing, and an unknown one, naming it", async () => {
    const client = createSluiceClient({ baseUrl: server.url, ...connection });
    const audited = client.publish("audit");
    const error = await audited.send({ x: 1 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ failure: "failed", code: "permission_denied", message: "stream audit does not take publishing" });
    expect(audited.state.state).toBe("failed");
    const unknown = client.publish("nowhere");
    await expect(unknown.send({ x: 1 })).rejects.toMatchObject({ code: "stream_not_found", message: "stream not configured: nowhere" });
    client.close();
  });
});

describe("publishing through dropped connections", () => {
  it.each(Object.entries(TRANSPORTS))("loses and duplicates nothing when the connection is cut 5 times mid-publish (%s)", async (_name, connection) => {
    const stream = new Topic("cut", { historyItems: 300_000 });
    const local = new SluiceServer({ limits: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 }, streams: { cut: { topic: stream, publish: {} } } });
    const running = await listen(local);
    const cutting = await startTcpProxy({ port: running.port });
    try {
      const client = createSluiceClient({ baseUrl: cutting.url, ...connection });
      const publisher = client.publish<number>("cut", { backoff: { initialMs: 10, maxMs: 100 } });
      const total = 200_000;
      const sends: Promise<unknown>[] = [];
      let cuts = 0;
      // Cut by progress, not by the clock: at each sixth of the items acked, however fast this machine is today.
      const cutter = setInterval(() => {
        if (cuts < 5 && publisher.stats.acked >= ((cuts + 1) * total) / 6) {
          cuts++;
          cutting.cutAll();
        }
      }, 5);
      for (let n = 0; n < total; n++) sends.push(publisher.send(n));
      await Promise.all(sends);
      clearInterval(cutter);
      expect(cuts).toBe(5);
      expect(publisher.stats.sessions).toBeGreaterThanOrEqual(5);
      expect(publisher.stats.retries).toBeGreaterThan(0);
      // The topic holds each item once, in order.
      const subscriber = createSluiceClient({ baseUrl: running.url });
      const got: number[] = [];
      for await (const event of subscriber.subscribe<number>("cut", { startAfter: { seq: stream.firstSeq - 1 } })) {
        if (event.kind === "item") got.push(event.value);
        if (got.length === total) break;
      }
      expect(stream.stats.published).toBe(total);
      for (let i = 0; i < total; i++) if (got[i] !== i) throw new Error(`topic position ${i}: ${got[i]}`);
      await publisher.close();
      client.close();
      subscriber.close();
    } finally {
      await cutting.close();
      await running.close();
    }
  }, 120_000);
});

describe("publishing large items", () => {
  it.each(Object.entries(TRANSPORTS))("fits its chunks to a server with small frames: 300 items of 16 KiB under a 64 KiB max frame size (%s)", async (_name, connection) => {
    const big = new Topic("big", { historyItems: 1_000 });
    const local = new SluiceServer({ limits: { maxFrameBytes: 64 * 1024, maxItemBytes: 32 * 1024 }, streams: { big: { topic: big, publish: {} } } });
    const running = await listen(local);
    try {
      const client = createSluiceClient({ baseUrl: running.url, ...connection });
      const publisher = client.publish<Uint8Array>("big", { codec: bytes() });
      const receipts = await Promise.all(Array.from({ length: 300 }, (_, n) => publisher.send(new Uint8Array(16 * 1024).fill(n % 256))));
      expect(receipts.map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(big.stats.published).toBe(300);
      expect(publisher.stats.sessions).toBe(1);
      await publisher.close();
      client.close();
    } finally {
      await running.close();
    }
  }, 60_000);
});

describe("publishing through dropped connections into a slow sink", () => {
  it.each(Object.entries(TRANSPORTS))("writes each item to the sink once: a resend never overlaps the write still in flight when the connection died (%s)", async (_name, connection) => {
    // Every seq the sink is handed, in order; a sink without keys of its own stores a repeat twice.
    const written: number[] = [];
    const local = new SluiceServer({
      limits: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 },
      streams: {
        slow: {
          publish: {
            maxBatchItems: 100,
            sink: {
              async write(items) {
                await new Promise((resolve) => setTimeout(resolve, 30));
                for (const item of items) written.push(item.seq);
                return items.map(() => ({ accepted: true as const }));
              },
            },
          },
        },
      },
    });
    const running = await listen(local);
    const cutting = await startTcpProxy({ port: running.port });
    try {
      const client = createSluiceClient({ baseUrl: cutting.url, ...connection });
      const publisher = client.publish<number>("slow", { backoff: { initialMs: 10, maxMs: 50 } });
      const total = 3_000;
      let cuts = 0;
      // Cut while a write is in the sink (it takes 30 ms): at each eighth of the items acked, five times.
      const cutter = setInterval(() => {
        if (cuts < 5 && publisher.stats.acked >= ((cuts + 1) * total) / 8) {
          cuts++;
          setTimeout(() => cutting.cutAll(), 10);
        }
      }, 2);
      await Promise.all(Array.from({ length: total }, (_, n) => publisher.send(n)));
      clearInterval(cutter);
      expect(cuts).toBe(5);
      expect(publisher.stats.reconnects).toBeGreaterThan(0);
      expect(written).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      await publisher.close();
      client.close();
    } finally {
      await cutting.close();
      await running.close();
    }
  }, 60_000);
});

describe("the server's side of publishing (PROTOCOL.md §3.4)", () => {
  it("fences an older session of the same publisher id: it ends with cancelled, superseded", async () => {
    const first = createSluiceClient({ baseUrl: server.url, transport: "http" });
    const second = createSluiceClient({ baseUrl: server.url, transport: "http" });
    const a = first.publish<number>("orders", { publisherId: "twin" });
    await a.send(1);
    const b = second.publish<number>("orders", { publisherId: "twin" });
    await b.send(2);
    const error = await a.send(3).catch((e: unknown) => e);
    expect(error).toMatchObject({ failure: "failed", code: "cancelled", message: 'superseded: a newer session of publisher "twin" opened' });
    expect(a.state.state).toBe("failed");
    await b.close();
    first.close();
    second.close();
  });

  it("continues a publisher id's numbering in a new process, where the server says", async () => {
    const first = createSluiceClient({ baseUrl: server.url, transport: "http" });
    const a = first.publish<number>("orders", { publisherId: "restarted" });
    const receipts = await Promise.all([a.send(1), a.send(2), a.send(3)]);
    expect(receipts.map((r) => r.seq)).toEqual([1, 2, 3]);
    await a.close();
    first.close();
    // Another process, the same id, nothing in flight: it continues at seq 4.
    const second = createSluiceClient({ baseUrl: server.url, transport: "http" });
    const b = second.publish<number>("orders", { publisherId: "restarted" });
    expect((await b.send(4)).seq).toBe(4);
    await b.close();
    second.close();
  });

  it("refuses a publisher id over 256 characters, naming the field", async () => {
    const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
    const publisher = client.publish("orders", { publisherId: "x".repeat(257) });
    await expect(publisher.send(1)).rejects.toMatchObject({ code: "invalid_argument", field: "open.publisher_id", message: "open.publisher_id: must be 1 to 256 characters, got 257" });
    client.close();
  });

  it("ends the session with source_failed when the sink throws, and the publisher resends: nothing lost, nothing twice", async () => {
    const stored: number[] = [];
    let failures = 2;
    const flaky = new SluiceServer({
      streams: {
        flaky: {
          publish: {
            // No retries in the server: this test is about the session failing and the publisher resending.
            retries: { attempts: 0 },
            sink: {
              write(items) {
                if (failures > 0 && stored.length >= 100) {
                  failures--;
                  throw new Error("disk full");
                }
                for (const item of items) stored.push(Number(new TextDecoder().decode(item.data)));
                return items.map(() => ({ accepted: true }));
              },
            },
          },
        },
      },
    });
    const running = await listen(flaky);
    try {
      const client = createSluiceClient({ baseUrl: running.url, transport: "http" });
      const publisher = client.publish<number>("flaky", { backoff: { initialMs: 5, maxMs: 20 } });
      const errors: string[] = [];
      publisher.onStateChange((state) => state.state === "reconnecting" && errors.push(`${state.error.code}: ${state.error.message}`));
      await Promise.all(Array.from({ length: 1_000 }, (_, n) => publisher.send(n)));
      expect(errors.slice(0, 2)).toEqual(["source_failed: sink failed: disk full", "source_failed: sink failed: disk full"]);
      expect(stored).toEqual(Array.from({ length: 1_000 }, (_, n) => n));
      await publisher.close();
      client.close();
    } finally {
      await running.close();
    }
  });

  it("retries a failing sink write with backoff before failing the session, and opens the stream's circuit breaker when it keeps failing", async () => {
    let failuresLeft = 2;
    let down = false;
    let writes = 0;
    const stored: number[] = [];
    const guarded = new SluiceServer({
      streams: {
        guarded: {
          publish: {
            retries: { attempts: 3, initialMs: 5, maxMs: 20 },
            breaker: { failureThreshold: 3, openMs: 300 },
            sink: {
              write(items) {
                writes++;
                if (down || failuresLeft-- > 0) throw new Error("database restarting");
                for (const item of items) stored.push(Number(new TextDecoder().decode(item.data)));
                return items.map(() => ({ accepted: true }));
              },
            },
          },
        },
      },
    });
    const running = await listen(guarded);
    try {
      const client = createSluiceClient({ baseUrl: running.url, transport: "http" });
      const publisher = client.publish<number>("guarded", { backoff: { initialMs: 10, maxMs: 50 } });
      const reconnects: string[] = [];
      publisher.onStateChange((state) => state.state === "reconnecting" && reconnects.push(`${state.error.code}: ${state.error.message}`));
      // Two failures, then success: the retries absorb them, the publisher never notices.
      await Promise.all([publisher.send(1), publisher.send(2)]);
      expect(stored).toEqual([1, 2]);
      expect(writes).toBe(3);
      expect(reconnects).toEqual([]);
      // Down for good: the try and two retries fail, three in a row open the breaker, and the
      // third retry is refused by it at once: the session fails with the breaker's error and
      // its retry-after, and while it is open no write reaches the sink.
      down = true;
      const writesBefore = writes;
      const waiting = publisher.send(3);
      await until(() => reconnects.length > 0, 10_000, "the session to fail");
      expect(reconnects[0]).toBe("source_failed: the sink of guarded is failing (sink failed: database restarting): its circuit breaker is open; publish again later");
      expect(writes - writesBefore).toBe(3);
      // It comes back: the half-open trial succeeds and the item lands once.
      down = false;
      expect((await waiting).seq).toBe(3);
      expect(stored).toEqual([1, 2, 3]);
      await publisher.close();
      client.close();
    } finally {
      await running.close();
    }
  }, 30_000);

  it("holds a publisher to the sink's pace: a slow sink keeps the server's buffer within the window", async () => {
    let maxBuffered = 0;
    let release: (() => void) | undefined;
    const slow = new SluiceServer({
      streams: {
        slow: {
          publish: {
            window: { items: 50, bytes: 1 << 20 },
            maxBatchItems: 10,
            sink: {
              async write(items) {
                await new Promise<void>((resolve) => (release = resolve));
                return items.map(() => ({ accepted: true }));
              },
            },
          },
        },
      },
    });
    const running = await listen(slow);
    try {
      const client = createSluiceClient({ baseUrl: running.url, transport: "http" });
      const publisher = client.publish<number>("slow", { queue: { capacity: 10_000 } });
      const sends = Array.from({ length: 500 }, (_, n) => publisher.send(n));
      for (let round = 0; round < 60 && publisher.stats.acked < 500; round++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        maxBuffered = Math.max(maxBuffered, publisher.stats.inFlight);
        release?.();
      }
      await Promise.all(sends);
      // What the publisher had sent and the server not yet acked never exceeded the window and the one batch in the sink.
      expect(maxBuffered).toBeGreaterThan(50);
      expect(maxBuffered).toBeLessThanOrEqual(50 + 10);
      await publisher.close();
      client.close();
    } finally {
      await running.close();
    }
  });

  it("tells publishers to go elsewhere when the server drains (unavailable, after acking what it took), and they go on at the next server: nothing lost, nothing twice", async () => {
    // Two instances in turn on one port, sharing one topic (as a durable engine would be shared).
    const shared = new Topic("shared", { historyItems: 100_000 });
    const serve = () => new SluiceServer({ streams: { d: { topic: shared, publish: {} } } });
    const firstServer = serve();
    const first = await listen(firstServer);
    const client = createSluiceClient({ baseUrl: first.url, transport: "http" });
    const publisher = client.publish<number>("d", { backoff: { initialMs: 20, maxMs: 50 } });
    const states: string[] = [];
    publisher.onStateChange((state) => states.push(state.state === "reconnecting" ? `reconnecting: ${state.error.code}` : state.state));
    const total = 20_000;
    const sends: Promise<unknown>[] = [];
    for (let n = 0; n < total / 2; n++) sends.push(publisher.send(n));
    await sends[100];
    await firstServer.drain();
    await first.close();
    const second = await listen(serve(), { port: first.port });
    try {
      for (let n = total / 2; n < total; n++) sends.push(publisher.send(n));
      await Promise.all(sends);
      expect(states).toContain("reconnecting: unavailable");
      expect(shared.stats.published).toBe(total);
      const subscriber = createSluiceClient({ baseUrl: second.url });
      const got: number[] = [];
      for await (const event of subscriber.subscribe<number>("d", { startAfter: { seq: shared.firstSeq - 1 } })) {
        if (event.kind === "item") got.push(event.value);
        if (got.length === total) break;
      }
      for (let i = 0; i < total; i++) if (got[i] !== i) throw new Error(`topic position ${i}: ${got[i]}`);
      await publisher.close();
      client.close();
      subscriber.close();
    } finally {
      await second.close();
    }
  });
});

describe("priorities and volume", () => {
  it("sends higher priorities first when the sink is the bottleneck: critical's p99 wait is at most a tenth of low's", async () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const throttled = new SluiceServer({
      streams: {
        throttled: {
          publish: {
            // Scarce credit: 8 items in flight, taken 4 at a time, ~1 item per ms.
            window: { items: 8, bytes: 1 << 20 },
            maxBatchItems: 4,
            sink: {
              async write(items) {
                await sleep(items.length);
                return items.map(() => ({ accepted: true }));
              },
            },
          },
        },
      },
    });
    const running = await listen(throttled);
    try {
      const client = createSluiceClient({ baseUrl: running.url, transport: "http" });
      const publisher = client.publish<number>("throttled");
      const levels = ["critical", "high", "normal", "low"] as const;
      const waits: Record<(typeof levels)[number], number[]> = { critical: [], high: [], normal: [], low: [] };
      const sends: Promise<unknown>[] = [];
      // A steady offer of 1 500 items/s (375/s per level) into a sink that takes ~1 000/s, for 2 s:
      // critical's share of the turns (8 of 15) covers its rate, so its items never queue; low's does not.
      let n = 0;
      for (let tick = 0; tick < 200; tick++) {
        for (let i = 0; i < 15; i++, n++) {
          const priority = levels[n % 4]!;
          const at = performance.now();
          sends.push(publisher.send(n, { priority }).then(() => waits[priority].push(performance.now() - at)));
        }
        await sleep(10);
      }
      await Promise.all(sends);
      const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.99)]!;
      const summary = Object.fromEntries(levels.map((level) => [level, Math.round(p99(waits[level]))]));
      console.log(`p99 wait from send to ack under a throttled sink, ms: ${JSON.stringify(summary)}`);
      expect(p99(waits.critical) * 10).toBeLessThanOrEqual(p99(waits.low));
      // Ordered by level: each waits less than the one below it.
      expect(p99(waits.critical)).toBeLessThan(p99(waits.high));
      expect(p99(waits.high)).toBeLessThan(p99(waits.normal));
      expect(p99(waits.normal)).toBeLessThan(p99(waits.low));
      await publisher.close();
      client.close();
    } finally {
      await running.close();
    }
  }, 60_000);

  it.each(Object.entries(TRANSPORTS))("serves the publishers of a shared, throttled sink by priority in the server's ingest queue: critical's p99 wait is at most a tenth of low's (%s)", async (_name, connection) => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const written = [0, 0, 0, 0];
    const shared = new SluiceServer({
      streams: {
        shared: {
          publish: {
            // One write at a time, ~1 item per ms, at most 4 items a write: the sink is the bottleneck.
            queue: { concurrency: 1 },
            window: { items: 8, bytes: 1 << 20 },
            maxBatchItems: 4,
            sink: {
              async write(items) {
                await sleep(items.length);
                for (const item of items) written[JSON.parse(new TextDecoder().decode(item.data)) as number]!++;
                return items.map(() => ({ accepted: true }));
              },
            },
          },
        },
      },
    });
    const running = await listen(shared);
    try {
      const levels = ["critical", "high", "normal", "low"] as const;
      // Four publishers, one per level: each has one level, so only the server's queue orders them.
      const clients = levels.map(() => createSluiceClient({ baseUrl: running.url, ...connection }));
      const publishers = levels.map((_, i) => clients[i]!.publish<number>("shared"));
      const waits: number[][] = [[], [], [], []];
      const sends: Promise<unknown>[] = [];
      // 1 600 items/s offered (400/s per publisher) into a sink that takes ~1 000/s, for 2 s.
      for (let tick = 0; tick < 200; tick++) {
        for (let level = 0; level < 4; level++) {
          for (let i = 0; i < 4; i++) {
            const at = performance.now();
            sends.push(publishers[level]!.send(level, { priority: levels[level]! }).then(() => waits[level]!.push(performance.now() - at)));
          }
        }
        await sleep(10);
      }
      await Promise.all(sends);
      const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.99)]!;
      console.log(`${_name}: p99 wait from send to ack, four publishers into one sink, ms: ${JSON.stringify(Object.fromEntries(levels.map((level, i) => [level, Math.round(p99(waits[i]!))])))}`);
      expect(written).toEqual([800, 800, 800, 800]);
      expect(p99(waits[0]!) * 10).toBeLessThanOrEqual(p99(waits[3]!));
      expect(p99(waits[0]!)).toBeLessThan(p99(waits[1]!));
      expect(p99(waits[1]!)).toBeLessThan(p99(waits[3]!));
      expect(shared.publishQueues.get("shared")!.droppedItems).toEqual([0, 0, 0, 0]);
      await Promise.all(publishers.map((publisher) => publisher.close()));
      for (const client of clients) client.close();
    } finally {
      await running.close();
    }
  }, 60_000);

  it.each(Object.entries(TRANSPORTS))("reports the server's ingest-queue drops to their publisher: send() rejects with the reason and pub.stats counts them by level; the publisher goes on (%s)", async (_name, connection) => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let writes = 0;
    const dropping = new SluiceServer({
      streams: {
        dropping: {
          publish: {
            queue: { concurrency: 1, capacity: 1, overflow: "drop_newest" },
            sink: {
              async write(items) {
                if (writes++ === 0) await released;
                return items.map(() => ({ accepted: true }));
              },
            },
          },
        },
      },
    });
    const running = await listen(dropping);
    try {
      const client = createSluiceClient({ baseUrl: running.url, ...connection });
      const queue = () => dropping.publishQueues.get("dropping");
      const [first, second, third] = [client.publish<string>("dropping"), client.publish<string>("dropping"), client.publish<string>("dropping")];
      // The first batch holds the sink, the second waits in the queue's one place, the third finds it full.
      const firstSend = first.send("a");
      await until(() => writes === 1, 10_000, "the first batch in the sink");
      const secondSend = second.send("b");
      await until(() => queue()!.waitingAt(2) === 1, 10_000, "the second batch waiting");
      const dropped = await third.send("c", { priority: "low" }).catch((error: unknown) => error);
      expect(dropped).toBeInstanceOf(PublishError);
      expect(dropped).toMatchObject({ failure: "dropped", code: "limit_exceeded", message: "dropped by the server: the ingest queue of dropping is full (1 batches waiting for its sink): the drop_newest policy dropped this low batch" });
      expect(third.stats.dropped).toEqual({ critical: 0, high: 0, normal: 0, low: 1 });
      expect(queue()!.droppedItems).toEqual([0, 0, 0, 1]);
      release();
      await Promise.all([firstSend, secondSend]);
      // Nothing else was lost: the dropping publisher's next item lands.
      await third.send("d", { priority: "low" });
      expect(third.stats.acked).toBe(1);
      await Promise.all([first.close(), second.close(), third.close()]);
      client.close();
    } finally {
      await running.close();
    }
  });

  it.each([
    ["HTTP/2", { transport: "http" }],
    ["HTTP/1.1 half duplex (PublishBatch)", { transport: "http", httpVersion: "1.1" }],
  ] as const)("throttles publishers on consumer lag: a slow subscriber slows them, they speed up again once it catches up, and pub.stats shows it (%s)", async (_name, connection) => {
    const lagging = new Topic("lagging", { historyItems: 10, subscriberQueueItems: 100_000 });
    const throttledServer = new SluiceServer({
      streams: {
        lagging: {
          topic: lagging,
          publish: {
            maxBatchItems: 50,
            // Small numbers, so a test sees every state in seconds.
            throttle: { targetLag: 500, criticalLag: 2_000, delayMs: 40, backoff: { initialMs: 80, factor: 2, maxMs: 320 }, recoveryCycles: 3 },
          },
        },
      },
    });
    const running = await listen(throttledServer);
    try {
      // The subscriber reads nothing at first: its window fills and the lag grows with every publish.
      const subscriber = createSluiceClient({ baseUrl: running.url });
      let reading = false;
      let opened!: () => void;
      const open = new Promise<void>((resolve) => (opened = resolve));
      let read = 0;
      const consumer = (async () => {
        for await (const event of subscriber.subscribe<number>("lagging", { window: { items: 100, bytes: 1 << 20 }, onState: (s) => s.state === "open" && opened() })) {
          while (!reading) await new Promise((resolve) => setTimeout(resolve, 20));
          if (event.kind === "item" && ++read === 6_000) break;
        }
      })();
      await open;
      const client = createSluiceClient({ baseUrl: running.url, ...connection });
      const publisher = client.publish<number>("lagging");
      const throttle = () => throttledServer.publishThrottles.get("lagging");
      const states = new Set<string>();
      // What the publisher learns from its acks.
      const seen = new Set<string>();
      const watch = setInterval(() => {
        if (throttle()) states.add(throttle()!.state);
        if (publisher.stats.throttle) seen.add(publisher.stats.throttle.state);
      }, 5);
      const rate = async (items: number, from: number) => {
        const started = performance.now();
        await Promise.all(Array.from({ length: items }, (_, n) => publisher.send(from + n)));
        return items / ((performance.now() - started) / 1000);
      };
      const free = await rate(400, 0); // below targetLag: no throttle
      const slowed = await rate(2_600, 400); // the lag passes targetLag, then criticalLag
      expect(throttle()!.lag).toBeGreaterThanOrEqual(2_000);
      expect([...states]).toEqual(expect.arrayContaining(["normal", "throttled", "backoff"]));
      expect(throttle()!.counters.throttledBatches).toBeGreaterThan(0);
      console.log(`publish rate: ${Math.round(free)} items/s below targetLag, ${Math.round(slowed)} items/s while throttled`);
      expect(slowed).toBeLessThan(free / 2);
      // The subscriber catches up: the backoff steps down, level by level, to normal.
      reading = true;
      await until(() => read >= 3_000, 20_000, "the subscriber to catch up");
      await rate(3_000, 3_000);
      await consumer;
      expect(throttle()!.state).toBe("normal");
      expect(throttle()!.level).toBe(0);
      clearInterval(watch);
      expect([...seen]).toEqual(expect.arrayContaining(["normal", "throttled", "backoff"]));
      expect(publisher.stats.throttle).toMatchObject({ state: "normal", level: 0, delayMs: 0 });
      expect(publisher.stats.throttle!.throttledAcks).toBeGreaterThan(0);
      expect(publisher.stats.throttle!.adjustments).toBeGreaterThanOrEqual(3);
      await publisher.close();
      client.close();
      subscriber.close();
    } finally {
      await running.close();
    }
  }, 60_000);

  it("counts only the subscribers named in throttle.consumers toward the lag: a stalled dashboard does not slow publishers, a stalled billing service does", async () => {
    const feed = new Topic("feed", { historyItems: 10, subscriberQueueItems: 100_000 });
    const named = new SluiceServer({
      // The principal is the caller's API key itself (a stand-in for a key table or a token's subject).
      authorize: ({ headers }) => headers.get("x-api-key") ?? "anonymous",
      streams: { feed: { topic: feed, publish: { maxBatchItems: 50, throttle: { targetLag: 200, criticalLag: 1_000, delayMs: 40, backoff: { initialMs: 80, factor: 2, maxMs: 160 }, consumers: ["billing"] } } } },
    });
    expect(() => new SluiceServer({ streams: { feed: { topic: feed, publish: { throttle: { consumers: ["billing"] } } } } })).toThrow("streams.feed.publish.throttle.consumers: names subscribers by the principal authorize returns, but there is no authorize hook");
    const running = await listen(named);
    /** A subscriber as `who` that reads nothing past its first window. */
    const stalled = async (who: string) => {
      const client = createSluiceClient({ baseUrl: running.url, apiKey: who });
      let opened!: () => void;
      const open = new Promise<void>((resolve) => (opened = resolve));
      const iterator = client.subscribe("feed", { window: { items: 10, bytes: 1 << 20 }, onState: (s) => s.state === "open" && opened() })[Symbol.asyncIterator]();
      void iterator.next();
      await open;
      return client;
    };
    try {
      const publisherClient = createSluiceClient({ baseUrl: running.url, apiKey: "shop" });
      const publisher = publisherClient.publish<number>("feed");
      const dashboard = await stalled("dashboard");
      await Promise.all(Array.from({ length: 3_000 }, (_, n) => publisher.send(n)));
      // 3 000 items behind, but not a consumer that counts: no throttling.
      expect(feed.consumerLag()).toBeGreaterThan(2_900);
      expect(named.publishThrottles.get("feed")).toMatchObject({ state: "normal", level: 0 });
      expect(publisher.stats.throttle).toMatchObject({ state: "normal", throttledAcks: 0 });
      const billing = await stalled("billing");
      await Promise.all(Array.from({ length: 1_500 }, (_, n) => publisher.send(3_000 + n)));
      expect(named.publishThrottles.get("feed")!.lag).toBeGreaterThanOrEqual(1_000);
      expect(named.publishThrottles.get("feed")!.state).toBe("backoff");
      expect(publisher.stats.throttle!.throttledAcks).toBeGreaterThan(0);
      await publisher.close();
      for (const client of [publisherClient, dashboard, billing]) client.close();
    } finally {
      await running.close();
    }
  }, 60_000);

  it("publishes 1 000 000 items from Node that a subscriber gets once each, in order", async () => {
    const million = new Topic("million", { historyItems: 10, subscriberQueueItems: 1_100_000 });
    const running = await listen(new SluiceServer({ streams: { million: { topic: million, publish: {} } } }));
    try {
      const subscriber = createSluiceClient({ baseUrl: running.url });
      let opened!: () => void;
      const open = new Promise<void>((resolve) => (opened = resolve));
      let next = 0;
      const reading = (async () => {
        for await (const event of subscriber.subscribe<number>("million", { onState: (s) => s.state === "open" && opened() })) {
          if (event.kind === "gap") throw new Error(`gap of ${event.count} at ${event.fromSeq}`);
          if (event.value !== next) throw new Error(`expected ${next}, got ${event.value}`);
          if (++next === 1_000_000) break;
        }
      })();
      await open;
      const client = createSluiceClient({ baseUrl: running.url, transport: "http" });
      const publisher = client.publish<number>("million");
      const started = performance.now();
      let last: Promise<unknown> = Promise.resolve();
      for (let n = 0; n < 1_000_000; n++) {
        last = publisher.send(n);
        // Hand over in slices: a million pending promises at once is the test's memory, not the product's.
        if (n % 10_000 === 9_999) await last;
      }
      await last;
      const seconds = (performance.now() - started) / 1000;
      await reading;
      console.log(`1 000 000 items published and acked in ${seconds.toFixed(1)} s (${Math.round(1_000_000 / seconds)} items/s)`);
      expect(next).toBe(1_000_000);
      expect(million.stats.published).toBe(1_000_000);
      expect(publisher.stats).toMatchObject({ acked: 1_000_000, inFlight: 0 });
      await publisher.close();
      client.close();
      subscriber.close();
    } finally {
      await running.close();
    }
  }, 120_000);
});

describe("PublishBatch, the half-duplex publish call (PROTOCOL.md §3.4.1)", () => {
  const batches = new Topic("batches", { historyItems: 1_000 });
  let running: Listening;
  let failing = false;
  beforeAll(async () => {
    running = await listen(
      new SluiceServer({
        limits: { maxItemBytes: 100 },
        streams: {
          batches: { topic: batches, publish: { window: { items: 10, bytes: 500 } } },
          fragile: {
            publish: {
              retries: { attempts: 0 },
              breaker: { failureThreshold: 1_000 },
              sink: {
                write: (items) => {
                  if (failing) throw new Error("disk full");
                  return items.map(() => ({ accepted: true }));
                },
              },
            },
          },
        },
      }),
    );
  });
  afterAll(async () => {
    await running.close();
  });
  const raw = () => createClient(PublishService, createConnectTransport({ baseUrl: running.url, httpVersion: "1.1" }));
  const item = (n: number) => new TextEncoder().encode(String(n));
  const refusal = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => ConnectError.from(error));

  it("answers a probe with where the numbering continues, the limits and the window", async () => {
    const response = await raw().publishBatch({ stream: "batches", publisherId: "probe", resumeAfterSeq: 0n, firstSeq: 0n, items: [] });
    expect(response.nextSeq).toBe(1n);
    expect(response.ack?.seq).toBe(0n);
    expect(response.limits?.maxItemBytes).toBe(100);
    expect(response.window).toMatchObject({ items: 10, bytes: 500n });
  });

  it("takes a retried batch once: the items it already has are skipped", async () => {
    const before = batches.stats.published;
    const request = { stream: "batches", publisherId: "retry", resumeAfterSeq: 0n, firstSeq: 1n, items: [item(1), item(2), item(3)] };
    expect((await raw().publishBatch(request)).ack?.seq).toBe(3n);
    const again = await raw().publishBatch(request);
    expect(again.ack?.seq).toBe(3n);
    expect(again.nextSeq).toBe(4n);
    // A batch that overlaps: only its new part is taken.
    expect((await raw().publishBatch({ ...request, resumeAfterSeq: 3n, firstSeq: 2n, items: [item(2), item(3), item(4)] })).ack?.seq).toBe(4n);
    expect(batches.stats.published - before).toBe(4);
  });

  it("refuses a gap, items without first_seq, a batch over the window and an item over the limit, naming the field, and takes nothing", async () => {
    const before = batches.stats.published;
    const gap = await refusal(raw().publishBatch({ stream: "batches", publisherId: "gaps", resumeAfterSeq: 0n, firstSeq: 5n, items: [item(5)] }));
    expect(gap).toMatchObject({ code: Code.InvalidArgument, rawMessage: 'first_seq: 5 leaves a gap: the next seq of publisher "gaps" is 1' });
    const zero = await refusal(raw().publishBatch({ stream: "batches", publisherId: "gaps", resumeAfterSeq: 0n, firstSeq: 0n, items: [item(1)] }));
    expect(zero).toMatchObject({ code: Code.InvalidArgument, rawMessage: "first_seq: must be at least 1 when the batch carries items" });
    const wide = await refusal(raw().publishBatch({ stream: "batches", publisherId: "gaps", resumeAfterSeq: 0n, firstSeq: 1n, items: Array.from({ length: 11 }, (_, i) => item(i)) }));
    expect(wide).toMatchObject({ code: Code.ResourceExhausted, rawMessage: "items: 11 items / 12 bytes, over the window 10 / 500" });
    const big = await refusal(raw().publishBatch({ stream: "batches", publisherId: "gaps", resumeAfterSeq: 0n, firstSeq: 1n, items: [item(1), new Uint8Array(101)] }));
    expect(big).toMatchObject({ code: Code.ResourceExhausted, rawMessage: "items[1]: 101 bytes, over the max item size 100" });
    expect(batches.stats.published - before).toBe(0);
  });

  it("fails the call with source_failed (retryable) when the sink fails, and a retry then takes the batch", async () => {
    failing = true;
    const request = { stream: "fragile", publisherId: "fragile", resumeAfterSeq: 0n, firstSeq: 1n, items: [item(1)] };
    const failed = await refusal(raw().publishBatch(request));
    expect(failed).toMatchObject({ code: Code.Internal, rawMessage: "sink failed: disk full" });
    // The Sluice error travels in headers (PROTOCOL.md §9.3): a client retries a failing sink instead of giving up.
    expect([failed!.metadata.get("sluice-error"), failed!.metadata.get("sluice-retryable")]).toEqual(["source_failed", "true"]);
    failing = false;
    expect((await raw().publishBatch(request)).ack?.seq).toBe(1n);
  });

  it("lets a half-duplex publisher ride out a failing sink: it reconnects on source_failed and the items land once", async () => {
    failing = true;
    const client = createSluiceClient({ baseUrl: running.url, transport: "http", httpVersion: "1.1" });
    const publisher = client.publish<number>("fragile", { backoff: { initialMs: 10, maxMs: 20 } });
    const reasons: string[] = [];
    publisher.onStateChange((state) => {
      if (state.state === "reconnecting") {
        reasons.push(`${state.error.code} ${state.error.retryable}`);
        failing = false;
      }
    });
    const receipts = await Promise.all([publisher.send(1), publisher.send(2)]);
    expect(receipts.map((r) => r.seq)).toEqual([1, 2]);
    expect(reasons[0]).toBe("source_failed true");
    await publisher.close();
    client.close();
  });
});
