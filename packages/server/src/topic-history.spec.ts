import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TopicHistory, type HistoryEntry } from "./topic-history.js";

/** The rules as a plain list of objects: what the history must keep. */
class ModelHistory {
  readonly items: HistoryEntry[] = [];
  constructor(readonly bounds: { maxItems: number; maxBytes: number; maxAgeMs: number }) {}
  bytes(): number {
    return this.items.reduce((n, e) => n + e.data.byteLength, 0);
  }
  push(entry: HistoryEntry): void {
    if (this.bounds.maxItems === 0) return;
    this.items.push({ ...entry, data: entry.data.slice() });
    this.trim(entry.at);
  }
  trim(now: number): void {
    for (;;) {
      const oldest = this.items[0];
      if (!oldest) return;
      const over = this.items.length > this.bounds.maxItems || (this.bytes() > this.bounds.maxBytes && this.items.length > 1) || now - oldest.at > this.bounds.maxAgeMs;
      if (!over) return;
      this.items.shift();
    }
  }
}

/** Entries in a form toEqual compares fast: the bytes as one Buffer each. */
const plain = (list: HistoryEntry[]) => list.map((e) => ({ ...e, data: Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString("base64") }));

const entries = (history: TopicHistory, afterSeq = 0, keep?: (subject: string) => boolean) => {
  const out: HistoryEntry[] = [];
  history.forEachAfter(afterSeq, keep, (e) => out.push(e));
  return out;
};

describe("TopicHistory", () => {
  it("keeps exactly what a plain list under the same bounds keeps, bytes and all (property)", () => {
    const op = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant("push" as const), size: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 5_000, max: 40_000 })), subject: fc.constantFrom("t", "t.a", "t.b.c"), dt: fc.integer({ min: 0, max: 50 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("tick" as const), dt: fc.integer({ min: 0, max: 400 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("replay" as const), back: fc.integer({ min: 0, max: 60 }) }) },
    );
    fc.assert(
      fc.property(
        fc.record({ maxItems: fc.integer({ min: 0, max: 40 }), maxBytes: fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 100_000 })), maxAgeMs: fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: 500 })) }),
        fc.array(op, { maxLength: 120 }),
        (bounds, ops) => {
          const history = new TopicHistory(bounds, "t");
          const model = new ModelHistory(bounds);
          let seq = 1;
          let now = 0;
          let fill = 0;
          for (const o of ops) {
            now += o.kind === "replay" ? 0 : o.dt;
            if (o.kind === "push") {
              const data = new Uint8Array(o.size).fill(fill++ & 0xff);
              data[0] = seq & 0xff;
              const entry = { seq: seq++, data, at: now, subject: o.subject };
              history.push(entry.seq, entry.data, entry.at, entry.subject);
              model.push(entry);
              // The caller may reuse its buffer: the history has its own copy.
              data.fill(0);
            } else if (o.kind === "tick") {
              history.trim(now);
              model.trim(now);
            } else {
              const after = seq - 1 - o.back;
              expect(plain(entries(history, after, (s) => s !== "t.a"))).toEqual(plain(model.items.filter((e) => e.seq > after && e.subject !== "t.a")));
            }
            expect(history.length).toBe(model.items.length);
            expect(history.bytes).toBe(model.bytes());
            expect(history.oldestSeq).toBe(model.items[0]?.seq);
          }
          expect(plain(entries(history))).toEqual(plain(model.items));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("gives copies: a replayed item keeps its bytes after the history moved on and reused its block", () => {
    const history = new TopicHistory({ maxItems: 4, maxBytes: Infinity, maxAgeMs: Infinity }, "t");
    let replayed: HistoryEntry | undefined;
    history.push(1, new Uint8Array(1000).fill(7), 0, "t");
    history.forEachAfter(0, undefined, (e) => (replayed = e));
    for (let seq = 2; seq < 2_000; seq++) history.push(seq, new Uint8Array(1000).fill(seq & 0xff), 0, "t");
    expect(replayed!.data.every((b) => b === 7)).toBe(true);
    expect(entries(history).map((e) => e.seq)).toEqual([1996, 1997, 1998, 1999]);
    expect(entries(history)[0]!.data.every((b) => b === (1996 & 0xff))).toBe(true);
  });

  it("holds a steady stream in a few blocks: 10 000 items of 1 KiB in at most 11.5 MiB of blocks", () => {
    // Reach into the blocks through the one number that shows them: bytes retained vs blocks in use.
    const history = new TopicHistory({ maxItems: 10_000, maxBytes: Infinity, maxAgeMs: Infinity }, "t");
    const item = new Uint8Array(1024);
    for (let seq = 1; seq <= 50_000; seq++) history.push(seq, item, 0, "t");
    expect(history.length).toBe(10_000);
    expect(history.bytes).toBe(10_000 * 1024);
    expect(history.blockBytes).toBeLessThanOrEqual(11.5 * 1024 * 1024);
    expect(history.blockCount).toBeLessThanOrEqual(12);
  });

  it("refuses a seq that does not follow the newest", () => {
    const history = new TopicHistory({ maxItems: 10, maxBytes: Infinity, maxAgeMs: Infinity }, "t");
    history.push(5, new Uint8Array(1), 0, "t");
    expect(() => history.push(7, new Uint8Array(1), 0, "t")).toThrow(/history: seq 7 after 5/);
  });
});
