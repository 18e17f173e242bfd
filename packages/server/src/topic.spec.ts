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
  it("numbers items from 1 and starts a new subscriber at the head", () => {
    const topic = new Topic("t");
    topic.publish(item(1));
    topic.publish(item(2));
    expect(topic.subscribe(undefined).nextSeq).toBe(3);
  });

  it("replays retained history after a resume position", async () => {
    const topic = new Topic("t", { historyItems: 10 });
    for (let i = 1; i <= 5; i++) topic.publish(item(i));
    const { nextSeq, replayed, items } = topic.subscribe(2);
    expect(nextSeq).toBe(3);
    expect(replayed).toBe(3);
    expect(topic.subscribe(5).replayed).toBe(0);
    const got = await take(items, 3);
    expect(got.map((g) => ("data" in g ? g.data[0] : -1))).toEqual([3, 4, 5]);
  });

  it("fails with resume_position_lost for a position older than the history", () => {
    const topic = new Topic("t", { historyItems: 3 });
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
  it("refuses a resume position the topic never reached (it restarted), instead of reusing seqs", () => {
    const topic = new Topic("t");
    topic.publish(item(1));
    expect(() => topic.subscribe(5)).toThrow(/resume after seq 5 but the topic is at seq 1/);
  });
});
