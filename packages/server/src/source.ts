/**
 * Sources: anything that yields items from a cursor. The server pulls from
 * a source only while the subscriber has credit, so an async generator is
 * the whole contract: its `return()` (its `finally`) runs when the stream is
 * cancelled, fails or the client goes away.
 */
import type { JsonObject } from "@sluice/core";
import type { SourceYield } from "@sluice/driver";

/** One item as a source yields it. `cursor` is the position after it (opaque to clients). */
export interface SourceItem {
  readonly data: Uint8Array;
  readonly cursor?: Uint8Array;
}

export interface SourceOpenContext {
  /** Aborted when the session ends; sources waiting on I/O should stop. */
  readonly signal: AbortSignal;
}

/** Opens the stream after `cursor` (empty: from the start). */
export interface Source<P = JsonObject> {
  open(params: P, cursor: Uint8Array, context: SourceOpenContext): AsyncIterable<SourceItem | SourceYield>;
}

export type ItemEncoder<T> = (value: T) => Uint8Array;

const textEncoder = new TextEncoder();
/** JSON text, the default item encoding. */
export const jsonEncoder: ItemEncoder<unknown> = (value) => textEncoder.encode(JSON.stringify(value));

/** Position cursors for sources addressed by index: 8 bytes, big-endian. */
export function indexCursor(index: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(index));
  return bytes;
}

export function readIndexCursor(cursor: Uint8Array): number {
  if (cursor.byteLength === 0) return 0;
  if (cursor.byteLength !== 8) throw new RangeError(`index cursor must be 8 bytes, got ${cursor.byteLength}`);
  return Number(new DataView(cursor.buffer, cursor.byteOffset, 8).getBigUint64(0));
}

/**
 * A source over an iterable or async iterable (or a function making one from
 * the params). Cursors are item indexes: a resume re-creates the iterable and
 * skips to the position, so the iterable must yield the same items each time.
 */
export function fromIterable<T, P = JsonObject>(
  make: Iterable<T> | AsyncIterable<T> | ((params: P) => Iterable<T> | AsyncIterable<T>),
  encode: ItemEncoder<T> = jsonEncoder as ItemEncoder<T>,
): Source<P> {
  return {
    async *open(params, cursor) {
      const skip = readIndexCursor(cursor);
      const iterable = typeof make === "function" ? make(params) : make;
      let index = 0;
      for await (const value of iterable as AsyncIterable<T>) {
        index++;
        if (index <= skip) continue;
        yield value instanceof Uint8Array ? { data: value, cursor: indexCursor(index) } : { data: encode(value), cursor: indexCursor(index) };
      }
    },
  };
}
