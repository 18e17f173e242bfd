/** Index cursors: 8 bytes, big-endian, cut from shared slabs. */
import { describe, expect, it } from "vitest";
import { indexCursor, readIndexCursor } from "./source.js";

describe("indexCursor", () => {
  it("writes the index big-endian in 8 bytes and reads it back, across slab boundaries and up to 2^53-1", () => {
    for (const index of [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
      const expected = new Uint8Array(8);
      new DataView(expected.buffer).setBigUint64(0, BigInt(index));
      const cursor = indexCursor(index);
      expect(cursor).toEqual(expected);
      expect(readIndexCursor(cursor)).toBe(index);
    }
    // 3 000 cursors span several slabs; each keeps its own bytes.
    const cursors = Array.from({ length: 3_000 }, (_, i) => indexCursor(i));
    cursors.forEach((cursor, i) => expect(readIndexCursor(cursor)).toBe(i));
  });
});
