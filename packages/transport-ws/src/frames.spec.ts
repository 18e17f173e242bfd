import { create, toBinary } from "@bufbuild/protobuf";
import { WebSocketFrameSchema } from "@sluice/protocol/ws";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dataFrameHeader, decodeFrame, encodeDataFrame, encodeFrame, fromHeaderList, isSocketClose, toHeaderList } from "./frames.js";

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
        expect(Buffer.from(encodeDataFrame(callId, data)).equals(Buffer.from(expected))).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

describe("decodeFrame", () => {
  it("reads back what encodeFrame wrote, from an ArrayBuffer or a view", () => {
    const bytes = encodeFrame(3, { case: "windowUpdate", value: { bytes: 65_536 } });
    for (const data of [bytes.slice().buffer, Buffer.from(bytes)]) {
      const frame = decodeFrame(data, 1_000);
      expect(isSocketClose(frame)).toBe(false);
      expect(frame).toMatchObject({ callId: 3, kind: { case: "windowUpdate", value: { bytes: 65_536 } } });
    }
  });

  it("refuses a text message with 1002", () => {
    expect(decodeFrame("hello", 1_000)).toEqual({ code: 1002, reason: "text message: frames are binary" });
  });

  it("refuses a message over the limit with 1009, before decoding it", () => {
    expect(decodeFrame(new Uint8Array(1_001).fill(0xff), 1_000)).toEqual({ code: 1009, reason: "frame of 1001 bytes, over the limit 1000" });
  });

  it("refuses bytes that are not a frame with 1002", () => {
    const decoded = decodeFrame(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), 1_000);
    expect(isSocketClose(decoded) && decoded.code).toBe(1002);
    expect(isSocketClose(decoded) && decoded.reason).toMatch(/^malformed frame: /);
  });
});

describe("header lists", () => {
  it("round-trip, and an invalid name is refused", () => {
    const headers = new Headers({ "content-type": "application/proto", "x-a": "1" });
    expect([...fromHeaderList(toHeaderList(headers))!]).toEqual([...headers]);
    expect(fromHeaderList([{ $typeName: "sluice.ws.v1.Header", name: "bad name", value: "x" }])).toBeUndefined();
  });
});
