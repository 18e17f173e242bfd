/**
 * Packs consecutive items into chunks (PROTOCOL.md §5).
 *
 * A chunk closes at `maxItems`, when it reaches `maxBytes`, at its flush
 * deadline (opened + `flushDelayMs`, bounding latency), or when the caller
 * closes it (the sender does so when credit runs out: nothing more could join
 * it anyway). An item larger than `maxBytes` goes out as fragments of at most
 * `maxBytes` each, one per chunk.
 *
 * The flush deadline holds here, not only in the caller's timer: handleTimeout
 * closes a chunk at its deadline, and add() closes an overdue chunk before the
 * new item, so an item never joins a chunk whose deadline has passed even
 * when the timer has not fired yet (a busy event loop). That costs add() one
 * comparison against the stored deadline. It also means that under load,
 * when a session's items arrive further apart than `flushDelayMs`, each goes
 * in a chunk of its own: an earlier version let late items join the overdue
 * chunk until the timer fired, and 1 000 concurrent sessions in one process
 * ran 7 s instead of 45 s for 200 000 items with it (ARCHITECTURE.md).
 *
 * 32 KiB is the default byte threshold: the seeds measured it as the point
 * where per-frame overhead stops mattering while latency and head-of-line
 * blocking on a shared HTTP/2 connection stay small.
 */
import { EMPTY_BYTES, type ChunkFrame, type Gap } from "./frames.js";
import { Priority } from "./priority-queue.js";
import { Queue } from "./queue.js";

/**
 * A closed chunk of whole items. A class, and its items array made by
 * Array.of, not literals: V8 pretenures a literal's allocation site once
 * most of what it made survives scavenges (chunks queued while a
 * subscriber has no credit), and a chunk born in the old generation keeps
 * its young items alive through every scavenge until the next
 * mark-compact (see QueuedItem in subscriber-queue.ts).
 */
class AssembledChunk implements ChunkFrame {
  readonly type = "chunk" as const;
  constructor(
    readonly firstSeq: number,
    readonly items: readonly Uint8Array[],
    readonly cursor: Uint8Array,
    readonly gap: Gap | undefined,
    readonly priority: Priority | undefined,
    readonly subjects: readonly string[] | undefined,
  ) {}
}

/** When a chunk closes (PROTOCOL.md §5.1); the thresholds are the sender's choice. */
export interface ChunkOptions {
  /** Close a chunk at this many items. */
  readonly maxItems: number;
  /** Close a chunk once its payload reaches this many bytes; also the fragment size. */
  readonly maxBytes: number;
  /** Close a non-empty chunk this long after its first item. */
  readonly flushDelayMs: number;
}

/** Core's defaults: 4 096 items, 32 KiB, 5 ms (the server uses 128 KiB chunks). */
export const DEFAULT_CHUNK_OPTIONS: ChunkOptions = {
  maxItems: 4096,
  maxBytes: 32 * 1024,
  flushDelayMs: 5,
};

/**
 * Packs consecutive items and gaps into chunk frames, closing each at its item,
 * byte or time threshold, and splits oversized items into fragments.
 */
export class ChunkAssembler {
  /** The thresholds in force, defaults filled in. */
  readonly options: ChunkOptions;
  readonly #ready = new Queue<ChunkFrame>();
  #items: Uint8Array[] = Array.of();
  #firstSeq = 0;
  #bytes = 0;
  #cursor: Uint8Array = EMPTY_BYTES;
  /** The priority of the open chunk's items (a chunk holds items of one priority, PROTOCOL.md §3.4 rule 10). */
  #priority: Priority = Priority.NORMAL;
  /** The open chunk's items' subjects (a filtered stream's), or undefined for a stream without. */
  #subjects: string[] | undefined;
  /** The open chunk's flush deadline; Infinity while nothing (no item, no gap) is open. */
  #flushAt = Infinity;
  #gap: Gap | undefined;

  constructor(options: Partial<ChunkOptions> = {}) {
    this.options = { ...DEFAULT_CHUNK_OPTIONS, ...options };
    if (!(this.options.maxItems >= 1) || !(this.options.maxBytes >= 1) || !(this.options.flushDelayMs >= 0)) {
      throw new RangeError(`invalid chunk options: ${JSON.stringify(this.options)}`);
    }
  }

  /** Items in the open chunk. */
  get openItems(): number {
    return this.#items.length;
  }

  /** When the open chunk must be flushed, if one is open. */
  get deadline(): number | undefined {
    // A pending gap with no items behind it has one too: it must not wait for the next item (a quiet topic).
    return this.#flushAt === Infinity ? undefined : this.#flushAt;
  }

  /** Closed chunks waiting to be taken. */
  get readyCount(): number {
    return this.#ready.length;
  }

  /**
   * Adds item `seq` (the next seq after the previous item or gap). `cursor`
   * is the source position after this item (empty when the source has none).
   * A publisher's items carry a `priority`: an item of another priority than
   * the open chunk's closes it first (subscriptions leave it NORMAL). A
   * filtered stream's items carry their `subject` (PROTOCOL.md §7.10); the
   * subject counts toward the chunk's bytes.
   */
  add(seq: number, data: Uint8Array, cursor: Uint8Array, now: number, priority: Priority = Priority.NORMAL, subject?: string): void {
    if (now >= this.#flushAt || (this.#items.length > 0 && (priority !== this.#priority || (subject === undefined) !== (this.#subjects === undefined)))) this.close();
    const { maxBytes, maxItems } = this.options;
    const size = data.byteLength + (subject?.length ?? 0);
    if (size > maxBytes) {
      // Only open items go ahead; a pending gap rides on the first fragment.
      if (this.#items.length > 0) this.close();
      this.#fragment(seq, data, cursor, priority, subject);
      return;
    }
    if (this.#items.length > 0 && this.#bytes + size > maxBytes) this.close();
    if (this.#items.length === 0) {
      this.#firstSeq = seq;
      this.#priority = priority;
      this.#subjects = subject === undefined ? undefined : [];
      this.#flushAt = now + this.options.flushDelayMs;
    }
    this.#items.push(data);
    if (subject !== undefined) this.#subjects!.push(subject);
    this.#bytes += size;
    this.#cursor = cursor;
    if (this.#items.length >= maxItems || this.#bytes >= maxBytes) this.close();
  }

  /** Records that `gap` precedes the next item; it rides on the next chunk. */
  addGap(gap: Gap, now = 0): void {
    // Close open items (the gap follows them), but keep a pending gap open so the two merge.
    if (this.#items.length > 0) this.close();
    if (!this.#gap) this.#flushAt = now + this.options.flushDelayMs;
    if (this.#gap) {
      // Two gaps in a row with nothing between them merge into one.
      this.#gap = { fromSeq: this.#gap.fromSeq, count: this.#gap.count + gap.count, reason: gap.reason };
    } else {
      this.#gap = gap;
    }
  }

  /** Closes the open chunk now. A pending gap with no items goes out alone. */
  close(): void {
    if (this.#items.length > 0) {
      this.#ready.push(new AssembledChunk(this.#firstSeq, this.#items, this.#cursor, this.#gap, this.#priority !== Priority.NORMAL ? this.#priority : undefined, this.#subjects));
      this.#gap = undefined;
      this.#subjects = undefined;
      this.#items = Array.of();
      this.#bytes = 0;
      this.#cursor = EMPTY_BYTES;
    } else if (this.#gap) {
      const gap = this.#gap;
      this.#ready.push({ type: "chunk", firstSeq: gap.fromSeq + gap.count, items: [], cursor: EMPTY_BYTES, gap });
      this.#gap = undefined;
    }
    this.#flushAt = Infinity;
  }

  /** Closes the open chunk if its flush deadline has passed. */
  handleTimeout(now: number): void {
    if (now >= this.#flushAt) this.close();
  }

  /** The oldest closed chunk, or undefined. */
  take(): ChunkFrame | undefined {
    return this.#ready.shift();
  }

  /** Drops everything not yet taken (cancel). */
  discard(): void {
    this.#ready.clear();
    this.#items = Array.of();
    this.#subjects = undefined;
    this.#bytes = 0;
    this.#gap = undefined;
    this.#flushAt = Infinity;
  }

  #fragment(seq: number, data: Uint8Array, cursor: Uint8Array, priority: Priority, subject: string | undefined): void {
    // The completing fragment carries the subject too: room for it.
    const size = Math.max(1, this.options.maxBytes - (subject?.length ?? 0));
    const total = data.byteLength;
    for (let offset = 0; offset < total; offset += size) {
      const end = Math.min(total, offset + size);
      this.#ready.push({
        type: "chunk",
        firstSeq: seq,
        items: [],
        fragment: { totalBytes: total, offset, data: data.subarray(offset, end) },
        // The cursor belongs with the fragment that completes the item.
        cursor: end === total ? cursor : EMPTY_BYTES,
        gap: offset === 0 ? this.#gap : undefined,
        ...(priority !== Priority.NORMAL ? { priority } : {}),
        ...(subject !== undefined && end === total ? { subjects: [subject] } : {}),
      });
    }
    // Only called with no items open, so with the gap gone nothing is.
    this.#gap = undefined;
    this.#flushAt = Infinity;
  }
}
