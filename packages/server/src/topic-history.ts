/**
 * A Topic's history: the items kept for resume, bounded by count, bytes and
 * age (HistoryBounds).
 *
 * It keeps bytes, not objects. A history of 10 000 items kept as 10 000
 * item objects (and their payload arrays) makes every item live long
 * enough to be promoted to V8's old generation: at 100 000 items/s that is
 * a stream of promotions, each scavenge copying thousands of survivors
 * (pauses of 10–20 ms) and a mark-compact every second or so, and the
 * topic's latency tail was those pauses (BENCHMARKS.md, "Latency under
 * load"). So each payload is copied into blocks of bytes (at most 1 MiB
 * each, a handful of objects for the whole history), and seq, time and
 * place live in typed-array columns. The published item objects then die
 * young: once every subscriber's session has taken them. A replay copies
 * the bytes out, so a block can be reused after its items were trimmed
 * while a replayed item is still queued somewhere.
 *
 * Seqs are consecutive (a Topic numbers every publish), so an entry's seq is
 * the oldest seq plus its place in the ring.
 */
import type { HistoryBounds } from "./topic-engine.js";

/** An item as the history gives it back: a copy of its bytes, its seq, publish time and subject. */
export interface HistoryEntry {
  readonly seq: number;
  readonly data: Uint8Array;
  readonly at: number;
  readonly subject: string;
}

/** The smallest and the largest block payloads are copied into (one item larger than this gets a block of its own). */
const MIN_BLOCK = 16 * 1024;
const MAX_BLOCK = 1024 * 1024;
const MIN_SLOTS = 16;

/** A block of payload bytes; `ordinal` counts blocks since the history began, so entries name their block by number. */
interface Block {
  readonly bytes: Uint8Array;
  readonly ordinal: number;
  /** Bytes written so far. */
  used: number;
}

/** The items kept for resume (see the module comment). */
export class TopicHistory {
  readonly #bounds: HistoryBounds;
  /** What a subject equal to this is stored as: nothing (the whole-topic case needs no string per item). */
  readonly #topicSubject: string;
  // The ring of entries: slot (#head + i) % capacity holds the i-th oldest.
  #at = new Float64Array(MIN_SLOTS);
  #block = new Float64Array(MIN_SLOTS);
  #offset = new Uint32Array(MIN_SLOTS);
  #length = new Uint32Array(MIN_SLOTS);
  /** Subjects other than the topic's own name; undefined where it is the topic's. */
  #subjects: (string | undefined)[] = new Array<string | undefined>(MIN_SLOTS);
  #head = 0;
  #count = 0;
  #oldestSeq = 0;
  #bytes = 0;
  /** Blocks in use, oldest first; the last is the one being written. */
  #blocks: Block[] = [];
  #nextOrdinal = 0;
  /** One released standard-size block, reused for the next (so a steady stream allocates nothing). */
  #spare: Uint8Array | undefined;

  constructor(bounds: HistoryBounds, topicSubject: string) {
    this.#bounds = bounds;
    this.#topicSubject = topicSubject;
  }

  /** Items retained. */
  get length(): number {
    return this.#count;
  }

  /** Their payload bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes of the blocks the payloads are in (retained bytes plus what is not yet or no longer filled). */
  get blockBytes(): number {
    return this.#blocks.reduce((n, block) => n + block.bytes.byteLength, 0);
  }

  /** Blocks in use. */
  get blockCount(): number {
    return this.#blocks.length;
  }

  /** The oldest retained seq, or undefined when empty. */
  get oldestSeq(): number | undefined {
    return this.#count > 0 ? this.#oldestSeq : undefined;
  }

  /** Keeps a copy of the item published as `seq` (the seq after the newest), then trims to the bounds. */
  push(seq: number, data: Uint8Array, at: number, subject: string): void {
    if (this.#bounds.maxItems === 0) return;
    if (this.#count > 0 && seq !== this.#oldestSeq + this.#count) throw new RangeError(`history: seq ${seq} after ${this.#oldestSeq + this.#count - 1}`);
    if (this.#count === this.#at.length) this.#grow();
    if (this.#count === 0) this.#oldestSeq = seq;
    const block = this.#blockFor(data.byteLength);
    block.bytes.set(data, block.used);
    const slot = (this.#head + this.#count) % this.#at.length;
    this.#at[slot] = at;
    this.#block[slot] = block.ordinal;
    this.#offset[slot] = block.used;
    this.#length[slot] = data.byteLength;
    this.#subjects[slot] = subject === this.#topicSubject ? undefined : subject;
    block.used += data.byteLength;
    this.#count++;
    this.#bytes += data.byteLength;
    this.trim(at);
  }

  /** Drops the oldest items past any bound: count, bytes (the newest item always stays), age at `now`. */
  trim(now: number): void {
    const { maxItems, maxBytes, maxAgeMs } = this.#bounds;
    while (this.#count > 0) {
      const slot = this.#head;
      const over = this.#count > maxItems || (this.#bytes > maxBytes && this.#count > 1) || now - this.#at[slot]! > maxAgeMs;
      if (!over) break;
      this.#bytes -= this.#length[slot]!;
      this.#subjects[slot] = undefined;
      this.#head = (slot + 1) % this.#at.length;
      this.#count--;
      this.#oldestSeq++;
    }
    this.#releaseBlocks();
  }

  /** Calls `each` with a copy of every retained item after `afterSeq`, oldest first, whose subject passes `keep`. */
  forEachAfter(afterSeq: number, keep: ((subject: string) => boolean) | undefined, each: (entry: HistoryEntry) => void): void {
    const first = Math.max(0, afterSeq + 1 - this.#oldestSeq);
    const firstOrdinal = this.#blocks[0]?.ordinal ?? 0;
    for (let i = first; i < this.#count; i++) {
      const slot = (this.#head + i) % this.#at.length;
      const subject = this.#subjects[slot] ?? this.#topicSubject;
      if (keep && !keep(subject)) continue;
      const block = this.#blocks[this.#block[slot]! - firstOrdinal]!;
      const offset = this.#offset[slot]!;
      each({ seq: this.#oldestSeq + i, data: block.bytes.slice(offset, offset + this.#length[slot]!), at: this.#at[slot]!, subject });
    }
  }

  /** The block the next `size` bytes go into: the current one if they fit, else a new one. */
  #blockFor(size: number): Block {
    const last = this.#blocks[this.#blocks.length - 1];
    if (last && last.bytes.byteLength - last.used >= size) return last;
    // Blocks grow with the history (an eighth of what it holds), so a small topic holds little and a big one few blocks.
    let standard = MIN_BLOCK;
    while (standard < MAX_BLOCK && standard < this.#bytes / 8) standard *= 2;
    let bytes: Uint8Array;
    if (size > standard) bytes = new Uint8Array(size);
    else if (this.#spare?.byteLength === standard) {
      bytes = this.#spare;
      this.#spare = undefined;
    } else bytes = new Uint8Array(standard);
    const block: Block = { bytes, ordinal: this.#nextOrdinal++, used: 0 };
    this.#blocks.push(block);
    return block;
  }

  /** Lets go of the blocks older than the oldest entry's (the block being written always stays). */
  #releaseBlocks(): void {
    const oldestOrdinal = this.#count > 0 ? this.#block[this.#head]! : this.#nextOrdinal - 1;
    let drop = 0;
    while (drop < this.#blocks.length - 1 && this.#blocks[drop]!.ordinal < oldestOrdinal) drop++;
    if (this.#count === 0 && this.#blocks.length > 0) {
      // Empty: the block being written starts over.
      this.#blocks[this.#blocks.length - 1]!.used = 0;
    }
    if (drop === 0) return;
    for (const released of this.#blocks.splice(0, drop)) {
      if (released.bytes.byteLength <= MAX_BLOCK && (!this.#spare || this.#spare.byteLength < released.bytes.byteLength)) this.#spare = released.bytes;
    }
  }

  /** Doubles the ring, oldest entry first at slot 0. */
  #grow(): void {
    const capacity = this.#at.length * 2;
    const order = <T extends Float64Array | Uint32Array>(column: T, next: T): T => {
      for (let i = 0; i < this.#count; i++) next[i] = column[(this.#head + i) % column.length]!;
      return next;
    };
    this.#at = order(this.#at, new Float64Array(capacity));
    this.#block = order(this.#block, new Float64Array(capacity));
    this.#offset = order(this.#offset, new Uint32Array(capacity));
    this.#length = order(this.#length, new Uint32Array(capacity));
    const subjects = new Array<string | undefined>(capacity);
    for (let i = 0; i < this.#count; i++) subjects[i] = this.#subjects[(this.#head + i) % this.#subjects.length];
    this.#subjects = subjects;
    this.#head = 0;
  }
}
