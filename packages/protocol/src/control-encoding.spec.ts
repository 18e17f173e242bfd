/**
 * The hand codec of heartbeats, credits and acks against protobuf-es: the
 * same bytes out, the same frames in, and undefined (protobuf-es decides)
 * for anything else.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ClientFrame, ServerFrame } from "@sluice/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mutatedEncodings } from "../test/fixtures/mutated.js";
import { clientFrameFromWire, clientFrameToWire, serverFrameFromWire, serverFrameToWire } from "./codec.js";
import { decodeControlMessage, encodeControlMessage, type ControlFrame } from "./control-encoding.js";
import { SubscribeRequestSchema, SubscribeResponseSchema } from "./gen/sluice/v1/service_pb.js";

const value = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const optional = fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined });
const heartbeat = fc
  .record({ ping: value, pong: value, sentSeq: optional, heldBytes: optional, pongDelayUs: optional })
  .map(({ sentSeq, heldBytes, pongDelayUs, ...rest }): ControlFrame => ({ type: "heartbeat", ...rest, ...(sentSeq ? { sentSeq } : {}), ...(heldBytes ? { heldBytes } : {}), ...(pongDelayUs ? { pongDelayUs } : {}) }));
const clientControl: fc.Arbitrary<ControlFrame> = fc.oneof(fc.record({ type: fc.constant("credit" as const), maxSeq: value, maxBytes: value }), fc.record({ type: fc.constant("ack" as const), seq: value }), heartbeat);

const protobufClient = (frame: ClientFrame) => toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { frame: clientFrameToWire(frame) }));
const protobufServer = (frame: ServerFrame) => toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, { frame: serverFrameToWire(frame) }));
/** protobuf-es' reading of a client message: the frame, or the error it throws. */
const slowClient = (bytes: Uint8Array) => {
  const frame = fromBinary(SubscribeRequestSchema, bytes, { readUnknownFields: false }).frame;
  return frame ? clientFrameFromWire(frame) : undefined;
};
const slowServer = (bytes: Uint8Array) => {
  const frame = fromBinary(SubscribeResponseSchema, bytes, { readUnknownFields: false }).frame;
  return frame ? serverFrameFromWire(frame) : undefined;
};

describe("control frame codec", () => {
  it("writes protobuf-es' bytes for client credits, acks and heartbeats, and reads them back as protobuf-es does (property)", () => {
    fc.assert(
      fc.property(clientControl, fc.integer({ min: 0, max: 8 }), (frame, headroom) => {
        const expected = protobufClient(frame);
        const encoded = encodeControlMessage(frame, "client", headroom)!;
        expect(encoded.subarray(headroom)).toEqual(expected);
        expect(decodeControlMessage(expected, "client")).toEqual(slowClient(expected));
      }),
    );
  });

  it("writes protobuf-es' bytes for server heartbeats, and reads them back as protobuf-es does (property)", () => {
    fc.assert(
      fc.property(heartbeat, (frame) => {
        const expected = protobufServer(frame as ServerFrame);
        expect(encodeControlMessage(frame, "server")).toEqual(expected);
        expect(decodeControlMessage(expected, "server")).toEqual(slowServer(expected));
      }),
    );
  });

  it("takes no other frame: Open, Cancel, Opened, End, and credits or acks on the server side", () => {
    expect(encodeControlMessage({ type: "cancel", reason: "done" }, "client")).toBeUndefined();
    expect(encodeControlMessage({ type: "end", lastSeq: 1, cursor: new Uint8Array(), sessionItems: 1, sessionBytes: 1 }, "server")).toBeUndefined();
    expect(encodeControlMessage({ type: "credit", maxSeq: 1, maxBytes: 1 }, "server")).toBeUndefined();
    expect(encodeControlMessage({ type: "ack", seq: 1 }, "server")).toBeUndefined();
  });

  it("never reads other bytes differently from protobuf-es: a frame it returns is protobuf-es' (property)", () => {
    // Valid encodings with bytes changed, cut or added, and bytes at random.
    const mutated = mutatedEncodings(clientControl, protobufClient);
    fc.assert(
      fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 40 })), fc.constantFrom("client" as const, "server" as const), (bytes, side) => {
        const fast = decodeControlMessage(bytes, side);
        if (fast === undefined) return;
        expect(fast).toEqual(side === "client" ? slowClient(bytes) : slowServer(bytes));
      }),
      { numRuns: 2_000 },
    );
  });

  it("leaves non-canonical shapes to protobuf-es: a zero written out, fields out of order or twice, a value above 2^53 - 1", () => {
    // Credit{max_seq: 0 written out, max_bytes: 1}.
    expect(decodeControlMessage(Uint8Array.of(0x0a, 0x06, 0x12, 0x04, 0x08, 0x00, 0x10, 0x01), "client")).toBeUndefined();
    // Credit{max_bytes: 1, max_seq: 1}: out of order.
    expect(decodeControlMessage(Uint8Array.of(0x0a, 0x06, 0x12, 0x04, 0x10, 0x01, 0x08, 0x01), "client")).toBeUndefined();
    // Ack{seq: 1, seq: 2}.
    expect(decodeControlMessage(Uint8Array.of(0x0a, 0x06, 0x1a, 0x04, 0x08, 0x01, 0x08, 0x02), "client")).toBeUndefined();
    // Ack{seq: 2^53}: protobuf-es reads it, and the codec's range check names it.
    const big = protobufClient({ type: "ack", seq: 1 });
    const over = toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { frame: { kind: { case: "ack", value: { seq: 2n ** 53n } } } }));
    expect(decodeControlMessage(big, "client")).toEqual({ type: "ack", seq: 1 });
    expect(decodeControlMessage(over, "client")).toBeUndefined();
    expect(() => slowClient(over)).toThrow(/ack\.seq is 9007199254740992, above 2\^53-1/);
  });
});
