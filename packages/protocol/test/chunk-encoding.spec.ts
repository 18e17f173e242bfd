/**
 * The hand-written chunk encoder against protobuf-es: byte-identical output
 * for any chunk (items, fragments, cursors, seqs up to 2^53 - 1), and it
 * decodes back to the same frame.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ChunkFrame } from "@sluice/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeServerFrame, preEncodedChunkResponse, serverFrameFromWire, serverFrameToWire, SubscribeHalfDuplexResponseSchema, SubscribeResponseSchema } from "../src/index.js";

const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const chunk: fc.Arbitrary<ChunkFrame> = fc.oneof(
  fc.record({
    type: fc.constant("chunk" as const),
    firstSeq: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.maxSafeNat()),
    items: fc.array(fc.oneof(bytes(4), bytes(300)), { maxLength: 40 }),
    cursor: bytes(20),
    priority: fc.constantFrom(undefined, 0 as const, 1 as const, 2 as const, 3 as const),
  }),
  fc.record({
    type: fc.constant("chunk" as const),
    firstSeq: fc.maxSafeNat(),
    items: fc.constant([]),
    fragment: fc.record({ totalBytes: fc.oneof(fc.nat(), fc.maxSafeNat()), offset: fc.oneof(fc.nat(), fc.maxSafeNat()), data: bytes(20_000) }),
    cursor: bytes(10),
  }),
);

describe("preEncodedChunkResponse", () => {
  it.each([
    ["SubscribeResponse", SubscribeResponseSchema],
    ["SubscribeHalfDuplexResponse", SubscribeHalfDuplexResponseSchema],
  ] as const)("encodes %s byte for byte as protobuf-es does, and decodes back (property)", (_name, schema) => {
    fc.assert(
      fc.property(chunk, (frame) => {
        const canonical = toBinary(schema, create(schema, { frame: serverFrameToWire(frame) }) as never);
        const fast = toBinary(schema, preEncodedChunkResponse(schema, frame) as never);
        expect(fast).toEqual(canonical);
        const decoded = fromBinary(schema, fast) as { frame?: Parameters<typeof serverFrameFromWire>[0] };
        expect(serverFrameFromWire(decoded.frame!)).toMatchObject({ type: "chunk", firstSeq: frame.firstSeq, items: frame.items });
      }),
      { numRuns: 300 },
    );
  });

  it("makes encodeServerFrame's chunks byte-identical to protobuf-es' (property)", () => {
    fc.assert(
      fc.property(chunk, (frame) => {
        expect(encodeServerFrame(frame)).toEqual(toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, { frame: serverFrameToWire(frame) })));
      }),
      { numRuns: 300 },
    );
  });

  it("encodes a 128 KiB chunk of 16 KiB items (multi-byte length prefixes at every level)", () => {
    const items = Array.from({ length: 8 }, (_, i) => new Uint8Array(16_384).fill(i));
    const frame: ChunkFrame = { type: "chunk", firstSeq: 1_000_000_007, items, cursor: new Uint8Array([1, 2, 3]) };
    expect(toBinary(SubscribeResponseSchema, preEncodedChunkResponse(SubscribeResponseSchema, frame)!)).toEqual(toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, { frame: serverFrameToWire(frame) })));
  });

  it("leaves chunks that carry a gap to protobuf-es", () => {
    expect(preEncodedChunkResponse(SubscribeResponseSchema, { type: "chunk", firstSeq: 5, items: [], cursor: new Uint8Array(), gap: { fromSeq: 1, count: 4, reason: "dropped_oldest" } })).toBeUndefined();
  });
});
