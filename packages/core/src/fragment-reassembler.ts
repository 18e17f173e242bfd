/**
 * Rebuilds items sent as fragments (PROTOCOL.md §5.3), bounded by a maximum
 * item size that is checked before anything is allocated. Every fragment
 * rule of §5.3 is checked here and only here.
 */
import { SluiceError } from "./errors.js";
import type { Fragment } from "./frames.js";
import { checkItemSize } from "./limits.js";

/** What one fragment did to the item being reassembled; told apart by `kind`. */
export type FragmentResult =
  /** Taken; more fragments of the item are to come. */
  | {
      /** Tells the results apart. */
      readonly kind: "partial";
    }
  /** The fragment completed the item. */
  | {
      /** Tells the results apart. */
      readonly kind: "complete";
      /** The whole item. */
      readonly data: Uint8Array;
    }
  /** A fragment of the current item that was already received (a resent frame). */
  | {
      /** Tells the results apart. */
      readonly kind: "duplicate";
    };

/**
 * Rebuilds one fragmented item at a time, enforcing every fragment rule of
 * PROTOCOL.md §5.3 and the maximum item size before it allocates.
 */
export class FragmentReassembler {
  /** The largest item it reassembles; a bigger `totalBytes` is limit_exceeded. */
  readonly maxItemBytes: number;
  #seq = 0;
  #buffer: Uint8Array | undefined;
  #received = 0;

  constructor(maxItemBytes: number) {
    this.maxItemBytes = maxItemBytes;
  }

  /** The seq being reassembled, or 0. */
  get seq(): number {
    return this.#buffer ? this.#seq : 0;
  }

  /** Bytes held for the partial item. */
  get bufferedBytes(): number {
    return this.#received;
  }

  /**
   * Adds a fragment of item `seq`. Throws (blame: remote) on an oversized
   * item, a fragment that does not continue the item, or inconsistent sizes.
   * `admit` is called for the first fragment of an item once its offset and
   * size passed and before anything is allocated: the receiver's credit check
   * comes in between (§5.3).
   */
  add(seq: number, fragment: Fragment, admit?: (seq: number, totalBytes: number) => void): FragmentResult {
    const { totalBytes, offset, data } = fragment;
    const first = !this.#buffer;
    // A later fragment where a first one belongs: only a lost frame explains it.
    if (first && offset !== 0) {
      throw new SluiceError("protocol_violation", `fragment of item ${seq} starts at offset ${offset}, expected 0`, { blame: "remote", retryable: true });
    }
    checkItemSize(seq, totalBytes, this.maxItemBytes, "remote");
    if (first) admit?.(seq, totalBytes);
    if (data.byteLength === 0 || offset + data.byteLength > totalBytes) {
      throw new SluiceError("protocol_violation", `fragment of item ${seq} at offset ${offset} with ${data.byteLength} bytes does not fit total_bytes ${totalBytes}`, { blame: "remote" });
    }
    if (!this.#buffer) {
      if (data.byteLength === totalBytes) return { kind: "complete", data };
      this.#seq = seq;
      this.#buffer = new Uint8Array(totalBytes);
      this.#received = 0;
    } else {
      if (seq !== this.#seq || totalBytes !== this.#buffer.byteLength) {
        throw new SluiceError("protocol_violation", `fragment of item ${seq} (${totalBytes} bytes) interrupts item ${this.#seq} (${this.#buffer.byteLength} bytes)`, { blame: "remote" });
      }
      if (offset < this.#received) return { kind: "duplicate" };
      if (offset > this.#received) {
        throw new SluiceError("protocol_violation", `fragment of item ${seq} at offset ${offset} skips bytes ${this.#received}..${offset}`, { blame: "remote", retryable: true });
      }
    }
    this.#buffer.set(data, offset);
    this.#received += data.byteLength;
    if (this.#received < totalBytes) return { kind: "partial" };
    const complete = this.#buffer;
    this.reset();
    return { kind: "complete", data: complete };
  }

  /** Drops the partial item, if any (its session was lost). */
  reset(): void {
    this.#buffer = undefined;
    this.#received = 0;
    this.#seq = 0;
  }
}
