/**
 * Sent but unacknowledged items, kept so that a resumed session can resend
 * them without going back to the source (PROTOCOL.md §7). Bounded in items
 * and bytes: when full, the oldest unacked items are evicted and a resume from
 * before them must fall back to the source cursor (or fail with
 * resume_position_lost when the source has none).
 */
import { Queue } from "./queue.js";

/** One sent item as the replay buffer keeps it. */
export interface ReplayEntry {
  /** The item's seq. */
  readonly seq: number;
  /** The item's payload. */
  readonly data: Uint8Array;
  /** The source cursor after the item (empty when the source has none). */
  readonly cursor: Uint8Array;
}

/** How much a {@link ReplayBuffer} holds before it evicts the oldest items. */
export interface ReplayCapacity {
  /** Most items held. */
  readonly items: number;
  /** Most payload bytes held. */
  readonly bytes: number;
}

/**
 * A session's sent, unacked items, bounded in items and bytes, from which a
 * resume can be served without the source (PROTOCOL.md §7.8).
 */
export class ReplayBuffer {
  /** The bounds it evicts at. */
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

  /** Items held now. */
  get size(): number {
    return this.#entries.length;
  }

  /** Payload bytes held now. */
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

  /** Keeps a sent item, evicting the oldest while over capacity. */
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
