/**
 * Sent but unacknowledged items, kept so that a resumed session can resend
 * them without going back to the source (PROTOCOL.md §7). Bounded in items
 * and bytes: when full, the oldest unacked items are evicted and a resume from
 * before them must fall back to the source cursor (or fail with
 * resume_position_lost when the source has none).
 */
import { Queue } from "./queue.js";

export interface ReplayEntry {
  readonly seq: number;
  readonly data: Uint8Array;
  readonly cursor: Uint8Array;
}

export interface ReplayCapacity {
  readonly items: number;
  readonly bytes: number;
}

export class ReplayBuffer {
  readonly capacity: ReplayCapacity;
  /** Oldest first; seqs only grow. */
  readonly #entries = new Queue<ReplayEntry>();
  #bytes = 0;
  /** Everything <= this seq is acked or evicted. */
  #floor = 0;
  #evicted = 0;

  constructor(capacity: ReplayCapacity) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#entries.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Items dropped for room before they were acked (lifetime count). */
  get evicted(): number {
    return this.#evicted;
  }

  /** Oldest seq the buffer can replay from (exclusive): resume after `floor` works. */
  get floor(): number {
    return this.#floor;
  }

  append(entry: ReplayEntry): void {
    this.#entries.push(entry);
    this.#bytes += entry.data.byteLength;
    while (this.size > 0 && (this.size > this.capacity.items || this.#bytes > this.capacity.bytes)) {
      this.#dropHead();
      this.#evicted++;
    }
  }

  /** Releases everything <= seq (a cumulative ack). */
  ack(seq: number): void {
    while (this.size > 0 && this.#entries.peek()!.seq <= seq) this.#dropHead();
    if (seq > this.#floor) this.#floor = seq;
  }

  /**
   * Entries after `seq`, or undefined when some of them were evicted (the
   * caller must go back to the source). An empty array means nothing to resend.
   */
  after(seq: number): ReplayEntry[] | undefined {
    if (seq < this.#floor) return undefined;
    const out: ReplayEntry[] = [];
    for (const entry of this.#entries) if (entry.seq > seq) out.push(entry);
    return out;
  }

  #dropHead(): void {
    const entry = this.#entries.shift()!;
    this.#bytes -= entry.data.byteLength;
    this.#floor = Math.max(this.#floor, entry.seq);
  }
}
