/**
 * Flow control as a small pure accountant (h2 `windows.py`,
 * quinn `streams/recv.rs`), in both directions.
 *
 * Credits are absolute (PROTOCOL.md §4): "items up to seq N, session payload
 * up to byte offset B". A smaller limit than one already known is ignored, so
 * duplicated, reordered or resent credit frames are harmless.
 *
 * The byte rule, written once here for sender and receiver alike: an item of
 * `size` bytes starting at session offset `offset` may begin when
 *   seq <= maxSeq  and  (offset + size <= maxBytes  or  offset <= maxBytes - window.bytes)
 * The second clause lets an item larger than the whole byte window through
 * once everything before it has been consumed (maxBytes - window.bytes is the
 * consumed offset the receiver last reported), so a window smaller than an
 * item never deadlocks, and the receiver never buffers more than
 * max(window.bytes, one item).
 */
import { SluiceError } from "./errors.js";
import type { Credit, Window } from "./frames.js";
import { checkWindow } from "./limits.js";

/** Whether the item may begin under `credit` (see the module comment). */
export function mayBeginItem(credit: Credit, window: Window, seq: number, offset: number, size: number): boolean {
  if (seq > credit.maxSeq) return false;
  return offset + size <= credit.maxBytes || offset <= credit.maxBytes - window.bytes;
}

/** The initial credit a window implies for a session that starts at `firstSeq`. */
export function initialCredit(window: Window, firstSeq: number): Credit {
  return { maxSeq: firstSeq - 1 + window.items, maxBytes: window.bytes };
}

/** The sender's view: what it may send. */
export class SendCredit {
  #maxSeq: number;
  #maxBytes: number;
  /** The session's window. */
  readonly window: Window;

  constructor(window: Window, firstSeq: number) {
    checkWindow(window);
    this.window = window;
    const credit = initialCredit(window, firstSeq);
    this.#maxSeq = credit.maxSeq;
    this.#maxBytes = credit.maxBytes;
  }

  /** Items with seq up to this may be sent. */
  get maxSeq(): number {
    return this.#maxSeq;
  }

  /** Payload up to this session byte offset may be sent. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /**
   * Applies an absolute credit; returns true when it raised a limit. A
   * receiver cannot have consumed more than it was sent, so a credit beyond
   * `assignedSeq` (the highest seq given to an item or a gap) or
   * `assignedBytes` (payload sent, plus an item held for credit) by more than
   * the window is a broken or hostile receiver: credit_violation (PROTOCOL.md
   * §4.7), checked for every credit, also a stale one that changes nothing.
   */
  grant(credit: Credit, assignedSeq: number, assignedBytes: number): boolean {
    if (credit.maxSeq > assignedSeq + this.window.items) {
      throw new SluiceError("credit_violation", `credit max_seq ${credit.maxSeq} exceeds sent seq ${assignedSeq} + window ${this.window.items}`, { blame: "remote" });
    }
    if (credit.maxBytes > assignedBytes + this.window.bytes) {
      throw new SluiceError("credit_violation", `credit max_bytes ${credit.maxBytes} exceeds sent bytes ${assignedBytes} + window ${this.window.bytes}`, { blame: "remote" });
    }
    let grew = false;
    if (credit.maxSeq > this.#maxSeq) {
      this.#maxSeq = credit.maxSeq;
      grew = true;
    }
    if (credit.maxBytes > this.#maxBytes) {
      this.#maxBytes = credit.maxBytes;
      grew = true;
    }
    return grew;
  }

  /** Whether item `seq` of `size` bytes may begin at session offset `offset` (the byte rule). */
  allows(seq: number, offset: number, size: number): boolean {
    return mayBeginItem({ maxSeq: this.#maxSeq, maxBytes: this.#maxBytes }, this.window, seq, offset, size);
  }
}

/** The session a {@link ReceiveWindow} accounts for. */
export interface ReceiveWindowOptions {
  /** The window in force (Opened.window). */
  readonly window: Window;
  /** First seq of the session (Opened.next_seq). */
  readonly firstSeq: number;
  /**
   * Fraction of the window consumed before a new grant is sent. 0.5 halves the
   * number of credit frames against 0.25 while never letting the pipe run dry
   * when the RTT is below half the window's drain time.
   */
  readonly grantThreshold?: number;
  /**
   * The sender announced that it signals an item it holds for byte credit
   * (Opened.signals_held, PublishOpen.signals_held): grant on drain only after
   * such a signal ({@link ReceiveWindow.senderHolds}), not after every drain.
   */
  readonly senderSignalsHeld?: boolean;
}

/**
 * The receiver's view: what it has granted, received and consumed in one
 * session. `beginItem` throws on a credit violation; `consume` and `skip`
 * return a new grant when enough of the window has been freed, or undefined.
 */
export class ReceiveWindow {
  /** The window in force for the session. */
  readonly window: Window;
  readonly #thresholdItems: number;
  readonly #thresholdBytes: number;
  /** Last granted absolute limits. */
  #grantedSeq: number;
  #grantedBytes: number;
  /** Highest seq received (items and gaps) and session payload received. */
  #receivedSeq: number;
  #receivedBytes = 0;
  /** Highest seq consumed (delivered to the app, or skipped by a gap) and payload consumed. */
  #consumedSeq: number;
  #consumedBytes = 0;
  readonly #senderSignalsHeld: boolean;
  /** The sender said it holds an item for byte credit, and no grant on drain has answered it yet. */
  #senderHolds = false;

  constructor(options: ReceiveWindowOptions) {
    const { window, firstSeq } = options;
    checkWindow(window);
    this.window = window;
    const threshold = options.grantThreshold ?? 0.5;
    this.#thresholdItems = Math.max(1, Math.floor(window.items * threshold));
    this.#thresholdBytes = Math.max(1, Math.floor(window.bytes * threshold));
    const credit = initialCredit(window, firstSeq);
    this.#grantedSeq = credit.maxSeq;
    this.#grantedBytes = credit.maxBytes;
    this.#receivedSeq = firstSeq - 1;
    this.#consumedSeq = firstSeq - 1;
    this.#senderSignalsHeld = options.senderSignalsHeld ?? false;
  }

  /** The current absolute grant (what a heartbeat-time credit repeat carries). */
  get granted(): Credit {
    return { maxSeq: this.#grantedSeq, maxBytes: this.#grantedBytes };
  }

  /** Highest seq received in this session (items and gaps). */
  get receivedSeq(): number {
    return this.#receivedSeq;
  }

  /** Payload received in this session. */
  get receivedBytes(): number {
    return this.#receivedBytes;
  }

  /** Highest seq consumed in this session (delivered to the app, or skipped by a gap). */
  get consumedSeq(): number {
    return this.#consumedSeq;
  }

  /** Payload received but not yet consumed. */
  get bufferedBytes(): number {
    return this.#receivedBytes - this.#consumedBytes;
  }

  /** The sender has used all granted credit: it must wait for this receiver's next grant. */
  get exhausted(): boolean {
    return this.#receivedSeq >= this.#grantedSeq || this.#receivedBytes >= this.#grantedBytes;
  }

  /**
   * Accounts for the start of item `seq` of `size` bytes. Throws a
   * credit_violation (blame: remote) if the sender had no credit for it.
   */
  beginItem(seq: number, size: number): void {
    const credit = this.granted;
    if (!mayBeginItem(credit, this.window, seq, this.#receivedBytes, size)) {
      throw new SluiceError(
        "credit_violation",
        seq > credit.maxSeq
          ? `item ${seq} is beyond the granted max_seq ${credit.maxSeq}`
          : `item ${seq} (${size} bytes at offset ${this.#receivedBytes}) is beyond the granted max_bytes ${credit.maxBytes}`,
        { blame: "remote" },
      );
    }
    this.#receivedSeq = seq;
    this.#receivedBytes += size;
  }

  /** Accounts for a gap received: seqs up to `lastSeq` will never come. */
  receiveGap(lastSeq: number): void {
    if (lastSeq > this.#receivedSeq) this.#receivedSeq = lastSeq;
  }

  /**
   * Item `seq` of `size` bytes was consumed. Returns a grant when due; with
   * `evaluate` false it only counts (the caller checks once, grantIfDue(),
   * after a batch).
   */
  consume(seq: number, size: number, evaluate = true): Credit | undefined {
    this.#consumedSeq = seq;
    this.#consumedBytes += size;
    return evaluate ? this.grantIfDue() : undefined;
  }

  /** The app passed a gap ending at `lastSeq`: those seqs count as consumed. */
  skip(lastSeq: number): Credit | undefined {
    if (lastSeq > this.#consumedSeq) this.#consumedSeq = lastSeq;
    return this.grantIfDue();
  }

  /**
   * The sender holds an item the byte rule does not admit yet (a heartbeat
   * with held_bytes, PROTOCOL.md §4.5 rule 2): the next drain grants, at
   * once if everything received is consumed already.
   */
  senderHolds(): Credit | undefined {
    this.#senderHolds = true;
    return this.grantIfDue();
  }

  /** The grant rules of PROTOCOL.md §4.5: a new absolute grant when one is due, else undefined. */
  grantIfDue(): Credit | undefined {
    const maxSeq = this.#consumedSeq + this.window.items;
    const maxBytes = this.#consumedBytes + this.window.bytes;
    const grows = maxSeq > this.#grantedSeq || maxBytes > this.#grantedBytes;
    // Grant at the threshold, and once everything received has been consumed
    // while the sender may hold an item that does not fit the remaining bytes:
    // otherwise that sender and a receiver waiting for the threshold would
    // wait for each other forever. A sender that signals holding says when;
    // for one that does not, every drain counts (a credit per chunk on a fast
    // reader, which is why senders signal).
    const drained = this.#consumedSeq >= this.#receivedSeq;
    const drainGrant = drained && grows && (this.#senderHolds || !this.#senderSignalsHeld);
    if (maxSeq - this.#grantedSeq >= this.#thresholdItems || maxBytes - this.#grantedBytes >= this.#thresholdBytes || drainGrant) {
      this.#grantedSeq = Math.max(this.#grantedSeq, maxSeq);
      this.#grantedBytes = Math.max(this.#grantedBytes, maxBytes);
      // A grant with everything consumed reaches the sender's offset, so it admits the held item (§4.3).
      if (drained) this.#senderHolds = false;
      return this.granted;
    }
    return undefined;
  }
}
