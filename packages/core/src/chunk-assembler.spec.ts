/**
 * Chunking (PROTOCOL.md §5): when chunks close, how big items are
 * fragmented, where gaps ride, and that nothing is lost or reordered.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChunkAssembler, DEFAULT_CHUNK_OPTIONS } from "./chunk-assembler.js";
import { EMPTY_BYTES, chunkPayloadBytes, type ChunkFrame, type Gap } from "./frames.js";

const bytes = (n: number, fill = 0) => new Uint8Array(n).fill(fill);
const cursorOf = (seq: number) => Uint8Array.of(seq & 0xff, seq >> 8);

function takeAll(a: ChunkAssembler): ChunkFrame[] {
  const out: ChunkFrame[] = [];
  for (let c = a.take(); c; c = a.take()) out.push(c);
  return out;
}

describe("ChunkAssembler", () => {
  it("closes a chunk at maxItems", () => {
    const a = new ChunkAssembler({ maxItems: 3, maxBytes: 1_000, flushDelayMs: 5 });
    a.add(1, bytes(1), cursorOf(1), 0);
    a.add(2, bytes(1), cursorOf(2), 0);
    expect(a.take()).toBeUndefined();
    expect(a.openItems).toBe(2);
    a.add(3, bytes(1), cursorOf(3), 0);
    expect(takeAll(a)).toEqual([{ type: "chunk", firstSeq: 1, items: [bytes(1), bytes(1), bytes(1)], cursor: cursorOf(3), gap: undefined }]);
    expect(a.openItems).toBe(0);
    expect(a.deadline).toBeUndefined();
  });

  it("closes a chunk when its payload reaches maxBytes", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 100, flushDelayMs: 5 });
    a.add(1, bytes(40), cursorOf(1), 0);
    a.add(2, bytes(60), cursorOf(2), 0);
    expect(takeAll(a).map((c) => [c.firstSeq, c.items.length])).toEqual([[1, 2]]);
  });

  it("closes the open chunk before an item that would take it over maxBytes", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 100, flushDelayMs: 5 });
    a.add(1, bytes(60), cursorOf(1), 0);
    a.add(2, bytes(60), cursorOf(2), 0);
    expect(takeAll(a).map((c) => [c.firstSeq, c.items.length])).toEqual([[1, 1]]);
    expect(a.openItems).toBe(1);
  });

  it("closes a chunk at its flush deadline, counted from its first item", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 1_000, flushDelayMs: 5 });
    expect(a.deadline).toBeUndefined();
    a.add(1, bytes(1), cursorOf(1), 10);
    a.add(2, bytes(1), cursorOf(2), 13);
    expect(a.deadline).toBe(15);
    a.handleTimeout(14);
    expect(a.take()).toBeUndefined();
    a.handleTimeout(15);
    expect(takeAll(a).map((c) => [c.firstSeq, c.items.length])).toEqual([[1, 2]]);
    expect(a.deadline).toBeUndefined();
  });

  it("closes an overdue chunk itself when the next item comes, before the item joins it (§5.1)", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 1_000, flushDelayMs: 5 });
    a.add(1, bytes(1), cursorOf(1), 10);
    a.add(2, bytes(1), cursorOf(2), 14); // within the deadline: joins
    expect(a.take()).toBeUndefined();
    // The caller's timer has not fired (a busy event loop): the chunk is overdue all the same.
    a.add(3, bytes(1), cursorOf(3), 15);
    expect(takeAll(a)).toEqual([{ type: "chunk", firstSeq: 1, items: [bytes(1), bytes(1)], cursor: cursorOf(2), gap: undefined }]);
    // Item 3 opened the next chunk, with its own deadline.
    expect(a.openItems).toBe(1);
    expect(a.deadline).toBe(20);
  });

  it("sends an overdue lone gap before the next item rather than letting the item extend its deadline", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 1_000, flushDelayMs: 5 });
    a.addGap({ fromSeq: 1, count: 2, reason: "dropped_oldest" }, 0);
    a.add(3, bytes(1), cursorOf(3), 7);
    expect(takeAll(a)).toEqual([{ type: "chunk", firstSeq: 3, items: [], cursor: EMPTY_BYTES, gap: { fromSeq: 1, count: 2, reason: "dropped_oldest" } }]);
    expect(a.openItems).toBe(1);
  });

  it("with no flush delay, sends every item in a chunk of its own", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 1_000, flushDelayMs: 0 });
    for (let seq = 1; seq <= 3; seq++) a.add(seq, bytes(1), cursorOf(seq), 0);
    a.close();
    expect(takeAll(a).map((c) => [c.firstSeq, c.items.length])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
  });

  it("closes a chunk on close()", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 1_000, flushDelayMs: 5 });
    a.add(7, bytes(3), cursorOf(7), 0);
    a.close();
    expect(takeAll(a)).toEqual([{ type: "chunk", firstSeq: 7, items: [bytes(3)], cursor: cursorOf(7), gap: undefined }]);
    a.close(); // nothing open: nothing to send
    expect(a.take()).toBeUndefined();
  });

  it("sends an item larger than maxBytes as fragments with contiguous offsets, the cursor only on the last", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 4, flushDelayMs: 5 });
    a.add(1, bytes(2, 1), cursorOf(1), 0);
    const big = Uint8Array.from({ length: 10 }, (_, i) => i);
    a.add(2, big, cursorOf(2), 0);
    const chunks = takeAll(a);
    // The open chunk goes first: item 1 must not wait behind item 2.
    expect(chunks[0]).toMatchObject({ firstSeq: 1, items: [bytes(2, 1)] });
    expect(chunks.slice(1)).toEqual([
      { type: "chunk", firstSeq: 2, items: [], fragment: { totalBytes: 10, offset: 0, data: big.subarray(0, 4) }, cursor: EMPTY_BYTES, gap: undefined },
      { type: "chunk", firstSeq: 2, items: [], fragment: { totalBytes: 10, offset: 4, data: big.subarray(4, 8) }, cursor: EMPTY_BYTES, gap: undefined },
      { type: "chunk", firstSeq: 2, items: [], fragment: { totalBytes: 10, offset: 8, data: big.subarray(8, 10) }, cursor: cursorOf(2), gap: undefined },
    ]);
  });

  it("carries a filtered stream's subjects, one per item, counted in the chunk's bytes; the fragment that completes an item carries its subject (§7.10)", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 12, flushDelayMs: 5 });
    a.add(1, bytes(2, 1), cursorOf(1), 0, undefined, "s.a");
    a.add(2, bytes(2, 2), cursorOf(2), 0, undefined, "s.bb");
    // 5 + 6 bytes so far: 2 + 3 more would pass 12.
    a.add(3, bytes(2, 3), cursorOf(3), 0, undefined, "s.c");
    // An item over maxBytes with its subject: fragments sized to leave room for it on the last.
    const big = Uint8Array.from({ length: 20 }, (_, i) => i);
    a.add(4, big, cursorOf(4), 0, undefined, "s.big");
    const chunks = takeAll(a);
    expect(chunks[0]).toMatchObject({ firstSeq: 1, items: [bytes(2, 1), bytes(2, 2)], subjects: ["s.a", "s.bb"] });
    expect(chunks[1]).toMatchObject({ firstSeq: 3, items: [bytes(2, 3)], subjects: ["s.c"] });
    const fragments = chunks.slice(2);
    expect(fragments.map((c) => c.fragment!.data.byteLength)).toEqual([7, 7, 6]);
    expect(fragments.map((c) => c.subjects)).toEqual([undefined, undefined, ["s.big"]]);
  });

  it("never mixes items with and without subjects in one chunk", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 1_000, flushDelayMs: 5 });
    a.add(1, bytes(1), cursorOf(1), 0);
    a.add(2, bytes(1), cursorOf(2), 0, undefined, "s.x");
    a.close();
    const chunks = takeAll(a);
    expect(chunks.map((c) => [c.firstSeq, c.items.length, c.subjects])).toEqual([
      [1, 1, undefined],
      [2, 1, ["s.x"]],
    ]);
  });

  it("puts a gap on the next chunk", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 1_000, flushDelayMs: 5 });
    a.add(1, bytes(1), cursorOf(1), 0);
    const gap: Gap = { fromSeq: 2, count: 3, reason: "dropped_oldest" };
    a.addGap(gap, 1);
    a.add(5, bytes(1), cursorOf(5), 2);
    a.close();
    expect(takeAll(a)).toEqual([
      { type: "chunk", firstSeq: 1, items: [bytes(1)], cursor: cursorOf(1), gap: undefined },
      { type: "chunk", firstSeq: 5, items: [bytes(1)], cursor: cursorOf(5), gap },
    ]);
  });

  it("puts a gap on the first fragment when the next item is fragmented", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 4, flushDelayMs: 5 });
    const gap: Gap = { fromSeq: 1, count: 2, reason: "dropped_newest" };
    a.addGap(gap, 0);
    a.add(3, bytes(10), cursorOf(3), 0);
    const chunks = takeAll(a);
    expect(chunks.map((c) => [c.firstSeq, c.fragment?.offset, c.gap])).toEqual([
      [3, 0, gap],
      [3, 4, undefined],
      [3, 8, undefined],
    ]);
  });

  it("merges gaps with nothing between them into one", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 1_000, flushDelayMs: 5 });
    a.addGap({ fromSeq: 1, count: 2, reason: "dropped_oldest" }, 0);
    a.addGap({ fromSeq: 3, count: 4, reason: "dropped_newest" }, 1);
    a.add(7, bytes(1), cursorOf(7), 2);
    a.close();
    expect(takeAll(a)).toEqual([{ type: "chunk", firstSeq: 7, items: [bytes(1)], cursor: cursorOf(7), gap: { fromSeq: 1, count: 6, reason: "dropped_newest" } }]);
  });

  it("sends a gap alone on close, as a chunk with no items that starts after it", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 1_000, flushDelayMs: 5 });
    const gap: Gap = { fromSeq: 6, count: 2, reason: "history_expired" };
    a.addGap(gap, 0);
    a.close();
    expect(takeAll(a)).toEqual([{ type: "chunk", firstSeq: 8, items: [], cursor: EMPTY_BYTES, gap }]);
  });

  it("flushes a lone gap at its deadline rather than waiting for an item that may never come", () => {
    const a = new ChunkAssembler({ maxItems: 100, maxBytes: 1_000, flushDelayMs: 5 });
    a.addGap({ fromSeq: 1, count: 1, reason: "dropped_oldest" }, 100);
    expect(a.deadline).toBe(105);
    a.handleTimeout(104);
    expect(a.take()).toBeUndefined();
    a.handleTimeout(105);
    expect(takeAll(a)).toMatchObject([{ firstSeq: 2, items: [], gap: { fromSeq: 1, count: 1 } }]);
  });

  it("drops everything not yet taken on discard", () => {
    const a = new ChunkAssembler({ maxItems: 1, maxBytes: 1_000, flushDelayMs: 5 });
    a.add(1, bytes(1), cursorOf(1), 0);
    a.addGap({ fromSeq: 2, count: 1, reason: "dropped_oldest" }, 0);
    expect(a.readyCount).toBe(1);
    a.discard();
    a.close();
    expect(a.take()).toBeUndefined();
    expect(a.deadline).toBeUndefined();
  });

  it("closes chunks at max items, at max bytes, at the flush deadline and on close, in one run", () => {
    const a = new ChunkAssembler({ maxItems: 3, maxBytes: 100, flushDelayMs: 5 });
    for (let s = 1; s <= 3; s++) a.add(s, bytes(1), EMPTY_BYTES, 0);
    expect(a.take()?.items.length).toBe(3);
    a.add(4, bytes(60), EMPTY_BYTES, 0);
    a.add(5, bytes(60), EMPTY_BYTES, 0); // 120 > 100: item 4 goes alone
    expect(a.take()).toMatchObject({ firstSeq: 4 });
    expect(a.deadline).toBe(5);
    a.handleTimeout(4);
    expect(a.take()).toBeUndefined();
    a.handleTimeout(5);
    expect(a.take()).toMatchObject({ firstSeq: 5 });
    a.add(6, bytes(1), EMPTY_BYTES, 10);
    a.close();
    expect(a.take()).toMatchObject({ firstSeq: 6 });
  });

  it("uses 32 KiB chunks by default", () => {
    expect(new ChunkAssembler().options).toEqual(DEFAULT_CHUNK_OPTIONS);
    expect(DEFAULT_CHUNK_OPTIONS.maxBytes).toBe(32 * 1024);
  });

  it.each([{ maxItems: 0 }, { maxBytes: 0 }, { flushDelayMs: -1 }, { maxItems: Number.NaN }])("refuses invalid options %o", (options) => {
    expect(() => new ChunkAssembler(options)).toThrow(RangeError);
  });

  type Op =
    | { readonly kind: "item"; readonly size: number }
    | { readonly kind: "gap"; readonly count: number }
    | { readonly kind: "tick"; readonly ms: number }
    | { readonly kind: "close" };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant("item" as const), size: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 400 })) }), weight: 8 },
    { arbitrary: fc.record({ kind: fc.constant("gap" as const), count: fc.integer({ min: 1, max: 5 }) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 10 }) }), weight: 2 },
    { arbitrary: fc.constant<Op>({ kind: "close" }), weight: 1 },
  );

  it("reproduces items alone exactly, many fragments included: contiguous, within limits, the cursor on the last fragment (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 700 }), { maxLength: 200 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 256 }), (sizes, maxItems, maxBytes) => {
        const a = new ChunkAssembler({ maxItems, maxBytes, flushDelayMs: 1 });
        const items = sizes.map((n, i) => new Uint8Array(n).fill(i % 251));
        items.forEach((data, i) => a.add(i + 1, data, new Uint8Array([i + 1]), 0));
        a.close();
        const out: Uint8Array[] = [];
        let partial: number[] = [];
        let expectSeq = 1;
        for (const c of takeAll(a)) {
          if (c.fragment) {
            expect(c.firstSeq).toBe(expectSeq);
            expect(c.fragment.offset).toBe(partial.length);
            expect(c.fragment.data.byteLength).toBeLessThanOrEqual(maxBytes);
            partial.push(...c.fragment.data);
            const last = partial.length === c.fragment.totalBytes;
            expect(c.cursor.byteLength > 0).toBe(last);
            if (last) {
              out.push(Uint8Array.from(partial));
              partial = [];
              expectSeq++;
            }
          } else {
            expect(c.firstSeq).toBe(expectSeq);
            expect(c.items.length).toBeLessThanOrEqual(maxItems);
            expect(chunkPayloadBytes(c)).toBeLessThanOrEqual(maxBytes);
            out.push(...c.items);
            expectSeq += c.items.length;
          }
        }
        expect(out).toEqual(items);
      }),
      { numRuns: 200 },
    );
  });

  it("reproduces its input exactly: contiguous seqs, every item and gap once, within maxItems and maxBytes (property)", () => {
    fc.assert(
      fc.property(
        fc.record({ maxItems: fc.integer({ min: 1, max: 10 }), maxBytes: fc.integer({ min: 1, max: 128 }), flushDelayMs: fc.integer({ min: 0, max: 8 }) }),
        fc.array(opArb, { maxLength: 150 }),
        (options, ops) => {
          const a = new ChunkAssembler(options);
          /** What each seq is, as given: item data or a gap. */
          const input: (Uint8Array | "gap")[] = [];
          /** When each seq was added. */
          const addedAt: number[] = [];
          const chunks: ChunkFrame[] = [];
          let now = 0;
          for (const op of ops) {
            const seq = input.length + 1;
            if (op.kind === "item") {
              const data = Uint8Array.from({ length: op.size }, (_, i) => (seq * 31 + i) & 0xff);
              a.add(seq, data, cursorOf(seq), now);
              input.push(data);
              addedAt.push(now);
            } else if (op.kind === "gap") {
              a.addGap({ fromSeq: seq, count: op.count, reason: "dropped_oldest" }, now);
              for (let i = 0; i < op.count; i++) {
                input.push("gap");
                addedAt.push(now);
              }
            } else if (op.kind === "tick") {
              now += op.ms;
              a.handleTimeout(now);
              // Nothing is left open past its deadline.
              const deadline = a.deadline;
              if (deadline !== undefined) expect(deadline).toBeGreaterThan(now);
            } else {
              a.close();
            }
            chunks.push(...takeAll(a));
          }
          a.close();
          chunks.push(...takeAll(a));

          const output: (Uint8Array | "gap")[] = [];
          let partial: number[] | undefined;
          for (const chunk of chunks) {
            expect(chunkPayloadBytes(chunk)).toBeLessThanOrEqual(options.maxBytes);
            expect(chunk.items.length).toBeLessThanOrEqual(options.maxItems);
            if (chunk.gap) {
              expect(partial).toBeUndefined();
              expect(chunk.gap.fromSeq).toBe(output.length + 1);
              expect(chunk.gap.fromSeq + chunk.gap.count).toBe(chunk.firstSeq);
              for (let i = 0; i < chunk.gap.count; i++) output.push("gap");
            }
            if (chunk.fragment) {
              const { totalBytes, offset, data } = chunk.fragment;
              expect(totalBytes).toBeGreaterThan(options.maxBytes);
              expect(chunk.items).toEqual([]);
              expect(chunk.firstSeq).toBe(output.length + 1);
              partial ??= [];
              expect(offset).toBe(partial.length);
              partial.push(...data);
              const last = partial.length === totalBytes;
              expect(chunk.cursor).toEqual(last ? cursorOf(chunk.firstSeq) : EMPTY_BYTES);
              if (last) {
                output.push(Uint8Array.from(partial));
                partial = undefined;
              }
            } else {
              expect(partial).toBeUndefined();
              expect(chunk.firstSeq).toBe(output.length + 1);
              if (chunk.items.length > 0) expect(chunk.cursor).toEqual(cursorOf(chunk.firstSeq + chunk.items.length - 1));
              else expect(chunk.gap).toBeDefined(); // only a gap may travel without items
              // No item joined the chunk once its deadline (first item + flushDelayMs) had passed.
              for (let i = 1; i < chunk.items.length; i++) {
                expect(addedAt[chunk.firstSeq - 1 + i]! - addedAt[chunk.firstSeq - 1]!).toBeLessThan(options.flushDelayMs);
              }
              output.push(...chunk.items);
            }
          }
          expect(partial).toBeUndefined();
          expect(output).toEqual(input);
        },
      ),
      { numRuns: 300 },
    );
  });
});
