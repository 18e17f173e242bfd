/**
 * The verifier decides whether a load run passed, so it is tested like the
 * code it judges: unit tests for each rule, and properties over generated
 * runs: a clean run (publishers' items acked or not, a subscriber opening
 * partway, gaps that drop items and say so) is never flagged, and one
 * injected fault is always counted, as its own kind.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { VerificationTotals } from "../src/results.js";
import { failuresOf, PublishLedger, SubscriberVerifier, verify, type ContentKind, type FailureKind } from "../src/verifier.js";

/** A live topic's head: the reference numbers a topic from the clock (PROTOCOL.md §7.6). */
const HEAD = 1_800_000_000_000_000;
const REASONS = ["dropped_oldest", "dropped_newest", "history_expired", "restarted", "unspecified"] as const;

const encoder = new TextEncoder();
const publishedItem = (p: string, s: number, t: number) => encoder.encode(JSON.stringify({ p, s, t, pad: "xxxxxxxx" }));
const generatorItem = (seq: number, at: number) => encoder.encode(JSON.stringify({ seq, at, pad: "xxxxxxxx" }));

const failureCounts = (totals: VerificationTotals): Record<FailureKind, number> => ({
  lost: totals.lost,
  duplicated: totals.duplicated,
  reordered: totals.reordered,
  seqErrors: totals.seqErrors,
  contentErrors: totals.contentErrors,
});
const CLEAN: Record<FailureKind, number> = { lost: 0, duplicated: 0, reordered: 0, seqErrors: 0, contentErrors: 0 };
const sum = (counts: Readonly<Record<string, number>>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** A subscriber of published content fed a list of (stream seq, publisher, publisher seq) items and gaps. */
function publishedSubscriber(events: readonly (readonly [number, string, number] | readonly [number, number, string])[], options: { openedAtMs?: number; id?: string } = {}) {
  const subscriber = new SubscriberVerifier({ id: options.id ?? "sub-1", content: "published" });
  subscriber.opened(options.openedAtMs ?? 0);
  for (const event of events) {
    if (typeof event[1] === "string") subscriber.item(event[0], publishedItem(event[1], event[2] as number, 1_000 + (event[2] as number)), 2_000);
    else subscriber.gap(event[0], event[1], event[2] as string);
  }
  return subscriber;
}

/** A ledger of publisher `pub-1` seqs 1..n, sent at ms 1000 + seq, all acked. */
function ackedLedger(n: number, publisherId = "pub-1"): PublishLedger {
  const ledger = new PublishLedger();
  for (let s = 1; s <= n; s++) {
    ledger.sent(publisherId, s, 1_000 + s);
    ledger.acked(publisherId, s);
  }
  return ledger;
}

describe("SubscriberVerifier: stream seqs", () => {
  it("takes the first seq as the baseline, however large (a live topic's head), and follows items and gaps from it", () => {
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "opaque" });
    subscriber.item(HEAD, new Uint8Array(), 0);
    subscriber.item(HEAD + 1, new Uint8Array(), 0);
    subscriber.gap(HEAD + 2, 3, "dropped_oldest");
    subscriber.item(HEAD + 5, new Uint8Array(), 0);
    expect(subscriber.totals().seqErrors).toBe(0);
  });

  it("takes a first gap as the baseline too (a resume that starts with history_expired)", () => {
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "opaque" });
    subscriber.gap(40, 10, "history_expired");
    subscriber.item(50, new Uint8Array(), 0);
    expect(subscriber.totals().seqErrors).toBe(0);
  });

  it.each([
    ["a skipped seq", [1, 2, 4, 5]],
    ["a repeated seq", [1, 2, 2, 3]],
    ["a seq back, counted once rather than for every item after it", [1, 2, 3, 2, 4, 5]],
  ])("counts %s as one seq error", (_, seqs) => {
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "opaque" });
    for (const seq of seqs) subscriber.item(seq, new Uint8Array(), 0);
    expect(subscriber.totals().seqErrors).toBe(1);
    expect(subscriber.example("seqErrors")).toMatch(/^seq \d after \d$/);
  });

  it("counts a gap that does not start at the next seq, and a gap of no seqs", () => {
    const early = new SubscriberVerifier({ id: "sub-1", content: "opaque" });
    early.item(1, new Uint8Array(), 0);
    early.gap(3, 2, "dropped_oldest");
    early.item(5, new Uint8Array(), 0);
    expect(early.totals().seqErrors).toBe(1);
    expect(early.example("seqErrors")).toBe("gap from 3 after 1");
    const empty = new SubscriberVerifier({ id: "sub-2", content: "opaque" });
    empty.item(1, new Uint8Array(), 0);
    empty.gap(2, 0, "unspecified");
    empty.item(2, new Uint8Array(), 0);
    expect(empty.totals()).toMatchObject({ seqErrors: 1, gapsByReason: { unspecified: 1 } });
  });
});

describe("SubscriberVerifier: published content", () => {
  it("counts a publisher seq delivered twice as duplicated, also one never acked", () => {
    const ledger = ackedLedger(3);
    ledger.sent("pub-1", 4, 1_004);
    const subscriber = publishedSubscriber([
      [1, "pub-1", 1],
      [2, "pub-1", 2],
      [3, "pub-1", 2],
      [4, "pub-1", 3],
      [5, "pub-1", 4],
      [6, "pub-1", 4],
    ]);
    expect(failureCounts(verify([subscriber], ledger))).toEqual({ ...CLEAN, duplicated: 2 });
    expect(subscriber.example("duplicated")).toBe("publisher pub-1 seq 2; publisher pub-1 seq 4");
  });

  it("counts a seq below one already delivered from the same publisher as reordered, not as lost", () => {
    const subscriber = publishedSubscriber([
      [1, "pub-1", 1],
      [2, "pub-1", 3],
      [3, "pub-1", 2],
      [4, "pub-1", 4],
    ]);
    expect(failureCounts(verify([subscriber], ackedLedger(4)))).toEqual({ ...CLEAN, reordered: 1 });
    expect(subscriber.example("reordered")).toBe("publisher pub-1 seq 2 after 3");
  });

  it("keeps publishers apart: interleaved publishers, each in order, are clean", () => {
    const ledger = ackedLedger(2, "pub-a");
    for (let s = 1; s <= 2; s++) {
      ledger.sent("pub-b", s, 1_000 + s);
      ledger.acked("pub-b", s);
    }
    const subscriber = publishedSubscriber([
      [7, "pub-b", 1],
      [8, "pub-a", 1],
      [9, "pub-a", 2],
      [10, "pub-b", 2],
    ]);
    expect(failureCounts(verify([subscriber], ledger))).toEqual(CLEAN);
  });

  it("counts an expected acked item missing without a gap as lost, and names it", () => {
    const subscriber = publishedSubscriber([
      [1, "pub-1", 1],
      [2, "pub-1", 5],
    ]);
    const totals = verify([subscriber], ackedLedger(6));
    expect(failureCounts(totals)).toEqual({ ...CLEAN, lost: 4 });
    expect(subscriber.example("lost")).toBe("publisher pub-1 seqs 2, 3, 4, 6");
  });

  it("explains missing items with the gaps between their publisher's delivered neighbours, by the gaps' reasons", () => {
    const subscriber = publishedSubscriber([
      [HEAD, "pub-1", 1],
      [HEAD + 1, 2, "dropped_oldest"],
      [HEAD + 3, 1, "history_expired"],
      [HEAD + 4, "pub-1", 5],
    ]);
    const totals = verify([subscriber], ackedLedger(5));
    expect(failureCounts(totals)).toEqual(CLEAN);
    expect(totals.gappedItems).toEqual({ dropped_oldest: 2, history_expired: 1 });
    expect(totals.gapsByReason).toEqual({ dropped_oldest: 1, history_expired: 1 });
  });

  it("lets a gap explain at most its count of items", () => {
    const subscriber = publishedSubscriber([
      [1, "pub-1", 1],
      [2, 1, "dropped_newest"],
      [3, "pub-1", 4],
    ]);
    const totals = verify([subscriber], ackedLedger(4));
    expect(failureCounts(totals)).toEqual({ ...CLEAN, lost: 1 });
    expect(totals.gappedItems).toEqual({ dropped_newest: 1 });
  });

  it("explains nothing with a gap elsewhere in the stream: a restart's huge seq range does not cover a silent loss", () => {
    // pub-1 seq 2 vanished between seqs 1 and 3 at stream seqs 1 and 2; the restart came later.
    const subscriber = publishedSubscriber([
      [1, "pub-1", 1],
      [2, "pub-1", 3],
      [3, HEAD - 3, "restarted"],
      [HEAD, "pub-1", 4],
    ]);
    const totals = verify([subscriber], ackedLedger(4));
    expect(failureCounts(totals)).toEqual({ ...CLEAN, lost: 1 });
    expect(totals.gappedItems).toEqual({});
  });

  it("counts missing items before a publisher's first delivery against gaps before it, and after its last against gaps after it", () => {
    const subscriber = publishedSubscriber([
      [10, 1, "dropped_oldest"],
      [11, "pub-1", 2],
      [12, "pub-1", 3],
      [13, 1, "dropped_newest"],
    ]);
    const totals = verify([subscriber], ackedLedger(4));
    expect(failureCounts(totals)).toEqual(CLEAN);
    expect(totals.gappedItems).toEqual({ dropped_oldest: 1, dropped_newest: 1 });
  });

  it("expects only items sent from its first open up to expectUntil", () => {
    // Sent at 1001..1010; opened at 1004 (a later open changes nothing), expected until 1007.
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "published" });
    subscriber.opened(1_004);
    subscriber.opened(1_009);
    subscriber.expectUntil(1_007);
    for (let s = 4; s <= 7; s++) subscriber.item(s, publishedItem("pub-1", s, 1_000 + s), 2_000);
    expect(failureCounts(verify([subscriber], ackedLedger(10)))).toEqual(CLEAN);
    const missedOne = new SubscriberVerifier({ id: "sub-2", content: "published" });
    missedOne.opened(1_004);
    missedOne.expectUntil(1_007);
    for (let s = 4; s <= 6; s++) missedOne.item(s, publishedItem("pub-1", s, 1_000 + s), 2_000);
    expect(failureCounts(verify([missedOne], ackedLedger(10)))).toEqual({ ...CLEAN, lost: 1 });
  });

  it("expects nothing of a subscriber that never opened, and everything sent after the open of one that received nothing", () => {
    const neverOpened = new SubscriberVerifier({ id: "sub-1", content: "published" });
    expect(verify([neverOpened], ackedLedger(3)).lost).toBe(0);
    const silent = new SubscriberVerifier({ id: "sub-2", content: "published" });
    silent.opened(1_002);
    expect(verify([silent], ackedLedger(3)).lost).toBe(2);
  });

  it("does not expect unacked or rejected items, accepts them when they arrive, and counts rejections by code", () => {
    const ledger = ackedLedger(2);
    ledger.sent("pub-1", 3, 1_003);
    ledger.sent("pub-1", 4, 1_004);
    ledger.rejected("pub-1", 4, "unavailable");
    ledger.sent("pub-1", 5, 1_005);
    ledger.acked("pub-1", 5);
    const subscriber = publishedSubscriber([
      [1, "pub-1", 1],
      [2, "pub-1", 2],
      [3, "pub-1", 4],
      [4, "pub-1", 5],
    ]);
    const totals = verify([subscriber], ledger);
    expect(failureCounts(totals)).toEqual(CLEAN);
    expect(totals).toMatchObject({ published: 5, acked: 3, errorsByCode: { unavailable: 1 } });
  });

  it("returns each item's publish-to-delivery latency from the send time it carries", () => {
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "published" });
    expect(subscriber.item(1, publishedItem("pub-1", 1, 1_000.25), 1_012.5)).toEqual({ publishToDeliveryMs: 12.25 });
  });

  it("counts content that is not a published item, and items the ledger never saw sent, as content errors", () => {
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "published" });
    subscriber.opened(0);
    expect(subscriber.item(1, encoder.encode("not json"), 0)).toEqual({});
    subscriber.item(2, encoder.encode(JSON.stringify({ p: "pub-1", s: 0, t: 1 })), 0);
    subscriber.item(3, publishedItem("pub-1", 1, 1_001), 0);
    subscriber.item(4, publishedItem("pub-1", 9, 1_009), 0);
    subscriber.item(5, publishedItem("pub-x", 1, 1_001), 0);
    expect(failureCounts(verify([subscriber], ackedLedger(1)))).toEqual({ ...CLEAN, contentErrors: 4 });
    expect(subscriber.example("contentErrors")).toBe("seq 1 is not a published item; seq 2 is not a published item; publisher pub-1 seqs 9..9 received, 1 never sent; publisher pub-x seqs 1..1 received, 1 never sent");
  });
});

describe("SubscriberVerifier: generator and opaque content", () => {
  it("checks a generator item's own seq against the stream seq, and returns source-to-delivery latency", () => {
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "generator" });
    expect(subscriber.item(1, generatorItem(1, 500), 520)).toEqual({ sourceToDeliveryMs: 20 });
    subscriber.item(2, generatorItem(3, 500), 520);
    subscriber.item(3, encoder.encode("{}"), 520);
    expect(subscriber.totals()).toMatchObject({ contentErrors: 2, seqErrors: 0, delivered: 3 });
    expect(subscriber.example("contentErrors")).toBe("seq 2 holds generator seq 3; seq 3 is not a generator item");
  });

  it("counts a repeated generator item as a seq error: the seq rules cover duplicates there", () => {
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "generator" });
    for (const seq of [1, 2, 2, 3]) subscriber.item(seq, generatorItem(seq, 0), 0);
    expect(subscriber.totals()).toMatchObject({ seqErrors: 1, duplicated: 0, contentErrors: 0 });
  });

  it("counts gapped seqs as gapped items, except a restart's, whose count is a seq range and not items", () => {
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "generator" });
    subscriber.item(1, generatorItem(1, 0), 0);
    subscriber.gap(2, 3, "dropped_oldest");
    subscriber.gap(5, 1000, "restarted");
    expect(subscriber.totals()).toMatchObject({ gappedItems: { dropped_oldest: 3 }, gapsByReason: { dropped_oldest: 1, restarted: 1 } });
  });

  it("checks only seqs of opaque content and returns no latency", () => {
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "opaque" });
    expect(subscriber.item(7, encoder.encode("anything"), 0)).toEqual({});
    subscriber.item(8, generatorItem(99, 0), 0);
    expect(failureCounts(verify([subscriber], new PublishLedger()))).toEqual(CLEAN);
  });
});

describe("PublishLedger", () => {
  it("counts each publish once, keeping the first send time of a resend", () => {
    const ledger = new PublishLedger();
    ledger.sent("pub-1", 1, 100);
    ledger.sent("pub-1", 1, 500);
    ledger.acked("pub-1", 1);
    ledger.acked("pub-1", 1);
    expect([ledger.published, ledger.ackedCount]).toEqual([1, 1]);
    // Sent at 100, before the open at 200: not expected.
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "published" });
    subscriber.opened(200);
    expect(verify([subscriber], ledger).lost).toBe(0);
  });

  it("keeps an ack or a rejection final", () => {
    const ledger = new PublishLedger();
    ledger.sent("pub-1", 1, 100);
    ledger.rejected("pub-1", 1, "unavailable");
    ledger.acked("pub-1", 1);
    expect([ledger.ackedCount, ledger.rejectedByCode]).toEqual([0, { unavailable: 1 }]);
  });

  it("throws on an outcome for a publish never sent, and on a seq that is not a positive integer", () => {
    const ledger = new PublishLedger();
    ledger.sent("pub-1", 1, 100);
    expect(() => ledger.acked("pub-1", 2)).toThrow("publisher pub-1 seq 2 acked but never sent");
    expect(() => ledger.rejected("pub-2", 1, "unavailable")).toThrow("publisher pub-2 seq 1 rejected but never sent");
    expect(() => ledger.sent("pub-1", 0, 100)).toThrow(RangeError);
  });
});

describe("verify", () => {
  it("sums every subscriber's counters, checking each against the ledger of its stream", () => {
    const ledgers = new Map([
      ["orders", ackedLedger(2)],
      ["prices", ackedLedger(3)],
    ]);
    const orders = new SubscriberVerifier({ id: "sub-1", content: "published", stream: "orders" });
    orders.opened(0);
    orders.item(1, publishedItem("pub-1", 1, 1_001), 0);
    orders.item(2, publishedItem("pub-1", 2, 1_002), 0);
    orders.reconnected();
    orders.resumed();
    const prices = new SubscriberVerifier({ id: "sub-2", content: "published", stream: "prices" });
    prices.opened(0);
    prices.item(1, publishedItem("pub-1", 1, 1_001), 0);
    prices.error("resume_position_lost");
    const source = new SubscriberVerifier({ id: "sub-3", content: "generator" });
    source.item(1, generatorItem(1, 0), 0);
    source.reconnected();
    expect(verify([orders, prices, source], ledgers)).toEqual({
      published: 5,
      acked: 5,
      delivered: 4,
      lost: 2,
      duplicated: 0,
      reordered: 0,
      seqErrors: 0,
      contentErrors: 0,
      gappedItems: {},
      gapsByReason: {},
      reconnects: 2,
      resumes: 1,
      errorsByCode: { resume_position_lost: 1 },
    });
  });

  it("throws when a subscriber of published content has no ledger for its stream", () => {
    const subscriber = new SubscriberVerifier({ id: "sub-1", content: "published", stream: "nowhere" });
    expect(() => verify([subscriber], new Map([["orders", new PublishLedger()]]))).toThrow("subscriber sub-1 checks published items but stream nowhere has no ledger");
  });
});

describe("failuresOf", () => {
  it("is empty for a clean run", () => {
    const subscriber = publishedSubscriber([[1, "pub-1", 1]]);
    expect(failuresOf(verify([subscriber], ackedLedger(1)), [subscriber])).toEqual([]);
  });

  it("writes one line per failure kind, with the first failing subscriber's examples", () => {
    const ledger = ackedLedger(25);
    const first = publishedSubscriber(
      [
        [1, "pub-1", 16],
        [2, "pub-1", 20],
        [3, "pub-1", 20],
        [5, "pub-1", 25],
      ],
      { openedAtMs: 1_016, id: "sub-7" },
    );
    const second = publishedSubscriber([[1, "pub-1", 25]], { openedAtMs: 1_025, id: "sub-8" });
    second.item(2, publishedItem("pub-1", 24, 1_024), 0);
    const totals = verify([first, second], ledger);
    expect(failuresOf(totals, [first, second])).toEqual([
      "lost 7 items (subscriber sub-7: publisher pub-1 seqs 17, 18, 19, 21, 22 …)",
      "duplicated 1 item (subscriber sub-7: publisher pub-1 seq 20)",
      "reordered 1 item (subscriber sub-8: publisher pub-1 seq 24 after 25)",
      "1 stream seq error (subscriber sub-7: seq 5 after 3)",
    ]);
    expect(failuresOf(totals)).toEqual(["lost 7 items", "duplicated 1 item", "reordered 1 item", "1 stream seq error"]);
  });

  it("counts the other failing subscribers", () => {
    const ledger = ackedLedger(2);
    const subscribers = ["sub-1", "sub-2", "sub-3"].map((id) => publishedSubscriber([[1, "pub-1", 2]], { openedAtMs: 0, id }));
    expect(failuresOf(verify(subscribers, ledger), subscribers)).toEqual(["lost 3 items (subscriber sub-1: publisher pub-1 seq 1; 2 more subscribers)"]);
  });
});

// Generated runs. A published run: publishers send in a random interleaving
// (send times strictly rising), each publish acked, lost unacked, in the
// stream but unacked, or rejected; the topic numbers what reached it from a
// base seq; the subscriber opens at some send time, starts at or before the
// first item sent from then on, and maybe stops expecting at a later send
// time (receiving at least up to it). Runs of consecutive dropped positions
// become gap events.

type Fate = "acked" | "unacked" | "unacked in stream" | "rejected";

interface Publish {
  readonly publisherId: string;
  readonly seq: number;
  readonly sentAtMs: number;
  readonly fate: Fate;
  /** Whether the subscriber must receive it (acked, sent inside its window). */
  readonly expected: boolean;
}

type PublishedEvent = { readonly kind: "item"; readonly seq: number; readonly publish: Publish } | { readonly kind: "gap"; readonly fromSeq: number; readonly count: number; readonly reason: string };

interface PublishedRun {
  readonly publishes: readonly Publish[];
  readonly openedAtMs: number;
  readonly expectUntilMs: number | undefined;
  readonly events: readonly PublishedEvent[];
}

const T0 = 1_700_000_000_000.5;
const LATENCY_MS = 3;

/** A position's drop: null keeps it, a reason drops it (adjacent drops of one reason merge into one gap). */
const dropArb = fc.oneof(
  { arbitrary: fc.constant(null), weight: 6 },
  { arbitrary: fc.constant("dropped_oldest"), weight: 2 },
  { arbitrary: fc.constantFrom(...REASONS), weight: 1 },
);

/**
 * A clean published run. With `tightGaps`, gaps drop only expected items, so
 * they have no room to spare for one more missing item: the runs in which a
 * silent loss is visible by counting at all.
 */
function publishedRunArb(tightGaps: boolean): fc.Arbitrary<PublishedRun> {
  return fc
    .record({
      publishers: fc.integer({ min: 1, max: 3 }),
      sends: fc.array(
        fc.record({
          publisher: fc.nat(2),
          fate: fc.oneof({ arbitrary: fc.constant<Fate>("acked"), weight: 6 }, { arbitrary: fc.constantFrom<Fate>("unacked", "unacked in stream", "rejected"), weight: 1 }),
          drop: dropArb,
        }),
        { maxLength: 60 },
      ),
      baseSeq: fc.oneof(fc.constant(1), fc.constant(HEAD), fc.integer({ min: 1, max: 1_000_000 })),
      open: fc.nat(),
      start: fc.nat(),
      until: fc.option(fc.nat(), { nil: undefined }),
      end: fc.nat(),
    })
    .map(({ publishers, sends, baseSeq, open, start, until, end }) => {
      const openIndex = open % (sends.length + 1);
      const untilIndex = until === undefined ? undefined : until % (sends.length + 1);
      const sentAt = (index: number) => T0 + index * 10;
      const nextSeq = new Map<string, number>();
      const publishes = sends.map(({ publisher, fate }, index): Publish => {
        const publisherId = `pub-${publisher % publishers}`;
        const seq = (nextSeq.get(publisherId) ?? 0) + 1;
        nextSeq.set(publisherId, seq);
        const expected = fate === "acked" && index >= openIndex && (untilIndex === undefined || index <= untilIndex);
        return { publisherId, seq, sentAtMs: sentAt(index), fate, expected };
      });
      const stream = sends.map((send, index) => ({ ...send, index, publish: publishes[index]! })).filter(({ fate }) => fate === "acked" || fate === "unacked in stream");
      const firstExpected = stream.findIndex(({ index }) => index >= openIndex);
      const startPosition = start % ((firstExpected === -1 ? stream.length : firstExpected) + 1);
      let lastExpected = stream.length - 1;
      while (untilIndex !== undefined && lastExpected >= 0 && stream[lastExpected]!.index > untilIndex) lastExpected--;
      const fromEnd = Math.max(lastExpected + 1, startPosition);
      const endPosition = untilIndex === undefined ? stream.length : fromEnd + (end % (stream.length - fromEnd + 1));
      const events: PublishedEvent[] = [];
      for (let position = startPosition; position < endPosition; position++) {
        const { drop, publish } = stream[position]!;
        const seq = baseSeq + position;
        const last = events.at(-1);
        if (drop === null || (tightGaps && !publish.expected)) events.push({ kind: "item", seq, publish });
        else if (last?.kind === "gap" && last.reason === drop && last.fromSeq + last.count === seq) events[events.length - 1] = { ...last, count: last.count + 1 };
        else events.push({ kind: "gap", fromSeq: seq, count: 1, reason: drop });
      }
      return {
        publishes,
        openedAtMs: openIndex < sends.length ? sentAt(openIndex) : sentAt(sends.length),
        expectUntilMs: untilIndex === undefined ? undefined : sentAt(untilIndex),
        events,
      };
    });
}

/** Feeds a run (or a faulty copy of its events) to a ledger and one subscriber, and verifies. */
function runPublished(run: PublishedRun, events: readonly PublishedEvent[] = run.events) {
  const ledger = new PublishLedger();
  for (const { publisherId, seq, sentAtMs, fate } of run.publishes) {
    ledger.sent(publisherId, seq, sentAtMs);
    if (fate === "acked") ledger.acked(publisherId, seq);
    if (fate === "rejected") ledger.rejected(publisherId, seq, "unavailable");
  }
  const subscriber = new SubscriberVerifier({ id: "sub-1", content: "published" });
  subscriber.opened(run.openedAtMs);
  if (run.expectUntilMs !== undefined) subscriber.expectUntil(run.expectUntilMs);
  const latencies: (number | undefined)[] = [];
  for (const event of events) {
    if (event.kind === "gap") subscriber.gap(event.fromSeq, event.count, event.reason);
    else latencies.push(subscriber.item(event.seq, publishedItem(event.publish.publisherId, event.publish.seq, event.publish.sentAtMs), event.publish.sentAtMs + LATENCY_MS).publishToDeliveryMs);
  }
  return { totals: verify([subscriber], ledger), latencies };
}

/** Numbers events consecutively from the first one's seq: a fault in the content, with stream seqs the client would accept. */
function renumber<E extends { readonly kind: "item"; readonly seq: number } | { readonly kind: "gap"; readonly fromSeq: number; readonly count: number }>(events: readonly E[]): E[] {
  const first = events[0];
  let next = first === undefined ? 0 : first.kind === "item" ? first.seq : first.fromSeq;
  return events.map((event) => {
    if (event.kind === "item") return { ...event, seq: next++ };
    const renumbered = { ...event, fromSeq: next };
    next += event.count;
    return renumbered;
  });
}

/** A fault injected into a clean run's events (undefined when this run has no place for it), and what it must count. */
interface Fault<Event> {
  readonly name: string;
  readonly counts: FailureKind;
  /** Failures the fault may cause as a side effect (a swap around a gap leaves the gap's items between the wrong neighbours). */
  readonly mayAlsoCount?: readonly FailureKind[];
  /** Needs gaps without room to spare (see publishedRunArb). */
  readonly tightGaps?: boolean;
  inject(events: readonly Event[], pick: number, otherPick: number): Event[] | undefined;
}

/** The indices of events that satisfy `test`. */
const indicesOf = <E>(events: readonly E[], test: (event: E) => boolean) => events.flatMap((event, index) => (test(event) ? [index] : []));

/** Faults that keep the stream seqs intact except the one named so. */
const PUBLISHED_FAULTS: readonly Fault<PublishedEvent>[] = [
  {
    name: "an expected item dropped without a gap",
    counts: "lost",
    tightGaps: true,
    inject: (events, pick) => {
      const candidates = indicesOf(events, (event) => event.kind === "item" && event.publish.expected);
      if (candidates.length === 0) return undefined;
      const dropped = candidates[pick % candidates.length]!;
      return renumber(events.filter((_, index) => index !== dropped));
    },
  },
  {
    name: "a gap whose count is smaller than the items it dropped",
    counts: "lost",
    tightGaps: true,
    inject: (events, pick) => {
      const candidates = indicesOf(events, (event) => event.kind === "gap" && event.count >= 2);
      if (candidates.length === 0) return undefined;
      const shortened = candidates[pick % candidates.length]!;
      return renumber(events.map((event, index) => (index === shortened && event.kind === "gap" ? { ...event, count: event.count - 1 } : event)));
    },
  },
  {
    name: "an item delivered twice",
    counts: "duplicated",
    inject: (events, pick, otherPick) => {
      const candidates = indicesOf(events, (event) => event.kind === "item");
      if (candidates.length === 0) return undefined;
      const copied = candidates[pick % candidates.length]!;
      const at = copied + 1 + (otherPick % (events.length - copied));
      return renumber([...events.slice(0, at), events[copied]!, ...events.slice(at)]);
    },
  },
  {
    name: "two items of one publisher swapped",
    counts: "reordered",
    mayAlsoCount: ["lost"],
    inject: (events, pick, otherPick) => {
      const items = indicesOf(events, (event) => event.kind === "item");
      const pairs = items.flatMap((a) => items.filter((b) => b > a && sameItemPublisher(events[a]!, events[b]!)).map((b) => [a, b] as const));
      if (pairs.length === 0) return undefined;
      const [a, b] = pairs[(pick + otherPick) % pairs.length]!;
      return swapPublishes(events, a, b);
    },
  },
  {
    name: "a seq skipped without a gap",
    counts: "seqErrors",
    inject: (events, pick) => (events.length < 2 ? undefined : skipSeq(events, 1 + (pick % (events.length - 1)))),
  },
];

function sameItemPublisher(a: PublishedEvent, b: PublishedEvent): boolean {
  return a.kind === "item" && b.kind === "item" && a.publish.publisherId === b.publish.publisherId;
}

/** Swaps what two item events carry, keeping their stream seqs in place. */
function swapPublishes(events: readonly PublishedEvent[], a: number, b: number): PublishedEvent[] {
  const swapped = [...events];
  const [first, second] = [events[a]!, events[b]!];
  if (first.kind !== "item" || second.kind !== "item") throw new Error("swapPublishes swaps items");
  swapped[a] = { ...first, publish: second.publish };
  swapped[b] = { ...second, publish: first.publish };
  return swapped;
}

/** Shifts every event from `from` on one seq up: a seq nobody explains. */
function skipSeq<E extends { readonly kind: "item"; readonly seq: number } | { readonly kind: "gap"; readonly fromSeq: number }>(events: readonly E[], from: number): E[] {
  return events.map((event, index) => (index < from ? event : event.kind === "item" ? { ...event, seq: event.seq + 1 } : { ...event, fromSeq: event.fromSeq + 1 }));
}

describe("verification of generated published runs", () => {
  it("never flags a clean run, and counts every expected item it missed as gapped", () => {
    fc.assert(
      fc.property(publishedRunArb(false), (run) => {
        const { totals, latencies } = runPublished(run);
        expect(failureCounts(totals)).toEqual(CLEAN);
        const items = run.events.filter((event) => event.kind === "item");
        const gappedExpected = run.publishes.filter((publish) => publish.expected).length - items.filter((event) => event.publish.expected).length;
        expect(sum(totals.gappedItems)).toBe(gappedExpected);
        expect(totals.delivered).toBe(items.length);
        expect(sum(totals.gapsByReason)).toBe(run.events.length - items.length);
        expect(totals.published).toBe(run.publishes.length);
        expect(totals.acked).toBe(run.publishes.filter(({ fate }) => fate === "acked").length);
        expect(totals.errorsByCode["unavailable"] ?? 0).toBe(run.publishes.filter(({ fate }) => fate === "rejected").length);
        for (const latency of latencies) expect(latency).toBe(LATENCY_MS);
      }),
      { numRuns: 500 },
    );
  });

  for (const fault of PUBLISHED_FAULTS) {
    it(`counts ${fault.name} as ${fault.counts}`, () => {
      fc.assert(
        fc.property(publishedRunArb(fault.tightGaps ?? false), fc.nat(), fc.nat(), (run, pick, otherPick) => {
          const faulty = fault.inject(run.events, pick, otherPick);
          fc.pre(faulty !== undefined);
          const counts = failureCounts(runPublished(run, faulty).totals);
          expect(counts[fault.counts]).toBeGreaterThanOrEqual(1);
          for (const kind of Object.keys(CLEAN) as FailureKind[]) if (kind !== fault.counts && !fault.mayAlsoCount?.includes(kind)) expect(counts[kind], kind).toBe(0);
        }),
        { numRuns: 300 },
      );
    });
  }
});

// A generator run: items numbered from a base seq carry their own seq and
// source time; dropped positions become gaps. The same events also go to an
// opaque subscriber, which checks the seqs alone.

type GeneratorEvent = { readonly kind: "item"; readonly seq: number; readonly ownSeq: number } | { readonly kind: "gap"; readonly fromSeq: number; readonly count: number; readonly reason: string };

const generatorRunArb: fc.Arbitrary<GeneratorEvent[]> = fc.record({ baseSeq: fc.oneof(fc.constant(1), fc.constant(HEAD)), drops: fc.array(dropArb, { maxLength: 60 }) }).map(({ baseSeq, drops }) => {
  const events: GeneratorEvent[] = [];
  drops.forEach((drop, position) => {
    const seq = baseSeq + position;
    const last = events.at(-1);
    if (drop === null) events.push({ kind: "item", seq, ownSeq: seq });
    else if (last?.kind === "gap" && last.reason === drop) events[events.length - 1] = { ...last, count: last.count + 1 };
    else events.push({ kind: "gap", fromSeq: seq, count: 1, reason: drop });
  });
  return events;
});

function runSeqOnly(content: ContentKind, events: readonly GeneratorEvent[]) {
  const subscriber = new SubscriberVerifier({ id: "sub-1", content });
  const latencies: (number | undefined)[] = [];
  for (const event of events) {
    if (event.kind === "gap") subscriber.gap(event.fromSeq, event.count, event.reason);
    else latencies.push(subscriber.item(event.seq, generatorItem(event.ownSeq, T0), T0 + LATENCY_MS).sourceToDeliveryMs);
  }
  return { totals: verify([subscriber], new PublishLedger()), latencies };
}

/** Generator faults; an opaque subscriber must count the seq faults alike and not see the content one. */
const GENERATOR_FAULTS: readonly Fault<GeneratorEvent>[] = [
  {
    name: "an item whose content seq differs from its stream seq",
    counts: "contentErrors",
    inject: (events, pick, otherPick) => {
      const candidates = indicesOf(events, (event) => event.kind === "item");
      if (candidates.length === 0) return undefined;
      const changed = candidates[pick % candidates.length]!;
      return events.map((event, index) => (index === changed && event.kind === "item" ? { ...event, ownSeq: event.ownSeq + 1 + (otherPick % 5) } : event));
    },
  },
  {
    name: "an item dropped without a gap",
    counts: "seqErrors",
    // Neither the first nor the last event: a stream may just start or end there.
    inject: (events, pick) => {
      const candidates = indicesOf(events, (event) => event.kind === "item").filter((index) => index > 0 && index < events.length - 1);
      if (candidates.length === 0) return undefined;
      const dropped = candidates[pick % candidates.length]!;
      return events.filter((_, index) => index !== dropped);
    },
  },
  {
    name: "an item delivered twice",
    counts: "seqErrors",
    inject: (events, pick, otherPick) => {
      const candidates = indicesOf(events, (event) => event.kind === "item");
      if (candidates.length === 0) return undefined;
      const copied = candidates[pick % candidates.length]!;
      const at = copied + 1 + (otherPick % (events.length - copied));
      return [...events.slice(0, at), events[copied]!, ...events.slice(at)];
    },
  },
  {
    name: "two items swapped",
    counts: "seqErrors",
    inject: (events, pick, otherPick) => {
      const items = indicesOf(events, (event) => event.kind === "item");
      if (items.length < 2) return undefined;
      const a = items[pick % items.length]!;
      const b = items[(pick + 1 + (otherPick % (items.length - 1))) % items.length]!;
      const swapped = [...events];
      [swapped[a], swapped[b]] = [events[b]!, events[a]!];
      return swapped;
    },
  },
  {
    name: "a seq skipped without a gap",
    counts: "seqErrors",
    inject: (events, pick) => (events.length < 2 ? undefined : skipSeq(events, 1 + (pick % (events.length - 1))).map((event) => (event.kind === "item" ? { ...event, ownSeq: event.seq } : event))),
  },
];

describe("verification of generated generator and opaque runs", () => {
  it("never flags a clean run, and counts gapped seqs (not a restart's range) as gapped items", () => {
    fc.assert(
      fc.property(generatorRunArb, (events) => {
        for (const content of ["generator", "opaque"] as const) {
          const { totals, latencies } = runSeqOnly(content, events);
          expect(failureCounts(totals)).toEqual(CLEAN);
          const gapped = events.flatMap((event) => (event.kind === "gap" && event.reason !== "restarted" ? [event.count] : []));
          expect(sum(totals.gappedItems)).toBe(gapped.reduce((a, b) => a + b, 0));
          for (const latency of latencies) expect(latency).toBe(content === "generator" ? LATENCY_MS : undefined);
        }
      }),
      { numRuns: 300 },
    );
  });

  for (const fault of GENERATOR_FAULTS) {
    it(`counts ${fault.name} as ${fault.counts}`, () => {
      fc.assert(
        fc.property(generatorRunArb, fc.nat(), fc.nat(), (events, pick, otherPick) => {
          const faulty = fault.inject(events, pick, otherPick);
          fc.pre(faulty !== undefined);
          const generator = failureCounts(runSeqOnly("generator", faulty).totals);
          expect(generator).toEqual({ ...CLEAN, [fault.counts]: generator[fault.counts] });
          expect(generator[fault.counts]).toBeGreaterThanOrEqual(1);
          const opaque = failureCounts(runSeqOnly("opaque", faulty).totals);
          expect(opaque).toEqual(fault.counts === "contentErrors" ? CLEAN : generator);
        }),
        { numRuns: 300 },
      );
    });
  }
});
