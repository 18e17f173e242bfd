/**
 * Sources: anything that yields items from a cursor. The server pulls from
 * a source only while the subscriber has credit, so an async generator is
 * the whole contract: its `return()` (its `finally`) runs when the stream is
 * cancelled, fails or the client goes away.
 */
import { SluiceError, type JsonObject } from "@sluice/core";
import type { SourceYield } from "@sluice/driver";

/** One item as a source yields it. `cursor` is the position after it (opaque to clients). */
export interface SourceItem {
  /** The item's payload, sent as is. */
  readonly data: Uint8Array;
  /** The source position after this item (absent or empty: none). */
  readonly cursor?: Uint8Array;
}

/** What {@link Source.open} gets besides the params and the cursor. */
export interface SourceOpenContext {
  /** Aborted when the session ends; sources waiting on I/O should stop. */
  readonly signal: AbortSignal;
  /**
   * The seq of the last item `cursor` covers, as the client says
   * (ResumePosition.cursor_seq; 0 with an empty cursor). A source whose
   * cursor records its position checks the two agree and refuses with
   * invalidCursor() when they do not.
   */
  readonly cursorSeq: number;
}

/**
 * A stream's items from a cursor: opened once per session at the client's
 * resume cursor, and pulled only while the subscriber has credit.
 */
export interface Source<P = JsonObject> {
  /**
   * Opens the stream after `cursor` (empty: from the start). A source that can
   * tell a cursor is bad (malformed, or not at `context.cursorSeq`) should
   * throw invalidCursor() from open() itself, not from its first item: the Open
   * is then refused before Opened.
   */
  open(params: P, cursor: Uint8Array, context: SourceOpenContext): AsyncIterable<SourceItem | SourceYield>;
  /**
   * For sources whose seqs are positions (no gaps, cursor = index): the
   * cursor right after `seq`, so a resume without a cursor reads nothing
   * twice instead of re-reading `seq` items.
   */
  cursorAfter?(params: P, seq: number): Uint8Array;
  /** A finite source's length when known: a resume beyond it is refused at once. */
  length?(params: P): number | undefined;
}

/**
 * The client's resume cursor cannot be right (malformed, or inconsistent with
 * resume.cursor_seq): its fault, not retryable (PROTOCOL.md §7.6).
 */
export function invalidCursor(message: string): SluiceError {
  return new SluiceError("invalid_argument", `resume.cursor: ${message}`, { field: "resume.cursor", blame: "remote" });
}

/** Turns a value into an item's bytes (see jsonEncoder). */
export type ItemEncoder<T> = (value: T) => Uint8Array;



const textEncoder = new TextEncoder();
/** JSON text, the default item encoding. */
export const jsonEncoder: ItemEncoder<unknown> = (value) => textEncoder.encode(JSON.stringify(value));

/** Index cursors are cut from shared slabs: an ArrayBuffer per cursor (one per item a topic sends) made the GC's ArrayBuffer sweep a visible share of a busy server's pauses. */
const CURSOR_SLAB_BYTES = 8 * 1024;
let cursorSlab = new Uint8Array(CURSOR_SLAB_BYTES);
let cursorSlabView = new DataView(cursorSlab.buffer);
let cursorSlabAt = 0;

/** Position cursors for sources addressed by index: 8 bytes, big-endian. */
export function indexCursor(index: number): Uint8Array {
  if (cursorSlabAt === CURSOR_SLAB_BYTES) {
    cursorSlab = new Uint8Array(CURSOR_SLAB_BYTES);
    cursorSlabView = new DataView(cursorSlab.buffer);
    cursorSlabAt = 0;
  }
  const at = cursorSlabAt;
  cursorSlabAt += 8;
  // Two 32-bit halves: the same bytes as setBigUint64, without a BigInt per item (indexes stay below 2^53).
  cursorSlabView.setUint32(at, Math.floor(index / 0x1_0000_0000));
  cursorSlabView.setUint32(at + 4, index >>> 0);
  return cursorSlab.subarray(at, at + 8);
}

/** The index an index cursor holds (0 for an empty cursor); a malformed one is invalidCursor(). */
export function readIndexCursor(cursor: Uint8Array): number {
  if (cursor.byteLength === 0) return 0;
  if (cursor.byteLength !== 8) throw invalidCursor(`an index cursor is 8 bytes, got ${cursor.byteLength}`);
  const index = new DataView(cursor.buffer, cursor.byteOffset, 8).getBigUint64(0);
  if (index > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidCursor(`index ${index} is above 2^53-1`);
  return Number(index);
}

/** readIndexCursor, checked against the seq the client says the cursor covers (the index is that seq). */
export function readSeqCursor(cursor: Uint8Array, cursorSeq: number): number {
  const index = readIndexCursor(cursor);
  if (cursor.byteLength > 0 && index !== cursorSeq) throw invalidCursor(`the cursor is at seq ${index}, but resume.cursor_seq says ${cursorSeq}`);
  return index;
}

/**
 * A source over an iterable or async iterable (or a function making one from
 * the params). It has no cursors: a resume re-creates the iterable and the
 * server reads and drops the items up to the position (reported as
 * `replayed`, bounded by maxResumeSkip), so the iterable must yield the same
 * items each time. A position past its end is refused.
 */
export function fromIterable<T, P = JsonObject>(
  make: Iterable<T> | AsyncIterable<T> | ((params: P) => Iterable<T> | AsyncIterable<T>),
  encode: ItemEncoder<T> = jsonEncoder as ItemEncoder<T>,
): Source<P> {
  return {
    open(params, cursor) {
      // Checked now: a bad cursor refuses the Open (PROTOCOL.md §7.6).
      if (cursor.byteLength > 0) throw invalidCursor("this stream has no cursors (resume by seq alone)");
      return (async function* () {
        const iterable = typeof make === "function" ? make(params) : make;
        for await (const value of iterable as AsyncIterable<T>) yield { data: value instanceof Uint8Array ? value : encode(value) };
      })();
    },
  };
}
