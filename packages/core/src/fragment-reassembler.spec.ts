/**
 * Reassembly of fragmented items (PROTOCOL.md §5.3): bounded before
 * allocation, strict about order, tolerant of resent fragments.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SluiceError } from "./errors.js";
import { FragmentReassembler } from "./fragment-reassembler.js";
import { thrown } from "../test/fixtures.js";


const data = Uint8Array.from({ length: 10 }, (_, i) => i + 1);

describe("FragmentReassembler", () => {
  it("reassembles an item from fragments in order", () => {
    const r = new FragmentReassembler(100);
    expect(r.add(3, { totalBytes: 10, offset: 0, data: data.subarray(0, 4) })).toEqual({ kind: "partial" });
    expect(r.seq).toBe(3);
    expect(r.bufferedBytes).toBe(4);
    expect(r.add(3, { totalBytes: 10, offset: 4, data: data.subarray(4, 7) })).toEqual({ kind: "partial" });
    expect(r.add(3, { totalBytes: 10, offset: 7, data: data.subarray(7) })).toEqual({ kind: "complete", data });
    // Ready for the next item.
    expect(r.seq).toBe(0);
    expect(r.bufferedBytes).toBe(0);
  });

  it("hands back a single whole fragment without copying it", () => {
    const r = new FragmentReassembler(100);
    const result = r.add(1, { totalBytes: 10, offset: 0, data });
    expect(result).toEqual({ kind: "complete", data });
    expect(result.kind === "complete" && result.data).toBe(data);
  });

  it("rejects an item over the maximum size before allocating anything, as limit_exceeded by the peer", () => {
    const r = new FragmentReassembler(100);
    // 2^40 bytes could not be allocated: the check must come first.
    const error = thrown(() => r.add(1, { totalBytes: 2 ** 40, offset: 0, data: new Uint8Array(1) }));
    expect(error).toMatchObject({ code: "limit_exceeded", blame: "remote" });
    expect(error.message).toBe(`item 1 is ${2 ** 40} bytes, over the max item size 100`);
    expect(r.bufferedBytes).toBe(0);
    expect(r.seq).toBe(0);
  });

  it("accepts an item of exactly the maximum size", () => {
    const r = new FragmentReassembler(10);
    expect(r.add(1, { totalBytes: 10, offset: 0, data: data.subarray(0, 5) })).toEqual({ kind: "partial" });
    expect(r.add(1, { totalBytes: 10, offset: 5, data: data.subarray(5) })).toEqual({ kind: "complete", data });
  });

  it("rejects a fragment that skips bytes as a protocol violation (retryable: a frame was lost)", () => {
    const r = new FragmentReassembler(100);
    r.add(1, { totalBytes: 10, offset: 0, data: data.subarray(0, 4) });
    const error = thrown(() => r.add(1, { totalBytes: 10, offset: 6, data: data.subarray(6) }));
    expect(error).toMatchObject({ code: "protocol_violation", blame: "remote", retryable: true });
    expect(error.message).toMatch(/skips bytes 4\.\.6/);
  });

  it("rejects a first fragment that does not start at offset 0 as a protocol violation, retryable: the first was lost (§5.3)", () => {
    const r = new FragmentReassembler(100);
    const error = thrown(() => r.add(1, { totalBytes: 10, offset: 4, data: data.subarray(4) }));
    expect(error).toMatchObject({ code: "protocol_violation", blame: "remote", retryable: true, message: "fragment of item 1 starts at offset 4, expected 0" });
    // Checked before the size: a lost first fragment is the likelier story.
    expect(thrown(() => r.add(1, { totalBytes: 2 ** 40, offset: 4, data: data.subarray(4) })).code).toBe("protocol_violation");
  });

  it("admits the first fragment of an item after its offset and size checks, before the fit check and any allocation (§5.3)", () => {
    const calls: [number, number][] = [];
    const admit = (seq: number, totalBytes: number) => void calls.push([seq, totalBytes]);
    const r = new FragmentReassembler(100);
    expect(() => r.add(1, { totalBytes: 10, offset: 2, data: data.subarray(2) }, admit)).toThrow(SluiceError);
    expect(() => r.add(1, { totalBytes: 101, offset: 0, data }, admit)).toThrow(/over the max item size 100/);
    expect(calls).toEqual([]);
    // A credit refusal in admit leaves nothing behind.
    expect(() =>
      r.add(2, { totalBytes: 10, offset: 0, data: data.subarray(0, 4) }, () => {
        throw new SluiceError("credit_violation", "no credit", { blame: "remote" });
      }),
    ).toThrow("no credit");
    expect(r.seq).toBe(0);
    // The fit check comes after admit: the credit check sees the item first.
    expect(() => r.add(3, { totalBytes: 4, offset: 0, data }, admit)).toThrow(/does not fit total_bytes 4/);
    expect(calls).toEqual([[3, 4]]);
    // Once per item: not for its later fragments, also for an item in one fragment.
    r.add(4, { totalBytes: 10, offset: 0, data: data.subarray(0, 5) }, admit);
    r.add(4, { totalBytes: 10, offset: 5, data: data.subarray(5) }, admit);
    r.add(5, { totalBytes: 10, offset: 0, data }, admit);
    expect(calls).toEqual([
      [3, 4],
      [4, 10],
      [5, 10],
    ]);
  });

  it("reports a resent fragment of the current item as a duplicate and keeps going", () => {
    const r = new FragmentReassembler(100);
    r.add(1, { totalBytes: 10, offset: 0, data: data.subarray(0, 4) });
    r.add(1, { totalBytes: 10, offset: 4, data: data.subarray(4, 8) });
    expect(r.add(1, { totalBytes: 10, offset: 0, data: data.subarray(0, 4) })).toEqual({ kind: "duplicate" });
    expect(r.add(1, { totalBytes: 10, offset: 4, data: data.subarray(4, 8) })).toEqual({ kind: "duplicate" });
    expect(r.bufferedBytes).toBe(8);
    expect(r.add(1, { totalBytes: 10, offset: 8, data: data.subarray(8) })).toEqual({ kind: "complete", data });
  });

  it("rejects a fragment of another item, or of the same item with another size, while one is half built", () => {
    const r = new FragmentReassembler(100);
    r.add(1, { totalBytes: 10, offset: 0, data: data.subarray(0, 4) });
    expect(thrown(() => r.add(2, { totalBytes: 10, offset: 4, data: data.subarray(4) })).message).toMatch(/interrupts item 1/);
    expect(thrown(() => r.add(1, { totalBytes: 12, offset: 4, data: data.subarray(4) }))).toMatchObject({ code: "protocol_violation" });
  });

  it.each([
    { name: "an empty fragment", fragment: { totalBytes: 10, offset: 0, data: new Uint8Array(0) } },
    { name: "a fragment running past total_bytes", fragment: { totalBytes: 4, offset: 0, data } },
  ])("rejects $name", ({ fragment }) => {
    expect(thrown(() => new FragmentReassembler(100).add(1, fragment))).toMatchObject({ code: "protocol_violation", blame: "remote" });
  });

  it("forgets a half-built item on reset", () => {
    const r = new FragmentReassembler(100);
    r.add(1, { totalBytes: 10, offset: 0, data: data.subarray(0, 4) });
    r.reset();
    expect(r.seq).toBe(0);
    expect(r.bufferedBytes).toBe(0);
    expect(r.add(2, { totalBytes: 10, offset: 0, data })).toEqual({ kind: "complete", data });
  });

  it("reassembles arbitrary splits of items up to 2 000 bytes (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 2_000 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1 }), (item, cuts) => {
        const r = new FragmentReassembler(10_000);
        let offset = 0;
        let i = 0;
        let result;
        while (offset < item.length) {
          const n = Math.min(cuts[i++ % cuts.length]!, item.length - offset);
          result = r.add(7, { totalBytes: item.length, offset, data: item.subarray(offset, offset + n) });
          offset += n;
        }
        expect(result).toEqual({ kind: "complete", data: item });
      }),
    );
  });

  it("reassembles any split of any item to the original, with resent fragments reported as duplicates (property)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 1_000 }),
        fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (item, cuts, resends) => {
          const fragments: { offset: number; data: Uint8Array }[] = [];
          for (let offset = 0, i = 0; offset < item.length; i++) {
            const size = Math.min(cuts[i % cuts.length]!, item.length - offset);
            fragments.push({ offset, data: item.slice(offset, offset + size) });
            offset += size;
          }
          const r = new FragmentReassembler(item.length);
          let result;
          for (const [i, fragment] of fragments.entries()) {
            result = r.add(9, { totalBytes: item.length, ...fragment });
            if (i < fragments.length - 1) {
              expect(result).toEqual({ kind: "partial" });
              // Resend some fragment already received; nothing changes.
              for (const pick of resends.splice(0, 1)) {
                expect(r.add(9, { totalBytes: item.length, ...fragments[pick % (i + 1)]! })).toEqual({ kind: "duplicate" });
              }
            }
          }
          expect(result).toEqual({ kind: "complete", data: item });
        },
      ),
      { numRuns: 200 },
    );
  });
});
