/**
 * The load run's verifier: every subscriber checks what it receives, and the
 * run fails on anything published and acked that went missing unexplained,
 * arrived twice or arrived out of order.
 *
 * Per subscriber, three kinds of rules:
 *
 * - Stream seqs (every content kind): the first event fixes the baseline (a
 *   live topic starts at its head, about 1.8·10^15; a subject-pattern stream
 *   at 1), then every item is the previous seq + 1 and every gap starts
 *   there. Anything else is a `seqErrors`: the client's own guarantee broke.
 * - Content: a generator item carries its own seq, which must be the stream
 *   seq (`contentErrors`). A published item carries its publisher and
 *   publisher seq: the same (publisher, seq) twice is `duplicated`, a seq
 *   below one already delivered from that publisher is `reordered`, and an
 *   item the ledger never saw sent is a `contentErrors`.
 * - Missing (published content only): an acked item sent between the
 *   subscriber's `opened` and `expectUntil` must arrive. One that did not is
 *   explained only by a gap the subscriber saw between the stream seqs of its
 *   publisher's delivered neighbours (a topic keeps each publisher's order, so
 *   the item sat there), and each gap explains at most its count of items.
 *   Items are matched to gaps in stream order with a greedy matching that
 *   explains as many as any assignment could (missing runs by their last
 *   usable gap, each taking the earliest gap with room left); gappedItems
 *   counts the explained ones under the reason of the gap that took them, and
 *   the rest is `lost`. The bracket matters after a chaos run: a `restarted`
 *   gap counts seqs, not items (PROTOCOL.md §7.6), and without it one restart
 *   would explain every loss of the whole run.
 *
 * Memory: a subscriber keeps no items, only per publisher the runs of
 * consecutive publisher seqs it received (one run unless gaps or faults split
 * them), with the stream seqs of each run's ends, and its gap events. The
 * ledger keeps a send time and a state byte per publish.
 */
import type { VerificationTotals } from "./results.js";

/** What a subscriber's items hold, and so what it can check beyond stream seqs. */
export type ContentKind = "published" | "generator" | "opaque";

/** The failure counts of {@link VerificationTotals}, in the order {@link failuresOf} reports them. */
export type FailureKind = "lost" | "duplicated" | "reordered" | "seqErrors" | "contentErrors";

/** One subscriber's part of the run's totals (the ledger has the rest). */
export type SubscriberTotals = Omit<VerificationTotals, "published" | "acked">;

/** Latency of one delivered item, for the runner's histograms (at most one is set). */
export interface DeliveryLatency {
  /** Published items: received − the publisher's send time (`t`), ms. */
  readonly publishToDeliveryMs?: number;
  /** Generator items: received − the item's source time (`at`), ms. */
  readonly sourceToDeliveryMs?: number;
}

const NO_LATENCY: DeliveryLatency = Object.freeze({});

/** A publish's state in the ledger; an ack or a rejection is final. */
const UNSENT = 0;
const SENT = 1;
const ACKED = 2;
const REJECTED = 3;

/** Failure examples a subscriber keeps per kind, for the run's failures list. */
const EXAMPLES_KEPT = 3;
/** Lost seqs a subscriber lists in its example. */
const LOST_SEQS_LISTED = 5;

/** What a subscriber checks one publisher against, computed once after the ledger last changed. */
interface PublisherView {
  /** The highest seq recorded: the arrays below cover seqs 1..length. */
  readonly length: number;
  /**
   * The latest send time of seqs 1..s at index s − 1: the send times as the
   * publisher's clock advanced, non-decreasing so the expected window is two
   * binary searches (a publisher sends in seq order; a clock that stepped
   * back would shift the window by that step, no more).
   */
  readonly timeline: Float64Array;
  /** Index s: how many of seqs 1..s were acked. */
  readonly ackedUpTo: Uint32Array;
  /** Index s: how many of seqs 1..s were sent at all. */
  readonly sentUpTo: Uint32Array;
  /** State by seq − 1 (UNSENT, SENT, ACKED, REJECTED). */
  readonly states: Uint8Array;
}

/** One publisher's publishes, by seq − 1: publisher seqs are dense from 1, so arrays beat maps. */
class PublisherRecord {
  sentAtMs = new Float64Array(256);
  states = new Uint8Array(256);
  length = 0;

  /** The index of `seq`, growing the arrays to hold it. */
  slot(seq: number): number {
    if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`a publisher seq is an integer from 1, got ${seq}`);
    if (seq > this.states.length) {
      const capacity = Math.max(seq, this.states.length * 2);
      const sentAtMs = new Float64Array(capacity);
      sentAtMs.set(this.sentAtMs);
      const states = new Uint8Array(capacity);
      states.set(this.states);
      this.sentAtMs = sentAtMs;
      this.states = states;
    }
    if (seq > this.length) this.length = seq;
    return seq - 1;
  }

  stateOf(seq: number): number {
    return seq >= 1 && seq <= this.length ? this.states[seq - 1]! : UNSENT;
  }

  view(): PublisherView {
    const length = this.length;
    const timeline = new Float64Array(length);
    const ackedUpTo = new Uint32Array(length + 1);
    const sentUpTo = new Uint32Array(length + 1);
    let latest = -Infinity;
    for (let i = 0; i < length; i++) {
      const state = this.states[i]!;
      if (state !== UNSENT && this.sentAtMs[i]! > latest) latest = this.sentAtMs[i]!;
      timeline[i] = latest;
      ackedUpTo[i + 1] = ackedUpTo[i]! + (state === ACKED ? 1 : 0);
      sentUpTo[i + 1] = sentUpTo[i]! + (state === UNSENT ? 0 : 1);
    }
    return { length, timeline, ackedUpTo, sentUpTo, states: this.states.subarray(0, length) };
  }
}

/**
 * What the loadgen's publishers sent into one stream, and what the server
 * acked or rejected: what subscribers of that stream must receive.
 */
export class PublishLedger {
  readonly #publishers = new Map<string, PublisherRecord>();
  readonly #rejectedByCode = new Map<string, number>();
  #published = 0;
  #acked = 0;
  /** Views by publisher, dropped on every change. */
  #views: ReadonlyMap<string, PublisherView> | undefined;

  /** Publishes sent (each (publisher, seq) once). */
  get published(): number {
    return this.#published;
  }

  /** Of those, acked by the server. */
  get ackedCount(): number {
    return this.#acked;
  }

  /** Rejected publishes by error code. */
  get rejectedByCode(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.#rejectedByCode);
  }

  /** A publish went out; a resend of the same seq keeps the first send time (the one its content carries). */
  sent(publisherId: string, seq: number, sentAtMs: number): void {
    if (!Number.isFinite(sentAtMs)) throw new RangeError(`a send time is a finite number of ms, got ${sentAtMs}`);
    let record = this.#publishers.get(publisherId);
    if (!record) this.#publishers.set(publisherId, (record = new PublisherRecord()));
    const index = record.slot(seq);
    if (record.states[index] !== UNSENT) return;
    record.states[index] = SENT;
    record.sentAtMs[index] = sentAtMs;
    this.#published++;
    this.#views = undefined;
  }

  /** The server acked the publish: subscribers open at its send time must receive it. */
  acked(publisherId: string, seq: number): void {
    const record = this.#sentRecord(publisherId, seq, "acked");
    if (record.states[seq - 1] !== SENT) return;
    record.states[seq - 1] = ACKED;
    this.#acked++;
    this.#views = undefined;
  }

  /** The server rejected the publish: nobody expects it, and the run counts the code. */
  rejected(publisherId: string, seq: number, code: string): void {
    const record = this.#sentRecord(publisherId, seq, "rejected");
    if (record.states[seq - 1] !== SENT) return;
    record.states[seq - 1] = REJECTED;
    this.#rejectedByCode.set(code, (this.#rejectedByCode.get(code) ?? 0) + 1);
    this.#views = undefined;
  }

  /** Per publisher, what a subscriber checks against ({@link SubscriberVerifier.totals} reads it). */
  publisherViews(): ReadonlyMap<string, PublisherView> {
    this.#views ??= new Map([...this.#publishers].map(([id, record]) => [id, record.view()]));
    return this.#views;
  }

  /** An outcome for a publish never sent is the runner's bug: said loudly, not counted silently. */
  #sentRecord(publisherId: string, seq: number, outcome: string): PublisherRecord {
    const record = this.#publishers.get(publisherId);
    if (!record || record.stateOf(seq) === UNSENT) throw new Error(`publisher ${publisherId} seq ${seq} ${outcome} but never sent`);
    return record;
  }
}

/**
 * The publisher seqs one subscriber received from one publisher, as sorted
 * runs of consecutive seqs, flat: [fromSeq, toSeq, fromStreamSeq, toStreamSeq]
 * per run. An in-order stream appends to the last run; only a gap or a fault
 * starts another.
 */
class DeliveredRuns {
  readonly runs: number[] = [];

  get count(): number {
    return this.runs.length / 4;
  }

  /** The highest seq received. */
  get highest(): number {
    return this.runs[this.runs.length - 3]!;
  }

  /** Records seq `seq` received at stream seq `streamSeq`: new in order, a duplicate, or reordered (below the highest). */
  add(seq: number, streamSeq: number): "in order" | "duplicate" | "reordered" {
    const runs = this.runs;
    const last = runs.length - 4;
    if (last < 0 || seq > runs[last + 1]! + 1) {
      runs.push(seq, seq, streamSeq, streamSeq);
      return "in order";
    }
    if (seq === runs[last + 1]! + 1) {
      runs[last + 1] = seq;
      runs[last + 3] = streamSeq;
      return "in order";
    }
    // Below the highest: the last run starting at or before seq, if any.
    let low = 0;
    let high = this.count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (runs[mid * 4]! <= seq) low = mid + 1;
      else high = mid;
    }
    const before = low - 1;
    if (before >= 0 && seq <= runs[before * 4 + 1]!) return "duplicate";
    // seq lies between run `before` (or nothing) and run `low`, which exists: seq < highest.
    const joinsBefore = before >= 0 && runs[before * 4 + 1]! + 1 === seq;
    const joinsAfter = runs[low * 4]! === seq + 1;
    if (joinsBefore && joinsAfter) {
      runs[before * 4 + 1] = runs[low * 4 + 1]!;
      runs[before * 4 + 3] = runs[low * 4 + 3]!;
      runs.splice(low * 4, 4);
    } else if (joinsBefore) {
      runs[before * 4 + 1] = seq;
      runs[before * 4 + 3] = streamSeq;
    } else if (joinsAfter) {
      runs[low * 4] = seq;
      runs[low * 4 + 2] = streamSeq;
    } else {
      runs.splice(low * 4, 0, seq, seq, streamSeq, streamSeq);
    }
    return "reordered";
  }
}

/** Acked items of one publisher a subscriber expected and did not receive: seqs [fromSeq, toSeq] (unacked ones in it excluded from `count`). */
interface MissingRange {
  readonly publisherId: string;
  readonly fromSeq: number;
  readonly toSeq: number;
  /** Acked seqs in the range. */
  readonly count: number;
  /** The items sat between these stream seqs (exclusive): those of the delivered neighbours, ±Infinity for none. */
  readonly afterStreamSeq: number;
  readonly beforeStreamSeq: number;
  /** Of `count`, how many no gap explains. */
  lost: number;
}

/** Gap events in stream order, for the matching. */
interface GapBins {
  readonly from: number[];
  readonly to: number[];
  readonly room: number[];
  readonly reason: string[];
}

/**
 * One subscriber's checks, fed with everything it sees: `item` and `gap` in
 * the order the client yields them, and the session events. One verifier
 * follows one subscription over all its reconnects.
 */
export class SubscriberVerifier {
  readonly id: string;
  readonly content: ContentKind;
  /** The stream it reads, naming its ledger when a run publishes into several. */
  readonly stream: string | undefined;

  #openedAtMs: number | undefined;
  #expectUntilMs = Infinity;
  /** The stream seq of the last event: the last item, or a gap's last seq. */
  #lastSeq: number | undefined;

  #delivered = 0;
  #duplicated = 0;
  #reordered = 0;
  #seqErrors = 0;
  #contentErrors = 0;
  #reconnects = 0;
  #resumes = 0;
  readonly #gapsByReason = new Map<string, number>();
  readonly #errorsByCode = new Map<string, number>();
  /** Generator and opaque streams: every gapped seq was an item, so gaps count as gapped items when they arrive. */
  readonly #gappedItems = new Map<string, number>();
  /** Published streams: the gaps, kept for the matching against missing items. */
  readonly #gaps: { from: number[]; count: number[]; reason: string[] } = { from: [], count: [], reason: [] };
  readonly #runsByPublisher = new Map<string, DeliveredRuns>();
  readonly #examples = new Map<FailureKind, string[]>();
  /** From the last `totals`: what the ledger check found (it is redone, not added to, on each call). */
  #lostExample: string | undefined;
  #unsentDelivered = 0;
  #unsentExamples: string[] = [];

  constructor(options: { readonly id: string; readonly content: ContentKind; readonly stream?: string }) {
    this.id = options.id;
    this.content = options.content;
    this.stream = options.stream;
  }

  /**
   * Its first session opened: every acked item sent from then on must reach
   * it. Later calls (reopened sessions) change nothing: a resume owes
   * everything since the first open.
   */
  opened(atMs: number): void {
    this.#openedAtMs ??= atMs;
  }

  /** Items sent after this are not expected (the publishers stopped and it had time to drain); by default none is too late. */
  expectUntil(atMs: number): void {
    this.#expectUntilMs = atMs;
  }

  /**
   * An item arrived: checks its seq and content, and returns its latency.
   * Published and generator content costs a JSON.parse per item.
   */
  item(seq: number, data: Uint8Array, receivedAtMs: number): DeliveryLatency {
    this.#delivered++;
    if (!Number.isSafeInteger(seq)) this.#seqError(`item seq ${seq} is not an integer`);
    else this.#follow(seq, seq, `seq ${seq}`);
    switch (this.content) {
      case "published":
        return this.#publishedItem(seq, data, receivedAtMs);
      case "generator":
        return this.#generatorItem(seq, data, receivedAtMs);
      case "opaque":
        return NO_LATENCY;
    }
  }

  /** Seqs [fromSeq, fromSeq + count) were dropped, and the client said so. */
  gap(fromSeq: number, count: number, reason: string): void {
    increment(this.#gapsByReason, reason, 1);
    if (!Number.isSafeInteger(fromSeq) || !Number.isSafeInteger(count) || count < 1) {
      this.#seqError(`gap from ${fromSeq} of count ${count}`);
      return;
    }
    this.#follow(fromSeq, fromSeq + count - 1, `gap from ${fromSeq}`);
    if (this.content === "published") {
      this.#gaps.from.push(fromSeq);
      this.#gaps.count.push(count);
      this.#gaps.reason.push(reason);
    } else if (reason !== "restarted") {
      // A restart gap counts a range of seqs, not items (PROTOCOL.md §7.6): how many items it held is unknown.
      increment(this.#gappedItems, reason, count);
    }
  }

  /** A session was lost and another opened. */
  /** Faults seen as items arrive (duplicated, reordered, seq and content errors), for the live view; loss is known only at the end. */
  get faultsSoFar(): number {
    return this.#duplicated + this.#reordered + this.#seqErrors + this.#contentErrors;
  }

  reconnected(): void {
    this.#reconnects++;
  }

  /** A session opened with a ResumeResult. */
  resumed(): void {
    this.#resumes++;
  }

  /** The subscription ended with this error. */
  error(code: string): void {
    increment(this.#errorsByCode, code, 1);
  }

  /**
   * Its part of the run's totals, its missing items checked against
   * `ledger` (required for published content). {@link verify} calls it for
   * every subscriber.
   */
  totals(ledger?: PublishLedger): SubscriberTotals {
    const gappedItems = new Map(this.#gappedItems);
    let lost = 0;
    if (this.content === "published") {
      if (!ledger) throw new Error(`subscriber ${this.id} checks published items and needs the ledger of its stream`);
      lost = this.#reconcile(ledger, gappedItems);
    }
    return {
      delivered: this.#delivered,
      lost,
      duplicated: this.#duplicated,
      reordered: this.#reordered,
      seqErrors: this.#seqErrors,
      contentErrors: this.#contentErrors + this.#unsentDelivered,
      gappedItems: Object.fromEntries(gappedItems),
      gapsByReason: Object.fromEntries(this.#gapsByReason),
      reconnects: this.#reconnects,
      resumes: this.#resumes,
      errorsByCode: Object.fromEntries(this.#errorsByCode),
    };
  }

  /**
   * Its first failures of a kind, for the run's failures list
   * ("publisher pub-1 seqs 17, 18, 19 …"), or undefined when it had none.
   * Lost items are those the last {@link totals} found.
   */
  example(kind: FailureKind): string | undefined {
    if (kind === "lost") return this.#lostExample;
    const samples = [...(this.#examples.get(kind) ?? []), ...(kind === "contentErrors" ? this.#unsentExamples : [])];
    if (samples.length === 0) return undefined;
    const counted = { duplicated: this.#duplicated, reordered: this.#reordered, seqErrors: this.#seqErrors, contentErrors: this.#contentErrors + this.#unsentDelivered }[kind];
    return samples.join("; ") + (counted > samples.length ? " …" : "");
  }

  /** Checks that an event covering stream seqs [first, last] follows the previous one. */
  #follow(first: number, last: number, what: string): void {
    const previous = this.#lastSeq;
    if (previous !== undefined && first !== previous + 1) this.#seqError(`${what} after ${previous}`);
    // Never back: a repeated or late seq is one error, not one for every event after it.
    if (previous === undefined || last > previous) this.#lastSeq = last;
  }

  #publishedItem(seq: number, data: Uint8Array, receivedAtMs: number): DeliveryLatency {
    const content = parseObject(data);
    const publisherId = content?.["p"];
    const publisherSeq = content?.["s"];
    const sentAtMs = content?.["t"];
    if (typeof publisherId !== "string" || typeof publisherSeq !== "number" || !Number.isSafeInteger(publisherSeq) || publisherSeq < 1 || typeof sentAtMs !== "number" || !Number.isFinite(sentAtMs)) {
      this.#contentError(`seq ${seq} is not a published item`);
      return NO_LATENCY;
    }
    let runs = this.#runsByPublisher.get(publisherId);
    if (!runs) this.#runsByPublisher.set(publisherId, (runs = new DeliveredRuns()));
    switch (runs.add(publisherSeq, seq)) {
      case "duplicate":
        this.#duplicated++;
        this.#note("duplicated", `publisher ${publisherId} seq ${publisherSeq}`);
        break;
      case "reordered":
        this.#reordered++;
        this.#note("reordered", `publisher ${publisherId} seq ${publisherSeq} after ${runs.highest}`);
        break;
      case "in order":
        break;
    }
    return { publishToDeliveryMs: receivedAtMs - sentAtMs };
  }

  #generatorItem(seq: number, data: Uint8Array, receivedAtMs: number): DeliveryLatency {
    const content = parseObject(data);
    const ownSeq = content?.["seq"];
    const sourceAtMs = content?.["at"];
    if (typeof ownSeq !== "number" || typeof sourceAtMs !== "number" || !Number.isFinite(sourceAtMs)) {
      this.#contentError(`seq ${seq} is not a generator item`);
      return NO_LATENCY;
    }
    if (ownSeq !== seq) this.#contentError(`seq ${seq} holds generator seq ${ownSeq}`);
    return { sourceToDeliveryMs: receivedAtMs - sourceAtMs };
  }

  /**
   * Finds the acked items it expected and missed, explains what the gaps can
   * (adding to `gappedItems`), and returns the rest: lost. Also counts items
   * it received that the ledger never saw sent.
   */
  #reconcile(ledger: PublishLedger, gappedItems: Map<string, number>): number {
    const views = ledger.publisherViews();
    const missing: MissingRange[] = [];
    this.#unsentDelivered = 0;
    this.#unsentExamples = [];
    for (const [publisherId, runs] of this.#runsByPublisher) this.#countUnsent(publisherId, runs, views.get(publisherId));
    if (this.#openedAtMs !== undefined) {
      for (const [publisherId, view] of views) this.#findMissing(publisherId, view, this.#runsByPublisher.get(publisherId), missing);
    }
    explainByGaps(missing, this.#sortedGaps(), gappedItems);
    let lost = 0;
    for (const range of missing) lost += range.lost;
    this.#lostExample = lost > 0 ? lostExample(missing, views, lost) : undefined;
    return lost;
  }

  #countUnsent(publisherId: string, runs: DeliveredRuns, view: PublisherView | undefined): void {
    for (let i = 0; i < runs.runs.length; i += 4) {
      const from = runs.runs[i]!;
      const to = runs.runs[i + 1]!;
      const sentInRun = view && from <= view.length ? view.sentUpTo[Math.min(to, view.length)]! - view.sentUpTo[from - 1]! : 0;
      const unsent = to - from + 1 - sentInRun;
      if (unsent === 0) continue;
      this.#unsentDelivered += unsent;
      if (this.#unsentExamples.length < EXAMPLES_KEPT) this.#unsentExamples.push(`publisher ${publisherId} seqs ${from}..${to} received, ${unsent} never sent`);
    }
  }

  /** Adds the expected, undelivered acked seqs of one publisher to `missing`, as ranges between the runs it received. */
  #findMissing(publisherId: string, view: PublisherView, runs: DeliveredRuns | undefined, missing: MissingRange[]): void {
    const first = firstAtLeast(view.timeline, view.length, this.#openedAtMs!) + 1;
    const last = firstAbove(view.timeline, view.length, this.#expectUntilMs);
    const add = (fromSeq: number, toSeq: number, afterStreamSeq: number, beforeStreamSeq: number) => {
      const count = view.ackedUpTo[toSeq]! - view.ackedUpTo[fromSeq - 1]!;
      if (count > 0) missing.push({ publisherId, fromSeq, toSeq, count, afterStreamSeq, beforeStreamSeq, lost: 0 });
    };
    let next = first;
    let afterStreamSeq = -Infinity;
    const flat = runs?.runs ?? [];
    for (let i = 0; i < flat.length && next <= last; i += 4) {
      if (flat[i]! > next) add(next, Math.min(flat[i]! - 1, last), afterStreamSeq, flat[i + 2]!);
      next = Math.max(next, flat[i + 1]! + 1);
      afterStreamSeq = flat[i + 3]!;
    }
    if (next <= last) add(next, last, afterStreamSeq, Infinity);
  }

  #sortedGaps(): GapBins {
    const gaps = this.#gaps;
    const order = gaps.from.map((_, i) => i).sort((a, b) => gaps.from[a]! - gaps.from[b]!);
    return {
      from: order.map((i) => gaps.from[i]!),
      to: order.map((i) => gaps.from[i]! + gaps.count[i]! - 1),
      room: order.map((i) => gaps.count[i]!),
      reason: order.map((i) => gaps.reason[i]!),
    };
  }

  #seqError(what: string): void {
    this.#seqErrors++;
    this.#note("seqErrors", what);
  }

  #contentError(what: string): void {
    this.#contentErrors++;
    this.#note("contentErrors", what);
  }

  #note(kind: FailureKind, what: string): void {
    let samples = this.#examples.get(kind);
    if (!samples) this.#examples.set(kind, (samples = []));
    if (samples.length < EXAMPLES_KEPT) samples.push(what);
  }
}

/**
 * Matches missing items to gaps: a range may use the gaps strictly between
 * its delivered neighbours, a contiguous run of the sorted gaps. Ranges by
 * their last usable gap, each filling the earliest usable gap with room left:
 * the greedy for interval matching, which explains as many items as any
 * assignment could, so a clean run never shows a loss. Sets each range's
 * `lost` and adds the explained items to `gappedItems` by the gap's reason.
 */
function explainByGaps(missing: MissingRange[], gaps: GapBins, gappedItems: Map<string, number>): void {
  const usable: { range: MissingRange; firstGap: number; lastGap: number }[] = [];
  for (const range of missing) {
    const firstGap = firstAbove(gaps.to, gaps.to.length, range.afterStreamSeq);
    const lastGap = firstAtLeast(gaps.from, gaps.from.length, range.beforeStreamSeq) - 1;
    if (firstGap > lastGap) range.lost = range.count;
    else usable.push({ range, firstGap, lastGap });
  }
  usable.sort((a, b) => a.lastGap - b.lastGap);
  // nextWithRoom[j]: a gap at or after j with room left (path-compressed; gaps.room.length when none).
  const nextWithRoom = Int32Array.from({ length: gaps.room.length + 1 }, (_, j) => j);
  const find = (j: number): number => {
    let root = j;
    while (nextWithRoom[root] !== root) root = nextWithRoom[root]!;
    while (nextWithRoom[j] !== root) {
      const up = nextWithRoom[j]!;
      nextWithRoom[j] = root;
      j = up;
    }
    return root;
  };
  for (const { range, firstGap, lastGap } of usable) {
    let unexplained = range.count;
    for (let j = find(firstGap); unexplained > 0 && j <= lastGap; j = find(j)) {
      const taken = Math.min(unexplained, gaps.room[j]!);
      gaps.room[j] = gaps.room[j]! - taken;
      unexplained -= taken;
      increment(gappedItems, gaps.reason[j]!, taken);
      if (gaps.room[j] === 0) nextWithRoom[j] = j + 1;
    }
    range.lost = unexplained;
  }
}

/** "publisher pub-1 seqs 17, 18, 19 …": the first lost acked seqs, by publisher. */
function lostExample(missing: readonly MissingRange[], views: ReadonlyMap<string, PublisherView>, lost: number): string {
  const seqsByPublisher = new Map<string, number[]>();
  let listed = 0;
  for (const range of missing) {
    if (listed === LOST_SEQS_LISTED) break;
    if (range.lost === 0) continue;
    const states = views.get(range.publisherId)!.states;
    let seqs = seqsByPublisher.get(range.publisherId);
    if (!seqs) seqsByPublisher.set(range.publisherId, (seqs = []));
    // Which of a range's acked seqs the gaps explained is arbitrary: list its first ones.
    let take = Math.min(range.lost, LOST_SEQS_LISTED - listed);
    for (let seq = range.fromSeq; take > 0 && seq <= range.toSeq; seq++) {
      if (states[seq - 1] !== ACKED) continue;
      seqs.push(seq);
      take--;
      listed++;
    }
  }
  const text = [...seqsByPublisher].map(([publisherId, seqs]) => `publisher ${publisherId} ${seqs.length === 1 ? "seq" : "seqs"} ${seqs.join(", ")}`).join("; ");
  return lost > listed ? `${text} …` : text;
}

/**
 * Totals over all subscribers. With several streams, `ledger` maps stream
 * names to ledgers and each subscriber of published content is checked
 * against the ledger of its `stream`.
 */
export function verify(subscribers: readonly SubscriberVerifier[], ledger: PublishLedger | ReadonlyMap<string, PublishLedger>): VerificationTotals {
  const ledgerOf = (subscriber: SubscriberVerifier): PublishLedger | undefined => {
    if (subscriber.content !== "published") return undefined;
    if (ledger instanceof PublishLedger) return ledger;
    const found = subscriber.stream === undefined ? undefined : ledger.get(subscriber.stream);
    if (!found) throw new Error(`subscriber ${subscriber.id} checks published items but stream ${subscriber.stream ?? "(none)"} has no ledger`);
    return found;
  };
  let delivered = 0;
  let lost = 0;
  let duplicated = 0;
  let reordered = 0;
  let seqErrors = 0;
  let contentErrors = 0;
  let reconnects = 0;
  let resumes = 0;
  const gappedItems = new Map<string, number>();
  const gapsByReason = new Map<string, number>();
  const errorsByCode = new Map<string, number>();
  for (const subscriber of subscribers) {
    const part = subscriber.totals(ledgerOf(subscriber));
    delivered += part.delivered;
    lost += part.lost;
    duplicated += part.duplicated;
    reordered += part.reordered;
    seqErrors += part.seqErrors;
    contentErrors += part.contentErrors;
    reconnects += part.reconnects;
    resumes += part.resumes;
    addAll(gappedItems, part.gappedItems);
    addAll(gapsByReason, part.gapsByReason);
    addAll(errorsByCode, part.errorsByCode);
  }
  let published = 0;
  let acked = 0;
  for (const each of ledger instanceof PublishLedger ? [ledger] : new Set(ledger.values())) {
    published += each.published;
    acked += each.ackedCount;
    addAll(errorsByCode, each.rejectedByCode);
  }
  return {
    published,
    acked,
    delivered,
    lost,
    duplicated,
    reordered,
    seqErrors,
    contentErrors,
    gappedItems: Object.fromEntries(gappedItems),
    gapsByReason: Object.fromEntries(gapsByReason),
    reconnects,
    resumes,
    errorsByCode: Object.fromEntries(errorsByCode),
  };
}

const FAILURE_LINES: readonly (readonly [FailureKind, (count: number) => string])[] = [
  ["lost", (count) => `lost ${count} ${count === 1 ? "item" : "items"}`],
  ["duplicated", (count) => `duplicated ${count} ${count === 1 ? "item" : "items"}`],
  ["reordered", (count) => `reordered ${count} ${count === 1 ? "item" : "items"}`],
  ["seqErrors", (count) => `${count} stream seq ${count === 1 ? "error" : "errors"}`],
  ["contentErrors", (count) => `${count} content ${count === 1 ? "error" : "errors"}`],
];

/**
 * One line per failure kind for the run's `failures` list, empty when the run
 * is clean: "lost 3 items (subscriber sub-7: publisher pub-1 seqs 17, 18, 19 …)".
 * Pass the subscribers {@link verify} checked for the examples.
 */
export function failuresOf(totals: VerificationTotals, subscribers?: readonly SubscriberVerifier[]): string[] {
  const lines: string[] = [];
  for (const [kind, describe] of FAILURE_LINES) {
    if (totals[kind] === 0) continue;
    const failing = (subscribers ?? []).filter((subscriber) => subscriber.example(kind) !== undefined);
    const first = failing[0];
    const others = failing.length > 1 ? `; ${failing.length - 1} more ${failing.length === 2 ? "subscriber" : "subscribers"}` : "";
    lines.push(first ? `${describe(totals[kind])} (subscriber ${first.id}: ${first.example(kind)!}${others})` : describe(totals[kind]));
  }
  return lines;
}

const utf8 = new TextDecoder();

/** The item's JSON object, or undefined when it is not one. */
function parseObject(data: Uint8Array): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(utf8.decode(data));
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The first index below `length` whose value is >= x (`length` when none); `values` ascending. */
function firstAtLeast(values: ArrayLike<number>, length: number, x: number): number {
  let low = 0;
  let high = length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (values[mid]! < x) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The first index below `length` whose value is > x (`length` when none); `values` ascending. */
function firstAbove(values: ArrayLike<number>, length: number, x: number): number {
  let low = 0;
  let high = length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (values[mid]! <= x) low = mid + 1;
    else high = mid;
  }
  return low;
}

function increment(counts: Map<string, number>, key: string, by: number): void {
  counts.set(key, (counts.get(key) ?? 0) + by);
}

function addAll(counts: Map<string, number>, more: Readonly<Record<string, number>>): void {
  for (const [key, count] of Object.entries(more)) increment(counts, key, count);
}
