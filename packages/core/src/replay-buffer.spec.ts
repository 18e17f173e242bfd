/**
 * The replay buffer (PROTOCOL.md §7): bounded, released by acks, and honest
 * about what it can no longer replay.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReplayBuffer, type ReplayEntry } from "./replay-buffer.js";

const entry = (seq: number, size = 1): ReplayEntry => ({ seq, data: new Uint8Array(size), cursor: Uint8Array.of(seq) });
const seqs = (entries: ReplayEntry[] | undefined) => entries?.map((e) => e.seq);

describe("ReplayBuffer", () => {
  it("keeps appended entries until they are acked", () => {
    const buffer = new ReplayBuffer({ items: 10, bytes: 1_000 });
    for (let seq = 1; seq <= 5; seq++) buffer.append(entry(seq, 10));
    expect(buffer.size).toBe(5);
    expect(buffer.bytes).toBe(50);
    expect(seqs(buffer.after(0))).toEqual([1, 2, 3, 4, 5]);
  });

  it("releases everything up to an ack, cumulatively", () => {
    const buffer = new ReplayBuffer({ items: 10, bytes: 1_000 });
    for (let seq = 1; seq <= 5; seq++) buffer.append(entry(seq, 10));
    buffer.ack(3);
    expect(buffer.size).toBe(2);
    expect(buffer.bytes).toBe(20);
    expect(buffer.floor).toBe(3);
    expect(seqs(buffer.after(3))).toEqual([4, 5]);
    expect(seqs(buffer.after(4))).toEqual([5]);
    buffer.ack(2); // an older ack changes nothing
    expect(buffer.size).toBe(2);
    expect(buffer.floor).toBe(3);
    expect(buffer.evicted).toBe(0);
  });

  it("evicts the oldest entries when over its item capacity, and counts them", () => {
    const buffer = new ReplayBuffer({ items: 3, bytes: 1_000 });
    for (let seq = 1; seq <= 5; seq++) buffer.append(entry(seq));
    expect(buffer.size).toBe(3);
    expect(buffer.evicted).toBe(2);
    expect(buffer.floor).toBe(2);
    expect(seqs(buffer.after(2))).toEqual([3, 4, 5]);
  });

  it("evicts the oldest entries when over its byte capacity, and counts them", () => {
    const buffer = new ReplayBuffer({ items: 100, bytes: 100 });
    buffer.append(entry(1, 40));
    buffer.append(entry(2, 40));
    buffer.append(entry(3, 40));
    expect(seqs(buffer.after(1))).toEqual([2, 3]);
    expect(buffer.bytes).toBe(80);
    expect(buffer.evicted).toBe(1);
  });

  it("does not keep an entry larger than its whole byte capacity", () => {
    const buffer = new ReplayBuffer({ items: 100, bytes: 100 });
    buffer.append(entry(1, 10));
    buffer.append(entry(2, 500));
    expect(buffer.size).toBe(0);
    expect(buffer.bytes).toBe(0);
    expect(buffer.evicted).toBe(2);
    expect(buffer.after(1)).toBeUndefined();
    expect(buffer.after(2)).toEqual([]);
  });

  it("answers undefined for a resume from before an evicted entry: the caller must go back to the source", () => {
    const buffer = new ReplayBuffer({ items: 2, bytes: 1_000 });
    for (let seq = 1; seq <= 4; seq++) buffer.append(entry(seq));
    expect(buffer.after(0)).toBeUndefined();
    expect(buffer.after(1)).toBeUndefined();
    expect(seqs(buffer.after(2))).toEqual([3, 4]);
    expect(buffer.after(4)).toEqual([]); // up to date: nothing to resend
  });

  it("replays exactly the seqs after its floor, and nothing from before it (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.record({ add: fc.integer({ min: 0, max: 100 }) }), fc.record({ ack: fc.integer({ min: 0, max: 5 }) })), { maxLength: 300 }), (ops) => {
        const buffer = new ReplayBuffer({ items: 20, bytes: 500 });
        let seq = 0;
        for (const op of ops) {
          if ("add" in op) buffer.append({ seq: ++seq, data: new Uint8Array(op.add), cursor: new Uint8Array() });
          else buffer.ack(Math.max(0, seq - op.ack));
          expect(buffer.size).toBeLessThanOrEqual(20);
          expect(buffer.bytes).toBeLessThanOrEqual(500);
        }
        expect(seqs(buffer.after(buffer.floor))).toEqual(Array.from({ length: seq - buffer.floor }, (_, i) => buffer.floor + 1 + i));
        if (buffer.floor > 0) expect(buffer.after(buffer.floor - 1)).toBeUndefined();
      }),
    );
  });

  type Op = { readonly append: number } | { readonly ack: number };

  it("never holds more than its capacity and matches a simple model of acks and evictions (property)", () => {
    fc.assert(
      fc.property(
        fc.record({ items: fc.integer({ min: 1, max: 20 }), bytes: fc.integer({ min: 1, max: 400 }) }),
        fc.array(fc.oneof(fc.record({ append: fc.integer({ min: 0, max: 100 }) }), fc.record({ ack: fc.nat({ max: 6 }) })), { maxLength: 200 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
        (capacity, ops: Op[], probes) => {
          const buffer = new ReplayBuffer(capacity);
          let model: ReplayEntry[] = [];
          let floor = 0;
          let evicted = 0;
          let seq = 0;
          for (const op of ops) {
            if ("append" in op) {
              const e = entry(++seq, op.append);
              buffer.append(e);
              model.push(e);
              const bytes = () => model.reduce((n, m) => n + m.data.byteLength, 0);
              while (model.length > 0 && (model.length > capacity.items || bytes() > capacity.bytes)) {
                floor = Math.max(floor, model.shift()!.seq);
                evicted++;
              }
            } else {
              const acked = Math.max(0, seq - op.ack);
              buffer.ack(acked);
              model = model.filter((m) => m.seq > acked);
              floor = Math.max(floor, acked);
            }
            expect(buffer.size).toBeLessThanOrEqual(capacity.items);
            expect(buffer.bytes).toBeLessThanOrEqual(capacity.bytes);
            expect(buffer.size).toBe(model.length);
            expect(buffer.bytes).toBe(model.reduce((n, m) => n + m.data.byteLength, 0));
            expect(buffer.evicted).toBe(evicted);
            expect(buffer.floor).toBe(floor);
          }
          for (const probe of probes) {
            const from = probe % (seq + 2);
            expect(buffer.after(from)).toEqual(from < floor ? undefined : model.filter((m) => m.seq > from));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
