import { create, toBinary } from "@bufbuild/protobuf";
import { WebSocketFrameSchema } from "@sluice/protocol/ws";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dataFrameHeader } from "./mux.js";

describe("dataFrameHeader", () => {
  it("plus the payload is exactly protobuf's encoding of the CallData frame (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 3 }), (callId, small, scale) => {
        // Lengths across varint boundaries (127/128, 16 383/16 384, ...).
        const data = scale === 0 ? small : new Uint8Array(Math.min(small.byteLength * 128 ** scale, 20_000 + (small.byteLength % 3) * 1_000_000));
        const header = dataFrameHeader(callId, data.byteLength);
        const frame = new Uint8Array(header.byteLength + data.byteLength);
        frame.set(header);
        frame.set(data, header.byteLength);
        const expected = toBinary(WebSocketFrameSchema, create(WebSocketFrameSchema, { callId, kind: { case: "data", value: { data } } }));
        // Buffer.equals: vitest's deep equality is far too slow for megabytes.
        expect(Buffer.from(frame).equals(Buffer.from(expected))).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
