/**
 * The small machines of core, alone: units and fast-check properties.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Backoff,
  BoundedPriorityQueue,
  ChunkAssembler,
  CircuitBreaker,
  FragmentReassembler,
  HeartbeatTracker,
  Priority,
  ReceiveWindow,
  ReplayBuffer,
  SendCredit,
  SluiceError,
  classifyError,
  type ChunkFrame,
  type OverflowPolicy,
} from "../src/index.js";
import { seededRandom } from "./sim.js";

describe("credit window", () => {
  it("never lets the sender exceed granted credit, never buffers beyond max(window, one item), never deadlocks (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          windowItems: fc.integer({ min: 1, max: 50 }),
          windowBytes: fc.integer({ min: 1, max: 2_000 }),
          sizes: fc.array(fc.integer({ min: 0, max: 3_000 }), { minLength: 1, maxLength: 300 }),
          seed: fc.integer(),
          duplicateCredit: fc.boolean(),
        }),
        ({ windowItems, windowBytes, sizes, seed, duplicateCredit }) => {
          const random = seededRandom(seed);
          const window = { items: windowItems, bytes: windowBytes };
          const send = new SendCredit(window, 1);
          const recv = new ReceiveWindow({ window, firstSeq: 1 });
          const largest = Math.max(...sizes);
          const buffered: number[] = [];
          const stale: { maxSeq: number; maxBytes: number }[] = [];
          let next = 0;
          let offset = 0;
          let consumed = 0;
          for (let step = 0; step < 100_000 && consumed < sizes.length; step++) {
            if (next < sizes.length && send.allows(next + 1, offset, sizes[next]!)) {
              recv.beginItem(next + 1, sizes[next]!); // throws on a violation
              buffered.push(sizes[next]!);
              offset += sizes[next]!;
              next++;
              expect(recv.bufferedBytes).toBeLessThanOrEqual(Math.max(windowBytes, largest));
              expect(buffered.length).toBeLessThanOrEqual(windowItems);
            } else if (buffered.length > 0 && (random() < 0.5 || next >= sizes.length || !send.allows(next + 1, offset, sizes[next]!))) {
              const size = buffered.shift()!;
              consumed++;
              const grant = recv.consume(consumed, size);
              if (grant) {
                stale.push(grant);
                send.grant(grant);
                // Duplicated and reordered (older) credits change nothing.
                if (duplicateCredit) expect(send.grant(stale[Math.floor(random() * stale.length)]!)).toBe(false);
              }
            } else if (buffered.length === 0 && next < sizes.length) {
              throw new Error(`deadlock at item ${next + 1}: nothing buffered, sender not allowed`);
            }
          }
          expect(consumed).toBe(sizes.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("rejects an item beyond max_seq or max_bytes as a credit violation by the peer", () => {
    const recv = new ReceiveWindow({ window: { items: 2, bytes: 10 }, firstSeq: 1 });
    recv.beginItem(1, 4);
    recv.beginItem(2, 4);
    expect(() => recv.beginItem(3, 1)).toThrow(/item 3 is beyond the granted max_seq 2/);
    const bytes = new ReceiveWindow({ window: { items: 10, bytes: 10 }, firstSeq: 1 });
    bytes.beginItem(1, 6);
    try {
      bytes.beginItem(2, 6);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SluiceError);
      expect((error as SluiceError).code).toBe("credit_violation");
      expect((error as SluiceError).blame).toBe("remote");
    }
  });

  it("refuses a window below one item or one byte", () => {
    expect(() => new ReceiveWindow({ window: { items: 0, bytes: 10 }, firstSeq: 1 })).toThrow(/window must be at least 1 item/);
  });

  it("grants again once half the window is consumed", () => {
    const recv = new ReceiveWindow({ window: { items: 10, bytes: 1_000 }, firstSeq: 1 });
    for (let s = 1; s <= 10; s++) recv.beginItem(s, 1);
    for (let s = 1; s <= 4; s++) expect(recv.consume(s, 1)).toBeUndefined();
    expect(recv.consume(5, 1)).toEqual({ maxSeq: 15, maxBytes: 1_005 });
  });
});

describe("chunk assembler", () => {
  it("closes chunks at max items, at max bytes, at the flush deadline and on close", () => {
    const a = new ChunkAssembler({ maxItems: 3, maxBytes: 100, flushDelayMs: 5 });
    const e = new Uint8Array(0);
    for (let s = 1; s <= 3; s++) a.add(s, new Uint8Array(1), e, 0);
    expect(a.take()?.items.length).toBe(3);
    a.add(4, new Uint8Array(60), e, 0);
    a.add(5, new Uint8Array(60), e, 0); // 120 > 100: item 4 goes alone
    expect(a.take()).toMatchObject({ firstSeq: 4 });
    expect(a.deadline).toBe(5);
    a.handleTimeout(4);
    expect(a.take()).toBeUndefined();
    a.handleTimeout(5);
    expect(a.take()).toMatchObject({ firstSeq: 5 });
    a.add(6, new Uint8Array(1), e, 10);
    a.close();
    expect(a.take()).toMatchObject({ firstSeq: 6 });
  });

  it("reproduces the input exactly, contiguous, within limits, fragments with the cursor on the last (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 700 }), { maxLength: 200 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 256 }), (sizes, maxItems, maxBytes) => {
        const a = new ChunkAssembler({ maxItems, maxBytes, flushDelayMs: 1 });
        const items = sizes.map((n, i) => new Uint8Array(n).fill(i % 251));
        items.forEach((data, i) => a.add(i + 1, data, new Uint8Array([i + 1]), 0));
        a.close();
        const chunks: ChunkFrame[] = [];
        for (let c = a.take(); c; c = a.take()) chunks.push(c);
        const out: Uint8Array[] = [];
        let partial: number[] = [];
        let expectSeq = 1;
        for (const c of chunks) {
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
            expect(c.items.reduce((n, d) => n + d.byteLength, 0)).toBeLessThanOrEqual(Math.max(maxBytes, 0) + 0);
            out.push(...c.items);
            expectSeq += c.items.length;
          }
        }
        expect(out).toEqual(items);
      }),
      { numRuns: 200 },
    );
  });

  it("puts a gap on the next chunk, or sends it alone on close", () => {
    const a = new ChunkAssembler({ maxItems: 10, maxBytes: 100, flushDelayMs: 5 });
    a.add(1, new Uint8Array(1), new Uint8Array(), 0);
    a.addGap({ fromSeq: 2, count: 3, reason: "dropped_oldest" });
    a.add(5, new Uint8Array(1), new Uint8Array(), 0);
    a.close();
    expect(a.take()).toMatchObject({ firstSeq: 1, gap: undefined });
    expect(a.take()).toMatchObject({ firstSeq: 5, gap: { fromSeq: 2, count: 3 } });
    a.addGap({ fromSeq: 6, count: 2, reason: "dropped_newest" });
    a.close();
    expect(a.take()).toMatchObject({ firstSeq: 8, items: [], gap: { fromSeq: 6, count: 2 } });
  });
});

describe("fragment reassembler", () => {
  it("reassembles arbitrary splits (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 2_000 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1 }), (data, cuts) => {
        const r = new FragmentReassembler(10_000);
        let offset = 0;
        let i = 0;
        let result;
        while (offset < data.length) {
          const n = Math.min(cuts[i++ % cuts.length]!, data.length - offset);
          result = r.add(7, { totalBytes: data.length, offset, data: data.subarray(offset, offset + n) });
          offset += n;
        }
        expect(result).toEqual({ kind: "complete", data });
      }),
    );
  });

  it("rejects an oversized item before allocating, a skipped range, and reports resent fragments", () => {
    const r = new FragmentReassembler(100);
    expect(() => r.add(1, { totalBytes: 2 ** 40, offset: 0, data: new Uint8Array(1) })).toThrow(/over the max item size 100/);
    expect(r.add(1, { totalBytes: 10, offset: 0, data: new Uint8Array(4) })).toEqual({ kind: "partial" });
    expect(r.add(1, { totalBytes: 10, offset: 0, data: new Uint8Array(4) })).toEqual({ kind: "duplicate" });
    expect(() => r.add(1, { totalBytes: 10, offset: 6, data: new Uint8Array(4) })).toThrow(/skips bytes 4..6/);
  });
});

describe("replay buffer", () => {
  it("never holds more than its capacity, and says when a resume point was evicted (property)", () => {
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
        const after = buffer.after(buffer.floor);
        expect(after?.map((e) => e.seq)).toEqual(Array.from({ length: seq - buffer.floor }, (_, i) => buffer.floor + 1 + i));
        if (buffer.floor > 0) expect(buffer.after(buffer.floor - 1)).toBeUndefined();
      }),
    );
  });
});

describe("heartbeat tracker", () => {
  it("pings every interval, measures RTT from the matching pong, and times out after silence", () => {
    const h = new HeartbeatTracker({ intervalMs: 100, timeoutMs: 300 }, 0);
    expect(h.deadline).toBe(100);
    expect(h.poll(50)).toBeUndefined();
    expect(h.poll(100)).toEqual({ kind: "ping", id: 1 });
    expect(h.onPong(99, 110)).toBeUndefined();
    expect(h.onPong(1, 130)).toBe(30);
    h.onInbound(250);
    expect(h.poll(300)).toEqual({ kind: "ping", id: 2 });
    expect(h.poll(549)?.kind).toBe("ping");
    expect(h.poll(550)).toEqual({ kind: "timeout", silentMs: 300 });
    expect(h.deadline).toBeUndefined();
  });
});

describe("backoff", () => {
  it("stays within [retryAfter, min(max, initial * multiplier^attempt)] and stops after maxAttempts (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 1, max: 4, noNaN: true }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 5_000 }), fc.integer(), (initialMs, extra, multiplier, maxAttempts, retryAfter, seed) => {
        const maxMs = initialMs + extra;
        const b = new Backoff({ initialMs, maxMs, multiplier, maxAttempts, random: seededRandom(seed) });
        for (let attempt = 0; attempt < maxAttempts; attempt++) {
          const delay = b.next(retryAfter)!;
          expect(delay).toBeGreaterThanOrEqual(retryAfter);
          expect(delay).toBeLessThanOrEqual(Math.max(retryAfter, Math.min(maxMs, initialMs * multiplier ** attempt)));
        }
        expect(b.next()).toBeUndefined();
        b.reset();
        expect(b.next()).toBeDefined();
      }),
    );
  });

  it("classifies errors: SluiceErrors by their flag, anything else as transient", () => {
    expect(classifyError(new SluiceError("permission_denied", "no"))).toBe("permanent");
    expect(classifyError(new SluiceError("unavailable", "draining"))).toBe("retryable");
    expect(classifyError(new SluiceError("source_failed", "bad data", { retryable: false }))).toBe("permanent");
    expect(classifyError(new Error("ECONNRESET"))).toBe("retryable");
  });
});

describe("circuit breaker", () => {
  it("opens after consecutive failures, lets a trial through after openMs, closes on success and reopens on failure", () => {
    const c = new CircuitBreaker({ failureThreshold: 3, openMs: 1_000, halfOpenMaxCalls: 1 });
    c.onFailure(0);
    c.onFailure(1);
    c.onSuccess(2); // resets the count
    c.onFailure(3);
    c.onFailure(4);
    expect(c.state(4).kind).toBe("closed");
    c.onFailure(5);
    expect(c.state(5)).toEqual({ kind: "open", until: 1_005 });
    expect(c.tryAcquire(500)).toBe(false);
    expect(c.tryAcquire(1_005)).toBe(true);
    expect(c.tryAcquire(1_006)).toBe(false); // one trial at a time
    c.onFailure(1_010);
    expect(c.state(1_010).kind).toBe("open");
    expect(c.tryAcquire(2_010)).toBe(true);
    c.onSuccess(2_011);
    expect(c.state(2_011).kind).toBe("closed");
    expect(c.opens).toBe(2);
  });
});

describe("bounded priority queue", () => {
  const policies: OverflowPolicy[] = ["drop_oldest", "drop_newest", "block", "error"];

  it("never exceeds capacity and counts every drop exactly, against a reference model (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...policies),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.oneof(fc.record({ offer: fc.constantFrom(0, 1, 2, 3) }), fc.constant({ poll: true })), { maxLength: 200 }),
        (policy, capacity, ops) => {
          const q = new BoundedPriorityQueue<number>({ capacity, policy });
          const model: number[][] = [[], [], [], []];
          const drops = [0, 0, 0, 0];
          let id = 0;
          let accepted = 0;
          let polled = 0;
          let evicted = 0;
          for (const op of ops) {
            if ("offer" in op) {
              const p = op.offer as Priority;
              const item = id++;
              const size = model.reduce((n, l) => n + l.length, 0);
              let result;
              try {
                result = q.offer(item, p);
              } catch (error) {
                expect(policy).toBe("error");
                expect(size).toBe(capacity);
                expect((error as SluiceError).code).toBe("limit_exceeded");
                continue;
              }
              if (size < capacity) {
                expect(result.kind).toBe("accepted");
                model[p]!.push(item);
                accepted++;
              } else if (policy === "drop_newest") {
                expect(result.kind).toBe("dropped");
                drops[p]!++;
              } else if (policy === "block") {
                expect(result.kind).toBe("blocked");
              } else {
                let victim = 3;
                while (model[victim]!.length === 0) victim--;
                if (victim < p) {
                  expect(result.kind).toBe("dropped");
                  drops[p]!++;
                } else {
                  expect(result).toMatchObject({ kind: "accepted_evicted", evicted: model[victim]![0], evictedPriority: victim });
                  model[victim]!.shift();
                  drops[victim]!++;
                  evicted++;
                  model[p]!.push(item);
                  accepted++;
                }
              }
            } else {
              const item = q.poll();
              if (item !== undefined) {
                polled++;
                const level = model.findIndex((l) => l[0] === item);
                expect(level).toBeGreaterThanOrEqual(0); // FIFO within its level
                model[level]!.shift();
              } else {
                expect(model.every((l) => l.length === 0)).toBe(true);
              }
            }
            expect(q.size).toBeLessThanOrEqual(capacity);
            expect(q.size).toBe(model.reduce((n, l) => n + l.length, 0));
            expect(q.dropped).toEqual(drops);
            // Every accepted item is either still queued, polled, or evicted (and counted as a drop).
            expect(accepted).toBe(polled + q.size + evicted);
            expect(q.accepted).toBe(accepted);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("does not starve LOW: with every level busy, LOW comes out at least once in every 15 polls", () => {
    const q = new BoundedPriorityQueue<Priority>({ capacity: 1_000, policy: "error" });
    for (let i = 0; i < 200; i++) for (const p of [Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW]) q.offer(p, p);
    const out: Priority[] = [];
    for (let i = 0; i < 150; i++) out.push(q.poll()!);
    for (let i = 0; i + 15 <= out.length; i++) expect(out.slice(i, i + 15)).toContain(Priority.LOW);
    expect(out.slice(0, 8).every((p) => p === Priority.CRITICAL)).toBe(true);
  });
});
