import { create, toBinary } from "@bufbuild/protobuf";
import { ERROR_CODES, SluiceError, type IngestFrame, type PublishFrame } from "@sluice/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PublishRequestSchema, PublishResponseSchema, type ThrottleState } from "./gen/sluice/v1/service_pb.js";
import { Priority } from "./gen/sluice/v1/frames_pb.js";
import { decodeIngestFrame, decodePublishFrame, encodeIngestFrame, encodePublishFrame } from "./publish-codec.js";

const MAX = 4 * 1024 * 1024;
const seq = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const bytes = fc.uint8Array({ maxLength: 64 });
const limits = fc.record({ maxFrameBytes: fc.nat(), maxItemBytes: fc.nat(), maxWindowItems: fc.nat(), maxWindowBytes: seq, heartbeatIntervalMs: fc.nat(), heartbeatTimeoutMs: fc.nat() });

/** A chunk's priority as core has it: absent means NORMAL (2), which the wire does not carry. */
const priority = fc.constantFrom(undefined, 0 as const, 1 as const, 3 as const);

const publishFrame: fc.Arbitrary<PublishFrame> = fc.oneof(
  fc.record({ type: fc.constant("publish_open" as const), stream: fc.string(), publisherId: fc.string(), resumeAfterSeq: seq, heartbeatIntervalMs: fc.nat() }),
  fc.record({ type: fc.constant("chunk" as const), firstSeq: seq, items: fc.array(bytes, { maxLength: 20 }), cursor: bytes, fragment: fc.constant(undefined), gap: fc.constant(undefined), priority }),
  fc.record({ type: fc.constant("chunk" as const), firstSeq: seq, items: fc.constant([]), cursor: bytes, fragment: fc.record({ totalBytes: seq, offset: seq, data: bytes }), gap: fc.constant(undefined), priority }),
  fc.record({ type: fc.constant("heartbeat" as const), ping: seq, pong: seq }),
  fc.record({ type: fc.constant("end" as const), lastSeq: seq, cursor: bytes, sessionItems: seq, sessionBytes: seq }),
  fc.record({ type: fc.constant("cancel" as const), reason: fc.string() }),
);

const ingestFrame: fc.Arbitrary<IngestFrame> = fc.oneof(
  fc.record({ type: fc.constant("opened" as const), sessionId: fc.string(), sessionSecret: bytes, nextSeq: seq, limits, contentType: fc.string(), resume: fc.constant(undefined), window: fc.record({ items: fc.nat(), bytes: seq }) }),
  fc.record({ type: fc.constant("credit" as const), maxSeq: seq, maxBytes: seq }),
  fc.record({ type: fc.constant("publish_ack" as const), seq, deadLetters: fc.array(fc.oneof(fc.record({ seq, reason: fc.string(), deadLetterTopic: fc.string() }), fc.record({ seq, reason: fc.string(), deadLetterTopic: fc.constant(""), dropped: fc.constant(true) })), { maxLength: 5 }) }),
  fc.record({
    type: fc.constant("publish_ack" as const),
    seq,
    deadLetters: fc.constant([]),
    afterSeq: seq,
    throttle: fc.record({ state: fc.constantFrom("normal" as const, "throttled" as const, "backoff" as const), level: fc.nat(), delayMs: fc.nat() }),
  }),
  fc.record({ type: fc.constant("heartbeat" as const), ping: seq, pong: seq }),
  fc.record({ type: fc.constant("end" as const), lastSeq: seq, cursor: bytes, sessionItems: seq, sessionBytes: seq }),
  fc.record({ type: fc.constant("error" as const), code: fc.constantFrom(...ERROR_CODES), message: fc.string(), retryable: fc.boolean(), retryAfterMs: fc.nat(), field: fc.string() }),
);

describe("publish codec (PROTOCOL.md §3.4)", () => {
  it("round-trips every publish frame (property)", () => {
    fc.assert(
      fc.property(publishFrame, (frame) => {
        expect(decodePublishFrame(encodePublishFrame(frame), MAX)).toEqual(frame);
      }),
    );
  });

  it("round-trips every ingest frame (property)", () => {
    fc.assert(
      fc.property(ingestFrame, (frame) => {
        expect(decodeIngestFrame(encodeIngestFrame(frame), MAX)).toEqual(frame);
      }),
    );
  });

  it("rejects random bytes with a protocol error, never anything else (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (input) => {
        for (const decode of [decodePublishFrame, decodeIngestFrame]) {
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

  it("rejects a frame over the size limit before decoding it, an empty one, and 64-bit values above 2^53-1 naming the field", () => {
    const big = encodePublishFrame({ type: "chunk", firstSeq: 1, items: [new Uint8Array(2_000)], cursor: new Uint8Array() });
    expect(() => decodePublishFrame(big, 1_000)).toThrow(/exceeds the max frame size 1000/);
    expect(() => decodePublishFrame(toBinary(PublishRequestSchema, create(PublishRequestSchema, {})), MAX)).toThrow(/publish request has no kind set/);
    const open = toBinary(PublishRequestSchema, create(PublishRequestSchema, { kind: { case: "open", value: { stream: "s", publisherId: "p", resumeAfterSeq: 2n ** 60n } } }));
    expect(() => decodePublishFrame(open, MAX)).toThrow(/open\.resume_after_seq is 1152921504606846976, above 2\^53-1/);
    const ack = toBinary(PublishResponseSchema, create(PublishResponseSchema, { kind: { case: "ack", value: { seq: 1n, deadLetters: [{ seq: 2n ** 60n }] } } }));
    expect(() => decodeIngestFrame(ack, MAX)).toThrow(/ack\.dead_letters\[0\]\.seq is 1152921504606846976/);
    const throttle = toBinary(PublishResponseSchema, create(PublishResponseSchema, { kind: { case: "ack", value: { seq: 1n, throttle: { state: 9 as ThrottleState, level: 1, delayMs: 5 } } } }));
    expect(() => decodeIngestFrame(throttle, MAX)).toThrow("ack.throttle.state: unknown value 9");
  });

  it("reads a chunk's priority (§3.4 rule 10): NORMAL and UNSPECIFIED are the same, and an unknown value is refused naming the field", () => {
    const chunk = (priority: number) => toBinary(PublishRequestSchema, create(PublishRequestSchema, { kind: { case: "chunk", value: { firstSeq: 1n, items: [new Uint8Array([1])], priority: priority as Priority } } }));
    expect(decodePublishFrame(chunk(Priority.CRITICAL), MAX)).toMatchObject({ type: "chunk", priority: 0 });
    expect(decodePublishFrame(chunk(Priority.LOW), MAX)).toMatchObject({ type: "chunk", priority: 3 });
    expect(decodePublishFrame(chunk(Priority.NORMAL), MAX)).not.toHaveProperty("priority");
    expect(decodePublishFrame(chunk(Priority.UNSPECIFIED), MAX)).not.toHaveProperty("priority");
    expect(() => decodePublishFrame(chunk(7), MAX)).toThrow(expect.objectContaining({ code: "protocol_violation", message: "chunk.priority: unknown priority 7" }));
    // A NORMAL chunk is byte for byte what it was before priorities existed.
    expect(encodePublishFrame({ type: "chunk", firstSeq: 1, items: [new Uint8Array([1])], cursor: new Uint8Array(), priority: 2 })).toEqual(encodePublishFrame({ type: "chunk", firstSeq: 1, items: [new Uint8Array([1])], cursor: new Uint8Array() }));
  });
});
