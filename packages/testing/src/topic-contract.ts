/**
 * The topic contract (the server's TopicEngine), as one suite that every
 * engine runs: the in-memory Topic in @sluice/server, the JetStream one in
 * @sluice/topic-nats. Typed structurally, so this package needs no server.
 */
import type { SourceYield } from "@sluice/driver";
import { describe, expect, it } from "vitest";

/** What the suite needs of a topic engine (a structural slice of TopicEngine). */
export interface ContractTopic {
  /** The topic's name: its own subject, and the root of the subjects under it. */
  readonly name: string;
  publish(data: Uint8Array, options?: { key?: string; subject?: string }): { seq: number; duplicate: boolean } | Promise<{ seq: number; duplicate: boolean }>;
  subscribe(
    afterSeq: number | undefined,
    signal?: AbortSignal,
    options?: { consumer?: string; filter?: string },
  ):
    | { nextSeq: number; replayed: number; gap?: { fromSeq: number; count: number; reason: string }; items: AsyncIterable<SourceYield> }
    | Promise<{ nextSeq: number; replayed: number; gap?: { fromSeq: number; count: number; reason: string }; items: AsyncIterable<SourceYield> }>;
  consumerLag?(consumers?: ReadonlySet<string>): number;
}

/** How the suite asks for a fresh topic. */
export interface ContractTopicOptions {
  readonly historyItems?: number;
  readonly subscriberQueueItems?: number;
  readonly overflow?: "drop_oldest" | "drop_newest" | "disconnect";
  readonly resumeExpired?: "fail" | "gap";
}

const text = (s: string) => new TextEncoder().encode(s);
const read = (data: Uint8Array) => new TextDecoder().decode(data);
/** The topic seq an item's cursor holds (8 bytes, big-endian). */
const readSeq = (cursor: Uint8Array | undefined) => (cursor ? Number(new DataView(cursor.buffer, cursor.byteOffset, 8).getBigUint64(0)) : undefined);

/** One iterator per subscription: breaking out of a for-await would end (unsubscribe) it. */
const iterators = new WeakMap<AsyncIterable<SourceYield>, AsyncIterator<SourceYield>>();

/** Reads `count` entries (items and gaps), or fewer if the subscription ends first; the subscription stays open. */
async function take(items: AsyncIterable<SourceYield>, count: number): Promise<SourceYield[]> {
  let iterator = iterators.get(items);
  if (!iterator) iterators.set(items, (iterator = items[Symbol.asyncIterator]()));
  const out: SourceYield[] = [];
  while (out.length < count) {
    const next = await iterator.next();
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}

/** Seqs covered by entries read from `nextSeq` on: each item one, each gap its count. */
function coverage(nextSeq: number, entries: readonly SourceYield[]): { items: { seq: number; value: string }[]; gaps: { fromSeq: number; count: number; reason: string }[]; next: number } {
  let seq = nextSeq;
  const items: { seq: number; value: string }[] = [];
  const gaps: { fromSeq: number; count: number; reason: string }[] = [];
  for (const entry of entries) {
    if ("gap" in entry) {
      gaps.push({ fromSeq: seq, count: entry.gap, reason: entry.reason });
      seq += entry.gap;
    } else {
      items.push({ seq, value: read(entry.data) });
      seq++;
    }
  }
  return { items, gaps, next: seq };
}

/**
 * Runs the contract against `open`, which makes a new, empty topic of a
 * unique name with the options given (and may register its cleanup).
 */
export function describeTopicContract(engine: string, open: (options: ContractTopicOptions) => Promise<ContractTopic>): void {
  describe(`the topic contract: ${engine}`, () => {
    it("fans out every item to every subscriber once, in order, with contiguous seqs", async () => {
      const topic = await open({});
      const [a, b] = await Promise.all([topic.subscribe(undefined), topic.subscribe(undefined)]);
      const seqs: number[] = [];
      for (let i = 0; i < 20; i++) seqs.push((await topic.publish(text(`i${i}`))).seq);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
      for (const sub of [a, b]) {
        expect(sub.nextSeq).toBe(seqs[0]);
        const got = coverage(sub.nextSeq, await take(sub.items, 20));
        expect(got.items).toEqual(seqs.map((seq, i) => ({ seq, value: `i${i}` })));
      }
    });

    it("replays the retained history after a resume position, and says how much", async () => {
      const topic = await open({});
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) seqs.push((await topic.publish(text(`h${i}`))).seq);
      const sub = await topic.subscribe(seqs[1]);
      expect(sub.nextSeq).toBe(seqs[2]);
      expect(sub.replayed).toBe(3);
      expect(coverage(sub.nextSeq, await take(sub.items, 3)).items.map((i) => i.value)).toEqual(["h2", "h3", "h4"]);
      // Then live items follow the replay.
      await topic.publish(text("h5"));
      expect(coverage(seqs[4]! + 1, await take(sub.items, 1)).items).toEqual([{ seq: seqs[4]! + 1, value: "h5" }]);
    });

    it("refuses a resume position older than the history (resumeExpired fail) with resume_position_lost", async () => {
      const topic = await open({ historyItems: 3 });
      const seqs: number[] = [];
      for (let i = 0; i < 6; i++) seqs.push((await topic.publish(text(`e${i}`))).seq);
      await expect(Promise.resolve().then(() => topic.subscribe(seqs[0]))).rejects.toMatchObject({ code: "resume_position_lost" });
    });

    it("continues after an expired position with a history_expired gap, then the oldest retained item (resumeExpired gap)", async () => {
      const topic = await open({ historyItems: 3, resumeExpired: "gap" });
      const seqs: number[] = [];
      for (let i = 0; i < 6; i++) seqs.push((await topic.publish(text(`g${i}`))).seq);
      const sub = await topic.subscribe(seqs[0]);
      expect(sub.gap).toEqual({ fromSeq: seqs[1], count: 2, reason: "history_expired" });
      expect(sub.nextSeq).toBe(seqs[3]);
      expect(coverage(sub.nextSeq, await take(sub.items, 3)).items.map((i) => i.value)).toEqual(["g3", "g4", "g5"]);
    });

    it("refuses a resume position the topic never reached with resume_position_lost (another topic's seq)", async () => {
      const topic = await open({});
      const { seq } = await topic.publish(text("x"));
      await expect(Promise.resolve().then(() => topic.subscribe(seq + 1_000))).rejects.toMatchObject({ code: "resume_position_lost" });
    });

    it("publishes a keyed item once: a repeat answers the first seq as a duplicate, and subscribers see one", async () => {
      const topic = await open({});
      const sub = await topic.subscribe(undefined);
      const first = await topic.publish(text("once"), { key: "k-1" });
      const again = await topic.publish(text("once"), { key: "k-1" });
      expect(first.duplicate).toBe(false);
      expect(again).toEqual({ seq: first.seq, duplicate: true });
      await topic.publish(text("next"));
      expect(coverage(sub.nextSeq, await take(sub.items, 2)).items).toEqual([
        { seq: first.seq, value: "once" },
        { seq: first.seq + 1, value: "next" },
      ]);
    });

    it.each(["drop_oldest", "drop_newest"] as const)("%s: a subscriber that falls behind gets a gap of that reason, and every seq exactly once, as an item or in the gap", async (overflow) => {
      const topic = await open({ subscriberQueueItems: 10, overflow });
      const sub = await topic.subscribe(undefined);
      const seqs: number[] = [];
      for (let i = 0; i < 50; i++) seqs.push((await topic.publish(text(`o${i}`))).seq);
      const entries: SourceYield[] = [];
      for (let covered = sub.nextSeq; covered <= seqs.at(-1)!; ) {
        const [entry] = await take(sub.items, 1);
        if (!entry) break;
        entries.push(entry);
        covered += "gap" in entry ? entry.gap : 1;
      }
      const got = coverage(sub.nextSeq, entries);
      expect(got.next).toBe(seqs.at(-1)! + 1);
      expect(got.gaps.length).toBeGreaterThan(0);
      expect(got.gaps.every((g) => g.reason === (overflow === "drop_oldest" ? "dropped_oldest" : "dropped_newest"))).toBe(true);
      // Items are the published ones at their seqs.
      for (const item of got.items) expect(item.value).toBe(`o${item.seq - seqs[0]!}`);
      if (overflow === "drop_oldest") expect(got.items.at(-1)).toEqual({ seq: seqs.at(-1), value: "o49" });
      else expect(got.items[0]).toEqual({ seq: seqs[0], value: "o0" });
    });

    it("disconnect: a subscriber that falls behind fails with slow_consumer", async () => {
      const topic = await open({ subscriberQueueItems: 10, overflow: "disconnect" });
      const sub = await topic.subscribe(undefined);
      for (let i = 0; i < 50; i++) await topic.publish(text(`d${i}`));
      await expect(take(sub.items, 50)).rejects.toMatchObject({ code: "slow_consumer" });
    });

    it("a pattern subscription gets the items of every matching subject in topic order, each with its topic seq as cursor", async () => {
      const topic = await open({});
      const [temps, all, one, whole] = await Promise.all([
        topic.subscribe(undefined, undefined, { filter: `${topic.name}.*.temp` }),
        topic.subscribe(undefined, undefined, { filter: `${topic.name}.>` }),
        topic.subscribe(undefined, undefined, { filter: `${topic.name}.a.hum` }),
        topic.subscribe(undefined),
      ]);
      const published: { seq: number; subject: string; value: string }[] = [];
      const subjects = ["a.temp", "b.temp", "a.hum", "", "c.temp", "a.temp.x"];
      for (let i = 0; i < 18; i++) {
        const rest = subjects[i % subjects.length]!;
        const subject = rest ? `${topic.name}.${rest}` : topic.name;
        published.push({ seq: (await topic.publish(text(`p${i}`), { subject })).seq, subject, value: `p${i}` });
      }
      const expectMatching = async (sub: { items: AsyncIterable<SourceYield> }, matches: (subject: string) => boolean) => {
        const want = published.filter((p) => matches(p.subject));
        const got = await take(sub.items, want.length);
        // Each item with its topic seq (the cursor) and the subject it was published to.
        expect(got.map((entry) => ("gap" in entry ? "gap" : [read(entry.data), readSeq(entry.cursor), entry.subject]))).toEqual(want.map((p) => [p.value, p.seq, p.subject]));
      };
      await expectMatching(temps, (s) => /\.[^.]+\.temp$/.test(s.slice(topic.name.length)) && s.split(".").length === topic.name.split(".").length + 2);
      await expectMatching(all, (s) => s !== topic.name);
      await expectMatching(one, (s) => s === `${topic.name}.a.hum`);
      // Subscribing to the topic itself is every item, whatever its subject.
      expect(coverage(whole.nextSeq, await take(whole.items, 18)).items.map((i) => i.value)).toEqual(published.map((p) => p.value));
    });

    it("a pattern subscription resumes after a topic seq with the matching items retained after it", async () => {
      const topic = await open({});
      const seqs: number[] = [];
      for (let i = 0; i < 10; i++) seqs.push((await topic.publish(text(`r${i}`), { subject: `${topic.name}.${i % 2 ? "odd" : "even"}` })).seq);
      const sub = await topic.subscribe(seqs[3], undefined, { filter: `${topic.name}.even` });
      expect(sub.nextSeq).toBe(seqs[4]);
      const got = await take(sub.items, 3);
      expect(got.map((entry) => ("gap" in entry ? "gap" : read(entry.data)))).toEqual(["r4", "r6", "r8"]);
      await topic.publish(text("live-odd"), { subject: `${topic.name}.odd` });
      await topic.publish(text("live-even"), { subject: `${topic.name}.even` });
      expect((await take(sub.items, 1)).map((entry) => ("gap" in entry ? "gap" : read(entry.data)))).toEqual(["live-even"]);
    });

    it.each(["drop_oldest", "drop_newest"] as const)("%s on a pattern subscription counts its gaps in matching items: items and gaps add up to what matched", async (overflow) => {
      const topic = await open({ subscriberQueueItems: 10, overflow });
      const sub = await topic.subscribe(undefined, undefined, { filter: `${topic.name}.hot` });
      const matching: string[] = [];
      for (let i = 0; i < 60; i++) {
        const hot = i % 2 === 0;
        await topic.publish(text(`m${i}`), { subject: `${topic.name}.${hot ? "hot" : "cold"}` });
        if (hot) matching.push(`m${i}`);
      }
      const entries: SourceYield[] = [];
      for (let covered = 0; covered < matching.length; ) {
        const [entry] = await take(sub.items, 1);
        if (!entry) break;
        entries.push(entry);
        covered += "gap" in entry ? entry.gap : 1;
      }
      const got = coverage(1, entries);
      expect(got.next - 1).toBe(matching.length);
      expect(got.gaps.length).toBeGreaterThan(0);
      expect(got.gaps.every((g) => g.reason === (overflow === "drop_oldest" ? "dropped_oldest" : "dropped_newest"))).toBe(true);
      // Each item sits at its place among the matching ones: the gaps hold exactly the rest.
      for (const item of got.items) expect(item.value).toBe(matching[item.seq - 1]);
      if (overflow === "drop_oldest") expect(got.items.at(-1)!.value).toBe(matching.at(-1));
      else expect(got.items[0]!.value).toBe(matching[0]);
    });

    it("refuses a subject outside the topic, a wildcard subject and a bad pattern with invalid_argument naming it", async () => {
      const topic = await open({});
      await expect(Promise.resolve().then(() => topic.publish(text("x"), { subject: `other.${topic.name}` }))).rejects.toMatchObject({ code: "invalid_argument", message: expect.stringContaining("is not under topic") });
      await expect(Promise.resolve().then(() => topic.publish(text("x"), { subject: `${topic.name}.*` }))).rejects.toMatchObject({ code: "invalid_argument", message: expect.stringContaining("holds a wildcard") });
      await expect(Promise.resolve().then(() => topic.subscribe(undefined, undefined, { filter: `${topic.name}.>.x` }))).rejects.toMatchObject({ code: "invalid_argument", message: expect.stringContaining('">" may only be the last token') });
    });

    it("reports the consumer lag of a stalled subscriber, and only of the named consumers when asked", async () => {
      const topic = await open({ subscriberQueueItems: 1_000 });
      if (!topic.consumerLag) return;
      const stalled = await topic.subscribe(undefined, undefined, { consumer: "billing" });
      const reader = await topic.subscribe(undefined, undefined, { consumer: "dashboard" });
      for (let i = 0; i < 30; i++) await topic.publish(text(`l${i}`));
      await take(reader.items, 30);
      await take(stalled.items, 1);
      expect(topic.consumerLag()).toBeGreaterThanOrEqual(29);
      expect(topic.consumerLag(new Set(["dashboard"]))).toBe(0);
      expect(topic.consumerLag(new Set(["billing"]))).toBeGreaterThanOrEqual(29);
    });
  });
}
