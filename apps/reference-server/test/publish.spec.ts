/**
 * Publishing through the built CLI (PROTOCOL.md §3.4): the embedded `news`
 * topic takes publishing, so `npm start` shows both directions; a config's
 * publish permissions are separate from subscribe permissions and enforced;
 * configs that cannot be enforced are refused.
 */
import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSluiceClient } from "@sluice/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, startCli } from "./start-cli.js";

const WRITER = "writer-key-0123456789";
const READER = "reader-key-0123456789";

describe("the embedded defaults", () => {
  let child: ChildProcess;
  let url = "";
  beforeAll(async () => {
    ({ child, url } = await startCli([]));
  });
  afterAll(() => {
    child?.kill("SIGKILL");
  });

  it("take publishing into news: a subscriber gets what was published, and GET /streams says which streams take it", async () => {
    const client = createSluiceClient({ baseUrl: url });
    const streams = (await (await fetch(`${url}/streams`)).json()) as { streams: { name: string; publish: boolean }[] };
    expect(streams.streams.filter((s) => s.publish).map((s) => s.name)).toEqual(["news"]);
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const got: string[] = [];
    const reading = (async () => {
      for await (const event of client.subscribe<{ headline?: string }>("news", { onState: (s) => s.state === "open" && opened() })) {
        if (event.kind === "item" && event.value.headline?.startsWith("published ")) got.push(event.value.headline);
        if (got.length === 3) break;
      }
    })();
    await open;
    const publisher = client.publish<{ headline: string }>("news");
    const receipts = await Promise.all([1, 2, 3].map((n) => publisher.send({ headline: `published ${n}` })));
    expect(receipts.map((r) => r.seq)).toEqual([1, 2, 3]);
    await reading;
    expect(got).toEqual(["published 1", "published 2", "published 3"]);
    await publisher.close();
    client.close();
  });

  it("count published items, open publishers and ended publish sessions in /metrics", async () => {
    const metric = async (line: RegExp) => Number(line.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);
    const items = /^sluice_published_items_total\{stream="news"\} (\d+)$/m;
    const ended = /^sluice_publish_sessions_ended_total\{stream="news",outcome="end"\} (\d+)$/m;
    const active = /^sluice_active_publishers (\d+)$/m;
    const [itemsBefore, endedBefore] = [await metric(items), await metric(ended)];
    const client = createSluiceClient({ baseUrl: url });
    const publisher = client.publish<{ headline: string }>("news");
    await Promise.all([1, 2, 3, 4, 5].map((n) => publisher.send({ headline: `counted ${n}` })));
    expect(await metric(items)).toBe(itemsBefore + 5);
    expect(await metric(active)).toBe(1);
    await publisher.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await metric(active)).toBe(0);
    expect(await metric(ended)).toBe(endedBefore + 1);
    client.close();
  });

  it("refuse publishing into a stream that takes none, naming it", async () => {
    const client = createSluiceClient({ baseUrl: url });
    await expect(client.publish("ticks").send({})).rejects.toMatchObject({ code: "permission_denied", message: "stream ticks does not take publishing" });
    client.close();
  });
});

describe("publish permissions (examples/ingest.yaml)", () => {
  let child: ChildProcess;
  let url = "";
  beforeAll(async () => {
    ({ child, url } = await startCli(["--config", join(import.meta.dirname, "..", "examples", "ingest.yaml")], { ORDERS_WRITER_KEY: WRITER, ORDERS_READER_KEY: READER }));
  });
  afterAll(() => {
    child?.kill("SIGKILL");
  });

  it("let a principal that publish.allow names publish, and refuse one that may only subscribe", async () => {
    const reader = createSluiceClient({ baseUrl: url, apiKey: READER });
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const reading = (async () => {
      for await (const event of reader.subscribe<{ id: number }>("orders", { onState: (s) => s.state === "open" && opened() })) if (event.kind === "item") return event.value;
      return undefined;
    })();
    await open;
    const writer = createSluiceClient({ baseUrl: url, apiKey: WRITER });
    expect((await writer.publish("orders").send({ id: 1 })).seq).toBe(1);
    expect(await reading).toEqual({ id: 1 });
    writer.close();
    await expect(reader.publish("orders").send({ id: 2 })).rejects.toMatchObject({ code: "permission_denied", message: "dashboard may not publish to orders" });
    const anonymous = createSluiceClient({ baseUrl: url });
    await expect(anonymous.publish("orders").send({ id: 3 })).rejects.toMatchObject({ code: "unauthenticated" });
    reader.close();
    anonymous.close();
  });

  it("dead-letter an order that fails order.schema.json into orders.dlq, which the writer may read and the reader may not", async () => {
    const writer = createSluiceClient({ baseUrl: url, apiKey: WRITER });
    await expect(writer.publish("orders", { publisherId: "till-7" }).send({ id: "seven" })).rejects.toMatchObject({ failure: "dead_lettered", deadLetterTopic: "orders.dlq", message: "dead-lettered: validation: /id: must be integer" });
    const { streams } = (await (await fetch(`${url}/streams`, { headers: { "x-api-key": WRITER } })).json()) as { streams: { name: string; history?: { oldestSeq: number } }[] };
    const dlq = streams.find((s) => s.name === "orders.dlq")!;
    for await (const event of writer.subscribe<{ publisherId: string; reason: string }>("orders.dlq", { startAfter: { seq: dlq.history!.oldestSeq - 1 } })) {
      if (event.kind !== "item") continue;
      expect(event.value).toMatchObject({ publisherId: "till-7", reason: "validation: /id: must be integer" });
      break;
    }
    writer.close();
    // Created for orders, the dead-letter stream still denies who its deadLetters.allow does not name: GET /streams does not show it, and a subscription is refused.
    const reader = createSluiceClient({ baseUrl: url, apiKey: READER });
    const listed = (await (await fetch(`${url}/streams`, { headers: { "x-api-key": READER } })).json()) as { streams: { name: string }[] };
    expect(listed.streams.map((s) => s.name)).toEqual(["orders"]);
    const refused = (async () => {
      for await (const _ of reader.subscribe("orders.dlq")) return "item";
      return "ended";
    })();
    await expect(refused).rejects.toMatchObject({ code: "permission_denied", message: "dashboard may not subscribe to orders.dlq" });
    reader.close();
  });
});

describe("lag-based throttling of publishers", () => {
  let child: ChildProcess;
  let url = "";
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-throttle-"));
    const config = join(dir, "throttle.yaml");
    writeFileSync(
      config,
      [
        "streams:",
        "  feed:",
        "    source: { type: topic, historyItems: 100, queueItems: 100000 }",
        "    publish:",
        "      throttle: { targetLag: 200, criticalLag: 1000, delayMs: 30, backoff: { initialMs: 60, factor: 2, maxMs: 240 }, recoveryCycles: 2 }",
      ].join("\n"),
    );
    ({ child, url } = await startCli(["--config", config]));
  });
  afterAll(() => {
    child?.kill("SIGKILL");
  });

  it("slows publishers while a subscriber lags, and shows it in /metrics", async () => {
    const metric = async (name: string) => Number(new RegExp(`^${name}\\{stream="feed"\\} (\\S+)$`, "m").exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? NaN);
    // A subscriber that never reads: once its window is full it falls behind with every item.
    const stalled = createSluiceClient({ baseUrl: url });
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const iterator = stalled.subscribe("feed", { window: { items: 10, bytes: 1 << 20 }, onState: (s) => s.state === "open" && opened() })[Symbol.asyncIterator]();
    void iterator.next();
    await open;
    const client = createSluiceClient({ baseUrl: url });
    const publisher = client.publish<number>("feed");
    await Promise.all(Array.from({ length: 3_000 }, (_, n) => publisher.send(n)));
    expect(await metric("sluice_publish_consumer_lag")).toBeGreaterThanOrEqual(1_000);
    expect(await metric("sluice_publish_throttle_state")).toBe(2);
    expect(await metric("sluice_publish_throttle_level")).toBeGreaterThan(0);
    expect(await metric("sluice_publish_throttled_batches_total")).toBeGreaterThan(0);
    expect(await metric("sluice_publish_throttle_adjustments_total")).toBeGreaterThanOrEqual(2);
    await publisher.close();
    client.close();
    stalled.close();
  }, 60_000);
});

describe("publish in a config", () => {
  it("is refused where it cannot work or cannot be enforced, every problem in one pass", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-publish-"));
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      [
        "streams:",
        "  ticks:",
        "    source: { type: generator }",
        "    publish: {}",
        "  news:",
        "    source: { type: topic }",
        "    publish: { allow: [\"*\"], window: { items: 0, bytes: 10 } }",
        "  feed:",
        "    source: { type: topic }",
        "    publish: { throttle: { targetLag: 500, criticalLag: 100 } }",
        "  billing:",
        "    source: { type: topic }",
        "    publish: { throttle: { consumers: [billing-service] } }",
        "  queued:",
        "    source: { type: topic }",
        "    publish: { queue: { concurrency: 0, overflow: sometimes } }",
      ].join("\n"),
    );
    const result = spawnSync(process.execPath, [cli, "validate", file], { encoding: "utf8" });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split("\n").slice(1)).toEqual([
      "  streams.news.publish.window.items: must be above 0, got 0",
      "  streams.queued.publish.queue.concurrency: must be above 0, got 0",
      '  streams.queued.publish.queue.overflow: Invalid option: expected one of "block"|"drop_newest"|"drop_oldest"|"error"',
      "  streams.ticks.publish: only topic streams take publishing into their topic (this one's source is generator); give it a publish.sink to publish elsewhere",
      "  streams.feed.publish.throttle: criticalLag (100) must be above targetLag (500)",
      "  streams.news.publish.allow: restricts who may publish, but there is no auth section to tell who is asking: add auth (apiKeys or jwt), or remove publish.allow",
      "  streams.billing.publish.throttle.consumers: names subscribers by their principal, but there is no auth section to tell who is subscribing: add auth (apiKeys or jwt), or remove consumers",
    ]);
  });
});
