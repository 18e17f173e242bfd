import { create, toBinary } from "@bufbuild/protobuf";
import { ERROR_CODES, SluiceError, type ServerFrame } from "@sluice/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeClientFrame, decodeServerFrame, encodeClientFrame, encodeServerFrame, errorCodeFromWire, errorCodeToWire } from "./codec.js";
import { ErrorCode, ErrorCodeSchema } from "./gen/sluice/v1/errors_pb.js";
import { SubscribeRequestSchema } from "./gen/sluice/v1/service_pb.js";

const MAX = 4 * 1024 * 1024;
const seq = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const bytes = fc.uint8Array({ maxLength: 64 });

const serverFrame: fc.Arbitrary<ServerFrame> = fc.oneof(
  fc.record({ type: fc.constant("chunk" as const), firstSeq: seq, items: fc.array(bytes, { maxLength: 20 }), cursor: bytes, fragment: fc.constant(undefined), gap: fc.option(fc.record({ fromSeq: seq, count: seq, reason: fc.constantFrom("unspecified" as const, "dropped_oldest" as const, "dropped_newest" as const, "history_expired" as const, "restarted" as const) }), { nil: undefined }) }),
  fc.record({ type: fc.constant("chunk" as const), firstSeq: seq, items: fc.constant([]), cursor: bytes, fragment: fc.record({ totalBytes: seq, offset: seq, data: bytes }), gap: fc.constant(undefined) }),
  // A filtered stream's chunk: one subject per item (PROTOCOL.md §7.10).
  fc
    .array(fc.tuple(bytes, fc.string({ minLength: 1, maxLength: 20 })), { minLength: 1, maxLength: 10 })
    .chain((pairs) => fc.record({ type: fc.constant("chunk" as const), firstSeq: seq, items: fc.constant(pairs.map((p) => p[0])), cursor: bytes, fragment: fc.constant(undefined), gap: fc.constant(undefined), subjects: fc.constant(pairs.map((p) => p[1])) })),
  fc.record({ type: fc.constant("heartbeat" as const), ping: seq, pong: seq }),
  fc.record({ type: fc.constant("heartbeat" as const), ping: seq, pong: seq, sentSeq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) }),
  fc.record({ type: fc.constant("end" as const), lastSeq: seq, cursor: bytes, sessionItems: seq, sessionBytes: seq }),
  fc.record({ type: fc.constant("error" as const), code: fc.constantFrom(...ERROR_CODES), message: fc.string(), retryable: fc.boolean(), retryAfterMs: fc.nat(), field: fc.string() }),
  // Opened, with and without the cursor a filtered stream starts from (PROTOCOL.md §7.3).
  fc.record(
    {
      type: fc.constant("opened" as const),
      sessionId: fc.string(),
      sessionSecret: bytes,
      nextSeq: seq,
      limits: fc.record({ maxWindowItems: fc.nat(), maxWindowBytes: seq, heartbeatIntervalMs: fc.nat(), heartbeatTimeoutMs: fc.nat(), maxItemBytes: fc.nat(), maxFrameBytes: fc.nat() }),
      contentType: fc.string(),
      resume: fc.constant(undefined),
      window: fc.record({ items: fc.nat(), bytes: seq }),
      cursor: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    },
    { requiredKeys: ["type", "sessionId", "sessionSecret", "nextSeq", "limits", "contentType", "resume", "window"] },
  ),
);

describe("codec", () => {
  it("has exactly one core error code per proto enum value, in order", () => {
    const wire = ErrorCodeSchema.values.filter((v) => v.number !== 0).map((v) => v.name.replace(/^ERROR_CODE_/, "").toLowerCase());
    expect(wire).toEqual([...ERROR_CODES]);
    for (const code of ERROR_CODES) expect(errorCodeFromWire(errorCodeToWire(code))).toBe(code);
    expect(errorCodeToWire("stream_not_found")).toBe(ErrorCode.STREAM_NOT_FOUND);
  });

  it("round-trips every server frame (property)", () => {
    fc.assert(
      fc.property(serverFrame, (frame) => {
        const decoded = decodeServerFrame(encodeServerFrame(frame), MAX);
        expect(decoded).toEqual(frame.type === "chunk" && frame.cursor.byteLength === 0 ? { ...frame, cursor: new Uint8Array() } : frame);
      }),
      { numRuns: 300 },
    );
  });

  it("round-trips client frames", () => {
    const frames = [
      { type: "open" as const, stream: "books", params: { author: "x", limit: 3, deep: { a: [1, true, null] } }, window: { items: 100, bytes: 65536 }, heartbeatIntervalMs: 1000, clientInfo: "t", resume: { seq: 10, cursor: new Uint8Array([1]), cursorSeq: 8, sessionId: "s" } },
      { type: "credit" as const, maxSeq: 2 ** 53 - 1, maxBytes: 5 },
      { type: "ack" as const, seq: 7 },
      { type: "heartbeat" as const, ping: 1, pong: 0 },
      { type: "cancel" as const, reason: "bye" },
    ];
    for (const frame of frames) expect(decodeClientFrame(encodeClientFrame(frame), MAX)).toEqual(frame);
  });

  it("rejects random bytes with a protocol error, never anything else (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (input) => {
        for (const decode of [decodeClientFrame, decodeServerFrame]) {
          try {
            decode(input, MAX);
          } catch (error) {
            expect(error).toBeInstanceOf(SluiceError);
            expect(["protocol_violation", "invalid_argument"]).toContain((error as SluiceError).code);
          }
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it("rejects truncated frames", () => {
    const full = encodeServerFrame({ type: "chunk", firstSeq: 1, items: [new Uint8Array(100)], cursor: new Uint8Array() });
    for (let cut = 1; cut < full.byteLength; cut++) {
      expect(() => decodeServerFrame(full.subarray(0, cut), MAX)).toThrow(SluiceError);
    }
  });

  it("rejects a frame over the size limit before decoding it", () => {
    const frame = encodeServerFrame({ type: "chunk", firstSeq: 1, items: [new Uint8Array(2000)], cursor: new Uint8Array() });
    expect(() => decodeServerFrame(frame, 1000)).toThrow(/exceeds the max frame size 1000/);
    try {
      decodeServerFrame(frame, 1000);
    } catch (error) {
      expect((error as SluiceError).code).toBe("limit_exceeded");
    }
  });

  it("rejects 64-bit values above 2^53-1 naming the field", () => {
    const wire = toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { frame: { kind: { case: "ack", value: { seq: 2n ** 60n } } } }));
    expect(() => decodeClientFrame(wire, MAX)).toThrow(/ack\.seq is 1152921504606846976, above 2\^53-1/);
  });

  it("rejects a chunk whose subjects do not pair with its items, naming chunk.subjects", () => {
    const frame = (items: number, subjects: string[], fragment?: { totalBytes: number; offset: number; length: number }) =>
      encodeServerFrame({
        type: "chunk",
        firstSeq: 1,
        items: Array.from({ length: items }, () => Uint8Array.of(1)),
        cursor: new Uint8Array(),
        subjects,
        ...(fragment ? { fragment: { totalBytes: fragment.totalBytes, offset: fragment.offset, data: new Uint8Array(fragment.length) } } : {}),
      });
    expect(() => decodeServerFrame(frame(2, ["a"]), MAX)).toThrow(/chunk\.subjects: 1 subjects for 2 items/);
    expect(() => decodeServerFrame(frame(0, ["a"], { totalBytes: 10, offset: 0, length: 4 }), MAX)).toThrow(/a fragment that does not complete its item \(0\)/);
    expect(decodeServerFrame(frame(0, ["a"], { totalBytes: 10, offset: 6, length: 4 }), MAX)).toMatchObject({ subjects: ["a"] });
  });

  it("rejects an empty frame", () => {
    const wire = toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { frame: {} }));
    expect(() => decodeClientFrame(wire, MAX)).toThrow(/no kind set/);
  });
});
