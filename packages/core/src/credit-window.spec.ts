/**
 * Flow control alone: the sender's SendCredit against the
 * receiver's ReceiveWindow, with credit frames that may be duplicated,
 * reordered, stale or lost on the way.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReceiveWindow, SendCredit, initialCredit, mayBeginItem } from "./credit-window.js";
import { seededRandom } from "../test/sim.js";
import { SluiceError } from "./errors.js";
import type { Credit } from "./frames.js";

/** For credits that are not about the ceiling: a sender that has assigned more than any of them covers. */
const FAR = 1e12;

/** One step of the pair: the network and both peers act in an arbitrary order. */
type Step =
  | { readonly kind: "send" }
  | { readonly kind: "consume" }
  /** Deliver an in-flight credit frame; `keep` leaves a copy in flight (a duplicate). */
  | { readonly kind: "deliver"; readonly pick: number; readonly keep: boolean }
  /** Deliver again a credit frame granted at any earlier time (stale or current). */
  | { readonly kind: "replay"; readonly pick: number }
  | { readonly kind: "lose"; readonly pick: number };

const windowArb = fc.record({ items: fc.integer({ min: 1, max: 20 }), bytes: fc.integer({ min: 1, max: 2_000 }) });
/** Item sizes up to 1.5 times the largest window, so many items do not fit a whole window. */
const sizesArb = fc.array(fc.integer({ min: 0, max: 3_000 }), { minLength: 1, maxLength: 120 });
const stepArb = (lossy: boolean): fc.Arbitrary<Step> =>
  fc.oneof(
    { arbitrary: fc.constant<Step>({ kind: "send" }), weight: 4 },
    { arbitrary: fc.constant<Step>({ kind: "consume" }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant("deliver" as const), pick: fc.nat(), keep: fc.boolean() }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant("replay" as const), pick: fc.nat() }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant(lossy ? ("lose" as const) : ("replay" as const)), pick: fc.nat() }), weight: 1 },
  );

/** A sender and a receiver joined by a credit channel that the test controls. */
class Pair {
  readonly send: SendCredit;
  readonly recv: ReceiveWindow;
  readonly largest: number;
  /** Credit frames on their way to the sender, and every credit ever granted. */
  readonly inFlight: Credit[] = [];
  readonly granted: Credit[] = [];
  /** Sizes of items received and not yet consumed. */
  readonly buffered: number[] = [];
  sent = 0;
  consumed = 0;
  #offset = 0;

  constructor(
    readonly window: { items: number; bytes: number },
    readonly sizes: readonly number[],
  ) {
    this.send = new SendCredit(window, 1);
    this.recv = new ReceiveWindow({ window, firstSeq: 1 });
    this.largest = Math.max(...sizes);
  }

  /** Whether the sender's credit lets the next item out. */
  get canSend(): boolean {
    return this.sent < this.sizes.length && this.send.allows(this.sent + 1, this.#offset, this.sizes[this.sent]!);
  }

  sendNext(): void {
    const seq = this.sent + 1;
    const size = this.sizes[this.sent]!;
    expect(seq).toBeLessThanOrEqual(this.recv.granted.maxSeq);
    this.recv.beginItem(seq, size); // throws on a credit violation
    this.buffered.push(size);
    this.#offset += size;
    this.sent++;
  }

  /** The app consumes the oldest item; a grant, if any, goes on the wire. */
  consumeNext(): Credit | undefined {
    const size = this.buffered.shift()!;
    this.consumed++;
    const grant = this.recv.consume(this.consumed, size);
    if (grant) {
      this.inFlight.push(grant);
      this.granted.push(grant);
    }
    return grant;
  }

  apply(step: Step): void {
    switch (step.kind) {
      case "send":
        if (this.canSend) this.sendNext();
        return;
      case "consume":
        if (this.buffered.length > 0) this.consumeNext();
        return;
      case "deliver": {
        if (this.inFlight.length === 0) return;
        const index = step.pick % this.inFlight.length;
        const credit = this.inFlight[index]!;
        if (!step.keep) this.inFlight.splice(index, 1);
        this.grant(credit);
        return;
      }
      case "replay":
        if (this.granted.length > 0) this.grant(this.granted[step.pick % this.granted.length]!);
        return;
      case "lose":
        if (this.inFlight.length > 0) this.inFlight.splice(step.pick % this.inFlight.length, 1);
        return;
    }
  }

  /** A credit reaches the sender, which checks it against what it has sent (throws on a violation). */
  grant(credit: Credit): boolean {
    return this.send.grant(credit, this.sent, this.#offset);
  }

  expectWithinBounds(): void {
    expect(this.recv.bufferedBytes).toBeLessThanOrEqual(Math.max(this.window.bytes, this.largest));
    expect(this.buffered.length).toBeLessThanOrEqual(this.window.items);
    expect(this.recv.receivedSeq - this.recv.consumedSeq).toBeLessThanOrEqual(this.window.items);
    // The sender's view is always some credit the receiver granted, never more.
    expect(this.send.maxSeq).toBeLessThanOrEqual(this.recv.granted.maxSeq);
    expect(this.send.maxBytes).toBeLessThanOrEqual(this.recv.granted.maxBytes);
  }
}

describe("SendCredit and ReceiveWindow together", () => {
  it("never lets the sender exceed granted credit, whatever happens to the credit frames (property)", () => {
    fc.assert(
      fc.property(windowArb, sizesArb, fc.array(stepArb(true), { maxLength: 400 }), (window, sizes, steps) => {
        const pair = new Pair(window, sizes);
        for (const step of steps) {
          const before = { maxSeq: pair.send.maxSeq, maxBytes: pair.send.maxBytes };
          pair.apply(step);
          // Stale and duplicated credits never shrink what the sender may do.
          expect(pair.send.maxSeq).toBeGreaterThanOrEqual(before.maxSeq);
          expect(pair.send.maxBytes).toBeGreaterThanOrEqual(before.maxBytes);
          pair.expectWithinBounds();
        }
      }),
      { numRuns: 200 },
    );
  });

  it("never deadlocks: a consumer that eventually reads everything gets every item, even items larger than the byte window (property)", () => {
    fc.assert(
      fc.property(windowArb, sizesArb, fc.array(stepArb(false), { maxLength: 200 }), fc.array(fc.nat()), (window, sizes, steps, deliveryOrder) => {
        const pair = new Pair(window, sizes);
        for (const step of steps) pair.apply(step);
        // Every credit frame still in flight arrives eventually, in any order.
        for (const pick of deliveryOrder) pair.apply({ kind: "deliver", pick, keep: false });
        while (pair.inFlight.length > 0) pair.apply({ kind: "deliver", pick: 0, keep: false });
        // From here on the consumer keeps reading and credit arrives promptly.
        while (pair.consumed < sizes.length) {
          if (pair.canSend) {
            pair.sendNext();
          } else if (pair.buffered.length > 0) {
            const grant = pair.consumeNext();
            if (grant) pair.grant(pair.inFlight.pop()!);
          } else {
            throw new Error(`deadlock before item ${pair.sent + 1} (${sizes[pair.sent]} bytes): nothing buffered and no credit`);
          }
          pair.expectWithinBounds();
        }
        expect(pair.sent).toBe(sizes.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe("SendCredit and ReceiveWindow, consumed in random order", () => {
  it("never lets the sender exceed granted credit, never buffers beyond max(window, one item), never deadlocks, with or without held signals (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          windowItems: fc.integer({ min: 1, max: 50 }),
          windowBytes: fc.integer({ min: 1, max: 2_000 }),
          sizes: fc.array(fc.integer({ min: 0, max: 3_000 }), { minLength: 1, maxLength: 300 }),
          seed: fc.integer(),
          duplicateCredit: fc.boolean(),
          signalsHeld: fc.boolean(),
        }),
        ({ windowItems, windowBytes, sizes, seed, duplicateCredit, signalsHeld }) => {
          const random = seededRandom(seed);
          const window = { items: windowItems, bytes: windowBytes };
          const send = new SendCredit(window, 1);
          const recv = new ReceiveWindow({ window, firstSeq: 1, senderSignalsHeld: signalsHeld });
          // The seq of the item the sender last said it holds (a heartbeat's held_bytes, in order after the items before it).
          let signalled = 0;
          const largest = Math.max(...sizes);
          const buffered: number[] = [];
          const stale: { maxSeq: number; maxBytes: number }[] = [];
          let next = 0;
          let offset = 0;
          let consumed = 0;
          for (let step = 0; step < 100_000 && consumed < sizes.length; step++) {
            const held = next < sizes.length && next + 1 <= send.maxSeq && !send.allows(next + 1, offset, sizes[next]!);
            if (signalsHeld && held && signalled !== next + 1) {
              signalled = next + 1;
              const grant = recv.senderHolds();
              if (grant) send.grant(grant, next, offset + sizes[next]!);
              continue;
            }
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
                send.grant(grant, next, offset);
                // Duplicated and reordered (older) credits change nothing.
                if (duplicateCredit) expect(send.grant(stale[Math.floor(random() * stale.length)]!, next, offset)).toBe(false);
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
});

describe("SendCredit", () => {
  const creditArb = fc.record({ maxSeq: fc.integer({ min: 0, max: 1_000 }), maxBytes: fc.integer({ min: 0, max: 100_000 }) });

  it("starts from the credit the window implies", () => {
    const credit = new SendCredit({ items: 8, bytes: 1_000 }, 41);
    expect({ maxSeq: credit.maxSeq, maxBytes: credit.maxBytes }).toEqual({ maxSeq: 48, maxBytes: 1_000 });
    expect(initialCredit({ items: 8, bytes: 1_000 }, 41)).toEqual({ maxSeq: 48, maxBytes: 1_000 });
  });

  it("treats credits as absolute: the result is the highest limit seen, in any order, and old or equal credits change nothing (property)", () => {
    fc.assert(
      fc.property(windowArb, fc.array(creditArb, { maxLength: 50 }), (window, credits) => {
        const credit = new SendCredit(window, 1);
        let maxSeq = credit.maxSeq;
        let maxBytes = credit.maxBytes;
        for (const c of credits) {
          const grew = c.maxSeq > maxSeq || c.maxBytes > maxBytes;
          expect(credit.grant(c, FAR, FAR)).toBe(grew);
          maxSeq = Math.max(maxSeq, c.maxSeq);
          maxBytes = Math.max(maxBytes, c.maxBytes);
          expect({ maxSeq: credit.maxSeq, maxBytes: credit.maxBytes }).toEqual({ maxSeq, maxBytes });
        }
        // Every credit again, newest first: all old or equal, so nothing moves.
        for (const c of [...credits].reverse()) {
          expect(credit.grant(c, FAR, FAR)).toBe(false);
          expect({ maxSeq: credit.maxSeq, maxBytes: credit.maxBytes }).toEqual({ maxSeq, maxBytes });
        }
      }),
      { numRuns: 200 },
    );
  });

  it("raises each limit on its own: a credit may grow items while carrying older bytes", () => {
    const credit = new SendCredit({ items: 2, bytes: 100 }, 1);
    expect(credit.grant({ maxSeq: 5, maxBytes: 50 }, FAR, FAR)).toBe(true);
    expect({ maxSeq: credit.maxSeq, maxBytes: credit.maxBytes }).toEqual({ maxSeq: 5, maxBytes: 100 });
    expect(credit.grant({ maxSeq: 3, maxBytes: 150 }, FAR, FAR)).toBe(true);
    expect({ maxSeq: credit.maxSeq, maxBytes: credit.maxBytes }).toEqual({ maxSeq: 5, maxBytes: 150 });
  });

  it.each([
    { name: "max_seq", credit: { maxSeq: 13, maxBytes: 1_000 }, message: "credit max_seq 13 exceeds sent seq 8 + window 4" },
    { name: "max_bytes", credit: { maxSeq: 12, maxBytes: 1_301 }, message: "credit max_bytes 1301 exceeds sent bytes 300 + window 1000" },
  ])("refuses a credit whose $name is beyond what was assigned plus the window, as a credit_violation by the peer", ({ credit, message }) => {
    const send = new SendCredit({ items: 4, bytes: 1_000 }, 1);
    let error: unknown;
    try {
      send.grant(credit, 8, 300);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ code: "credit_violation", message, blame: "remote", retryable: false });
    // Nothing of the refused credit was applied.
    expect({ maxSeq: send.maxSeq, maxBytes: send.maxBytes }).toEqual({ maxSeq: 4, maxBytes: 1_000 });
  });

  it("accepts a credit of exactly what was assigned plus the window", () => {
    const send = new SendCredit({ items: 4, bytes: 1_000 }, 1);
    expect(send.grant({ maxSeq: 12, maxBytes: 1_300 }, 8, 300)).toBe(true);
  });

  it("checks the ceiling also for a stale credit that would change nothing", () => {
    const send = new SendCredit({ items: 4, bytes: 1_000 }, 1);
    send.grant({ maxSeq: 12, maxBytes: 1_300 }, 8, 300);
    // Smaller than what it knows, yet above what the receiver can have been sent by then.
    expect(() => send.grant({ maxSeq: 6, maxBytes: 900 }, 1, 0)).toThrow(/credit max_seq 6 exceeds sent seq 1 \+ window 4/);
  });

  it.each([
    { items: 0, bytes: 100 },
    { items: 10, bytes: 0 },
  ])("refuses a window below one item or one byte: %o", (window) => {
    expect(() => new SendCredit(window, 1)).toThrow(SluiceError);
  });
});

describe("mayBeginItem", () => {
  const window = { items: 10, bytes: 100 };

  it("lets an item begin when its seq and its last byte are within credit", () => {
    const credit = { maxSeq: 10, maxBytes: 100 };
    expect(mayBeginItem(credit, window, 10, 60, 40)).toBe(true);
    expect(mayBeginItem(credit, window, 11, 0, 1)).toBe(false);
    expect(mayBeginItem(credit, window, 10, 61, 40)).toBe(false);
  });

  it("lets an item larger than the byte window begin once everything before it is consumed", () => {
    // maxBytes - window.bytes is the offset the receiver has consumed up to.
    const credit = { maxSeq: 10, maxBytes: 300 };
    expect(mayBeginItem(credit, window, 5, 200, 5_000)).toBe(true);
    expect(mayBeginItem(credit, window, 5, 201, 5_000)).toBe(false);
    expect(mayBeginItem(credit, window, 11, 200, 5_000)).toBe(false);
  });
});

describe("ReceiveWindow", () => {
  function violation(fn: () => void): SluiceError {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(SluiceError);
      return error as SluiceError;
    }
    throw new Error("expected a credit violation");
  }

  it("rejects an item beyond max_seq as a credit violation by the peer", () => {
    const recv = new ReceiveWindow({ window: { items: 2, bytes: 100 }, firstSeq: 1 });
    recv.beginItem(1, 1);
    recv.beginItem(2, 1);
    const error = violation(() => recv.beginItem(3, 1));
    expect(error).toMatchObject({ code: "credit_violation", blame: "remote", retryable: false });
    expect(error.message).toBe("item 3 is beyond the granted max_seq 2");
  });

  it("rejects an item beyond max_bytes as a credit violation by the peer", () => {
    const recv = new ReceiveWindow({ window: { items: 10, bytes: 100 }, firstSeq: 1 });
    recv.beginItem(1, 60);
    const error = violation(() => recv.beginItem(2, 41));
    expect(error).toMatchObject({ code: "credit_violation", blame: "remote" });
    expect(error.message).toBe("item 2 (41 bytes at offset 60) is beyond the granted max_bytes 100");
    // Nothing was accounted for the refused item.
    expect(recv.receivedSeq).toBe(1);
    expect(recv.bufferedBytes).toBe(60);
  });

  it.each([
    { items: 0, bytes: 100 },
    { items: 10, bytes: 0 },
    { items: -1, bytes: -1 },
    { items: Number.NaN, bytes: 100 },
  ])("refuses a window below one item or one byte: %o", (window) => {
    expect(() => new ReceiveWindow({ window, firstSeq: 1 })).toThrow(SluiceError);
    expect(() => new ReceiveWindow({ window, firstSeq: 1 })).toThrow(/^window\.(items|bytes): must be at least 1, got /);
  });

  it("grants again once the threshold of the window is consumed, and not before", () => {
    const recv = new ReceiveWindow({ window: { items: 10, bytes: 1_000 }, firstSeq: 1 });
    for (let seq = 1; seq <= 10; seq++) recv.beginItem(seq, 1);
    for (let seq = 1; seq <= 4; seq++) expect(recv.consume(seq, 1)).toBeUndefined();
    expect(recv.consume(5, 1)).toEqual({ maxSeq: 15, maxBytes: 1_005 });
    expect(recv.granted).toEqual({ maxSeq: 15, maxBytes: 1_005 });
  });

  it("grants below the threshold once everything received is consumed, so a sender waiting for room is never stuck", () => {
    const recv = new ReceiveWindow({ window: { items: 10, bytes: 1_000 }, firstSeq: 1 });
    recv.beginItem(1, 900);
    // The sender now waits: a 200-byte item 2 does not fit the 100 bytes left.
    expect(recv.consume(1, 900)).toEqual({ maxSeq: 11, maxBytes: 1_900 });
    recv.beginItem(2, 200);
  });

  it("counts seqs skipped by a gap as consumed", () => {
    const recv = new ReceiveWindow({ window: { items: 4, bytes: 100 }, firstSeq: 1 });
    recv.receiveGap(3);
    expect(recv.receivedSeq).toBe(3);
    expect(recv.skip(3)).toEqual({ maxSeq: 7, maxBytes: 100 });
    recv.beginItem(4, 10);
    expect(recv.consumedSeq).toBe(3);
  });

  it("grows the grant in bytes alone when big items use the byte window before the item window", () => {
    const recv = new ReceiveWindow({ window: { items: 100, bytes: 100 }, firstSeq: 1, grantThreshold: 0.5 });
    recv.beginItem(1, 60);
    recv.beginItem(2, 30);
    expect(recv.consume(1, 60)).toEqual({ maxSeq: 101, maxBytes: 160 });
  });
});

describe("ReceiveWindow: the grant on drain (PROTOCOL.md §4.5 rule 2)", () => {
  const window = { items: 100, bytes: 10_000 };
  /** A live stream read as it arrives: one 10-byte item at a time, each consumed at once. Returns the grants sent. */
  const liveGrants = (recv: ReceiveWindow, items: number) => {
    let grants = 0;
    for (let seq = 1; seq <= items; seq++) {
      recv.beginItem(seq, 10);
      if (recv.consume(seq, 10)) grants++;
    }
    return grants;
  };

  it("grants on every drain for a sender that does not signal holding: a credit per item on a live stream", () => {
    expect(liveGrants(new ReceiveWindow({ window, firstSeq: 1 }), 1_000)).toBe(1_000);
  });

  it("grants at the threshold only for a sender that signals holding: 1 000 live items take 20 credits, not 1 000", () => {
    expect(liveGrants(new ReceiveWindow({ window, firstSeq: 1, senderSignalsHeld: true }), 1_000)).toBe(20);
  });

  it("answers a held signal with a grant at once when drained, and at the drain when not", () => {
    // Window 10 items / 100 bytes: the threshold is 5 items or 50 bytes.
    const drained = new ReceiveWindow({ window: { items: 10, bytes: 100 }, firstSeq: 1, senderSignalsHeld: true });
    drained.beginItem(1, 30);
    expect(drained.consume(1, 30)).toBeUndefined(); // drained, but 30 bytes is below the threshold and nobody waits
    // The sender holds item 2 of 80 bytes (30 + 80 > 100): the grant reaches its offset, which admits it (§4.3).
    expect(drained.senderHolds()).toEqual({ maxSeq: 11, maxBytes: 130 });
    expect(mayBeginItem({ maxSeq: 11, maxBytes: 130 }, drained.window, 2, 30, 80)).toBe(true);

    const busy = new ReceiveWindow({ window: { items: 10, bytes: 100 }, firstSeq: 1, senderSignalsHeld: true });
    busy.beginItem(1, 30);
    expect(busy.senderHolds()).toBeUndefined(); // item 1 is still the app's
    expect(busy.consume(1, 30)).toEqual({ maxSeq: 11, maxBytes: 130 });
    // Answered: the next drain waits for the next signal.
    busy.beginItem(2, 10);
    expect(busy.consume(2, 10)).toBeUndefined();
  });
});
