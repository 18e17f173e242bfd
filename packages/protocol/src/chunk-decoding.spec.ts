/**
 * The hand decoder of chunks against protobuf-es: the same frame for every
 * chunk the server's encoder writes, undefined (protobuf-es decides) for
 * anything of another shape, and never a different reading of any bytes.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ChunkFrame, ServerFrame } from "@sluice/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mutatedEncodings } from "../test/fixtures/mutated.js";
import { decodeChunkMessage, encodeChunkFrameField, TAG_RESPONSE_FRAME } from "./chunk-encoding.js";
import { serverFrameFromWire, serverFrameToWire } from "./codec.js";
import { SubscribeResponseSchema } from "./gen/sluice/v1/service_pb.js";

const seq = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const bytes = fc.uint8Array({ maxLength: 300 });
const chunk: fc.Arbitrary<ChunkFrame> = fc.oneof(
  fc.record({ type: fc.constant("chunk" as const), firstSeq: seq, items: fc.array(bytes, { maxLength: 20 }), cursor: bytes }),
  fc.record({ type: fc.constant("chunk" as const), firstSeq: seq, items: fc.constant([]), cursor: bytes, fragment: fc.record({ totalBytes: seq, offset: seq, data: bytes }) }),
);

/** protobuf-es' reading of a response message: the frame, or undefined. */
const slow = (message: Uint8Array): ServerFrame | undefined => {
  const frame = fromBinary(SubscribeResponseSchema, message, { readUnknownFields: false }).frame;
  return frame ? serverFrameFromWire(frame) : undefined;
};
const message = (frame: ChunkFrame) => encodeChunkFrameField(frame, TAG_RESPONSE_FRAME)!;

describe("chunk decoder", () => {
  it("reads every chunk the encoder writes as protobuf-es does, items as views into the message (property)", () => {
    fc.assert(
      fc.property(chunk, (frame) => {
        const bytes = message(frame);
        const fast = decodeChunkMessage(bytes);
        // Encoder and decoder take the same shapes, but for an empty fragment's data (a protocol violation the receiver names).
        if (frame.fragment && frame.fragment.data.byteLength === 0) return;
        expect(fast).toBeDefined();
        expect(fast).toEqual(slow(bytes));
        for (const item of fast!.items) expect(item.buffer).toBe(bytes.buffer);
      }),
    );
  });

  it("never reads other bytes differently from protobuf-es: a frame it returns is protobuf-es' (property)", () => {
    // Valid encodings with bytes changed, cut or added, and bytes at random.
    const mutated = mutatedEncodings(chunk, message);
    let read = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 40 })), (bytes) => {
        const fast = decodeChunkMessage(bytes);
        if (fast === undefined) return;
        read++;
        expect(fast).toEqual(slow(bytes));
      }),
      { numRuns: 3_000 },
    );
    // Many mutations keep a valid chunk (a changed item byte): the comparison ran, not only the refusals.
    expect(read).toBeGreaterThan(100);
  });

  it("leaves other shapes to protobuf-es: a gap, subjects, a priority, a zero written out, fields out of order, a seq above 2^53 - 1", () => {
    const viaProtobuf = (frame: ServerFrame) => toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, { frame: serverFrameToWire(frame) }));
    const base = { type: "chunk" as const, firstSeq: 5, items: [Uint8Array.of(1)], cursor: new Uint8Array() };
    expect(decodeChunkMessage(viaProtobuf(base))).toEqual(base);
    expect(decodeChunkMessage(viaProtobuf({ ...base, gap: { fromSeq: 2, count: 3, reason: "dropped_oldest" } }))).toBeUndefined();
    expect(decodeChunkMessage(viaProtobuf({ ...base, subjects: ["t.a"] }))).toBeUndefined();
    expect(decodeChunkMessage(viaProtobuf({ ...base, priority: 1 }))).toBeUndefined();
    // first_seq: 0 written out; cursor (4) before items (2); first_seq 2^53.
    expect(decodeChunkMessage(Uint8Array.of(0x0a, 0x04, 0x12, 0x02, 0x08, 0x00))).toBeUndefined();
    expect(decodeChunkMessage(Uint8Array.of(0x0a, 0x08, 0x12, 0x06, 0x22, 0x01, 0x07, 0x12, 0x01, 0x01))).toBeUndefined();
    const over = toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, { frame: { kind: { case: "chunk", value: { firstSeq: 2n ** 53n } } } }));
    expect(decodeChunkMessage(over)).toBeUndefined();
    expect(() => slow(over)).toThrow(/chunk\.first_seq is 9007199254740992, above 2\^53-1/);
  });
});
