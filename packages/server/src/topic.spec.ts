import { SluiceError } from "@sluice/core";
import type { SourceYield } from "@sluice/driver";
import { describe, expect, it } from "vitest";
import { Topic } from "./topic.js";

const item = (n: number) => new Uint8Array([n]);

async function take(items: AsyncIterable<SourceYield>, n: number): Promise<SourceYield[]> {
  const out: SourceYield[] = [];
  const it = items[Symbol.asyncIterator]();
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  await it.return?.();
  return out;
}

describe("Topic", () => {
  it("numbers items from firstSeq and starts a new subscriber at the head", () => {
    const topic = new Topic("t", { firstSeq: 1 });
    expect(topic.publish(item(1))).toEqual({ seq: 1, duplicate: false });
    topic.publish(item(2));
    expect(topic.subscribe(undefined).nextSeq).toBe(3);
  });

  it("replays retained history after a resume position", async () => {
    const topic = new Topic("t", { historyItems: 10, firstSeq: 1 });
    for (let i = 1; i <= 5; i++) topic.publish(item(i));
    const { nextSeq, replayed, items } = topic.subscribe(2);
    expect(nextSeq).toBe(3);
    expect(replayed).toBe(3);
    expect(topic.subscribe(5).replayed).toBe(0);
    const got = await take(items, 3);
    expect(got.map((g) => ("data" in g ? g.data[0] : -1))).toEqual([3, 4, 5]);
  });

  it("fails with resume_position_lost for a position older than the history", () => {
    const topic = new Topic("t", { historyItems: 3, firstSeq: 1 });
    for (let i = 1; i <= 10; i++) topic.publish(item(i));
    expect(() => topic.subscribe(2)).toThrow(SluiceError);
    try {
      topic.subscribe(2);
    } catch (error) {
      expect((error as SluiceError).code).toBe("resume_position_lost");
      expect((error as SluiceError).message).toMatch(/older than the retained history \(oldest 8\)/);
    }
  });

  it("drop_oldest turns the oldest queued items into one gap and keeps the newest", async () => {
    const topic = new Topic("t", { subscriberQueueItems: 3, overflow: "drop_oldest" });
    const { items } = topic.subscribe(undefined);
    for (let i = 1; i <= 6; i++) topic.publish(item(i));
    const got = await take(items, 4);
    expect(got[0]).toEqual({ gap: 3, reason: "dropped_oldest" });
    expect(got.slice(1).map((g) => ("data" in g ? g.data[0] : -1))).toEqual([4, 5, 6]);
    expect(topic.stats.dropped).toBe(3);
  });

  it("drop_newest keeps the queued items and reports the newer ones as a gap", async () => {
    const topic = new Topic("t", { subscriberQueueItems: 2, overflow: "drop_newest" });
    const { items } = topic.subscribe(undefined);
    for (let i = 1; i <= 5; i++) topic.publish(item(i));
    const got = await take(items, 3);
    expect(got.map((g) => ("data" in g ? g.data[0] : g))).toEqual([1, 2, { gap: 3, reason: "dropped_newest" }]);
  });

  it("disconnect fails a subscriber that falls behind with slow_consumer", async () => {
    const topic = new Topic("t", { subscriberQueueItems: 2, overflow: "disconnect" });
    const { items } = topic.subscribe(undefined);
    for (let i = 1; i <= 3; i++) topic.publish(item(i));
    await expect(take(items, 3)).rejects.toMatchObject({ code: "slow_consumer" });
    expect(topic.stats.disconnected).toBe(1);
  });

  it("ends a waiting subscriber at once when it is returned (cancel of an idle stream)", async () => {
    const topic = new Topic("t");
    const it = topic.subscribe(undefined).items[Symbol.asyncIterator]();
    const pending = it.next();
    await it.return?.();
    await expect(pending).resolves.toEqual({ done: true, value: undefined });
    expect(topic.stats.subscribers).toBe(0);
  });
});

describe("Topic restarts", () => {
  it("numbers from the clock (ms × 1 000), so a later incarnation starts above every seq of an earlier one", () => {
    const before = Date.now() * 1_000;
    const first = new Topic("t");
    expect(first.firstSeq).toBeGreaterThanOrEqual(before);
    expect(first.firstSeq).toBeLessThanOrEqual(Date.now() * 1_000);
    expect(Number.isSafeInteger(first.firstSeq)).toBe(true);
    for (let i = 0; i < 900; i++) first.publish(item(i));
    const last = first.nextSeq - 1;
    // A millisecond later, a new topic (the restarted process) starts above it.
    const started = Date.now();
    while (Date.now() === started) {
      /* spin into the next millisecond */
    }
    expect(new Topic("t").firstSeq).toBeGreaterThan(last);
  });

  it("refuses a position from before a restart with resume_position_lost naming the restart (resumeExpired: fail)", () => {
    const old = new Topic("t", { firstSeq: 1_000 });
    for (let i = 0; i < 246; i++) old.publish(item(i));
    const position = old.nextSeq - 1;
    const restarted = new Topic("t", { firstSeq: 5_000 });
    for (let i = 0; i < 300; i++) restarted.publish(item(i));
    expect(() => restarted.subscribe(position)).toThrow(SluiceError);
    expect(() => restarted.subscribe(position)).toThrow(/^topic t restarted: resume after seq 1245 is from before the restart \(it numbers from 5000 now\)/);
  });

  it("continues after a restart at the oldest retained item with a restarted gap (resumeExpired: gap)", async () => {
    const restarted = new Topic("t", { firstSeq: 5_000, historyItems: 100, resumeExpired: "gap" });
    for (let i = 0; i < 300; i++) restarted.publish(item(i));
    const { nextSeq, gap, replayed, items } = restarted.subscribe(1_245);
    expect(nextSeq).toBe(5_200);
    expect(gap).toEqual({ fromSeq: 1_246, count: 5_200 - 1_246, reason: "restarted" });
    expect(replayed).toBe(100);
    const [firstItem] = await take(items, 1);
    expect(firstItem).toMatchObject({ data: item(200) });
    // A position within this incarnation but older than its history is history_expired, not restarted.
    expect(restarted.subscribe(5_050).gap).toEqual({ fromSeq: 5_051, count: 149, reason: "history_expired" });
  });

  it("refuses a resume position the topic never reached (another topic's), instead of reusing seqs", () => {
    const topic = new Topic("t", { firstSeq: 1 });
    topic.publish(item(1));
    expect(() => topic.subscribe(5)).toThrow(/resume after seq 5 but the topic is at seq 1: not the topic this position is from/);
  });

  it("refuses a firstSeq that is not a safe integer ≥ 1", () => {
    expect(() => new Topic("t", { firstSeq: 0 })).toThrow(RangeError);
    expect(() => new Topic("t", { firstSeq: 2 ** 53 })).toThrow(/firstSeq must be a safe integer/);
  });
});

describe("Topic history bounds and idempotent publish (TopicEngine)", () => {
  const bytes = (n: number) => new Uint8Array(n);

  it("keeps history within its byte bound, dropping the oldest first (the newest always stays)", () => {
    const topic = new Topic("t", { firstSeq: 1, historyBytes: 1_000 });
    for (let i = 0; i < 10; i++) topic.publish(bytes(300));
    expect(topic.retained).toEqual({ items: 3, bytes: 900 });
    expect(topic.oldestRetained).toBe(8);
    expect(() => topic.subscribe(5)).toThrow(/older than the retained history \(oldest 8\)/);
    topic.publish(bytes(5_000));
    expect(topic.retained).toEqual({ items: 1, bytes: 5_000 });
  });

  it("lets items age out of the history, also while nothing is published", () => {
    let now = 0;
    const topic = new Topic("t", { firstSeq: 1, historyMaxAgeMs: 1_000, now: () => now });
    topic.publish(bytes(1));
    now = 600;
    topic.publish(bytes(1));
    expect(topic.subscribe(0).replayed).toBe(2);
    now = 1_200; // seq 1 is 1 200 ms old, seq 2 600 ms
    expect(topic.oldestRetained).toBe(2);
    expect(topic.subscribe(1).replayed).toBe(1);
    expect(() => topic.subscribe(0)).toThrow(/older than the retained history \(oldest 2\)/);
    now = 1_700;
    expect(topic.retained.items).toBe(0);
    expect(topic.oldestRetained).toBe(3);
  });

  it("publishes a keyed item once: a repeat within the window answers the first seq as a duplicate and reaches no subscriber", async () => {
    let now = 0;
    const topic = new Topic("t", { firstSeq: 1, dedupeWindowMs: 10_000, now: () => now });
    const { items } = topic.subscribe(undefined);
    expect(topic.publish(item(1), { key: "order-7" })).toEqual({ seq: 1, duplicate: false });
    expect(topic.publish(item(1), { key: "order-7" })).toEqual({ seq: 1, duplicate: true });
    expect(topic.publish(item(2), { key: "order-8" })).toEqual({ seq: 2, duplicate: false });
    expect(topic.publish(item(3))).toEqual({ seq: 3, duplicate: false });
    now = 10_001; // the window has passed: the key is new again
    expect(topic.publish(item(1), { key: "order-7" })).toEqual({ seq: 4, duplicate: false });
    const got = await take(items, 4);
    expect(got.map((g) => ("data" in g ? g.data[0] : -1))).toEqual([1, 2, 3, 1]);
    expect(topic.stats.published).toBe(4);
  });

  it("remembers at most maxDedupeKeys keys, forgetting the oldest", () => {
    const topic = new Topic("t", { firstSeq: 1, maxDedupeKeys: 2 });
    topic.publish(item(1), { key: "a" });
    topic.publish(item(2), { key: "b" });
    topic.publish(item(3), { key: "c" }); // "a" is forgotten to make room
    expect(topic.publish(item(2), { key: "b" }).duplicate).toBe(true);
    expect(topic.publish(item(1), { key: "a" })).toEqual({ seq: 4, duplicate: false });
  });

  it("refuses bounds below their minimum", () => {
    expect(() => new Topic("t", { historyBytes: 0 })).toThrow(/historyBytes must be at least 1, got 0/);
    expect(() => new Topic("t", { subscriberQueueItems: 0 })).toThrow(/subscriberQueueItems must be at least 1/);
    expect(new Topic("t", { historyItems: 0 }).history.maxItems).toBe(0);
  });
});
