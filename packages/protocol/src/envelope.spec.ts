import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EnvelopeReader, encodeEnvelope, ENVELOPE_FLAG_END_STREAM } from "./envelope.js";

const bytes = (...values: number[]) => new Uint8Array(values);

function readAll(reader: EnvelopeReader): { flags: number; data: number[] }[] {
  const out: { flags: number; data: number[] }[] = [];
  for (let e = reader.next(); e; e = reader.next()) out.push({ flags: e.flags, data: [...e.data] });
  return out;
}

describe("EnvelopeReader", () => {
  it("reads envelopes given whole, byte by byte, and with trailing bytes of the next", () => {
    const stream = new Uint8Array([...encodeEnvelope(0, bytes(1, 2, 3)), ...encodeEnvelope(ENVELOPE_FLAG_END_STREAM, bytes(0x7b, 0x7d)), 0, 0]);
    const whole = new EnvelopeReader(1024);
    whole.push(stream);
    expect(readAll(whole)).toEqual([
      { flags: 0, data: [1, 2, 3] },
      { flags: 2, data: [0x7b, 0x7d] },
    ]);
    expect(whole.atBoundary).toBe(false);
    expect(whole.bufferedBytes).toBe(2);
    const byByte = new EnvelopeReader(1024);
    const got: { flags: number; data: number[] }[] = [];
    for (const b of stream) {
      byByte.push(bytes(b));
      got.push(...readAll(byByte));
    }
    expect(got).toEqual([
      { flags: 0, data: [1, 2, 3] },
      { flags: 2, data: [0x7b, 0x7d] },
    ]);
  });

  it("reads an empty message", () => {
    const reader = new EnvelopeReader(10);
    reader.push(encodeEnvelope(0, new Uint8Array()));
    expect(readAll(reader)).toEqual([{ flags: 0, data: [] }]);
    expect(reader.atBoundary).toBe(true);
  });

  it("refuses a length over the limit from the prefix alone, before any of the message arrives", () => {
    const reader = new EnvelopeReader(1024);
    reader.push(bytes(0, 0x7f, 0xff, 0xff, 0xff));
    expect(() => reader.next()).toThrow(/frame of 2147483647 bytes exceeds the max frame size 1024/);
  });

  it("reassembles any split of any sequence of envelopes exactly (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 300 })), { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }), (messages, cuts) => {
        const stream = new Uint8Array(messages.flatMap(([flags, data]) => [...encodeEnvelope(flags, data)]));
        const reader = new EnvelopeReader(300);
        const got: { flags: number; data: number[] }[] = [];
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length]!;
          reader.push(stream.subarray(at, at + n));
          at += n;
          got.push(...readAll(reader));
        }
        expect(got).toEqual(messages.map(([flags, data]) => ({ flags, data: [...data] })));
        expect(reader.atBoundary).toBe(true);
      }),
    );
  });

  it("reassembles a 4 MiB message arriving in 1 KiB pieces with one copy of each byte (linear, not quadratic)", () => {
    const message = new Uint8Array(4 * 1024 * 1024).map((_, i) => i & 0xff);
    const stream = encodeEnvelope(0, message);
    const reader = new EnvelopeReader(8 * 1024 * 1024);
    let got: Uint8Array | undefined;
    for (let at = 0; at < stream.length; at += 1024) {
      reader.push(stream.subarray(at, at + 1024));
      got = reader.next()?.data ?? got;
    }
    expect(got?.byteLength).toBe(message.byteLength);
    expect(got!.every((b, i) => b === (i & 0xff))).toBe(true);
    // The message once, plus the 5-byte prefix, which also straddled a piece boundary here or not.
    expect(reader.copiedBytes).toBeLessThanOrEqual(message.byteLength + 5);
  });

  it("hands out a view, not a copy, when a message arrives in one piece", () => {
    const piece = encodeEnvelope(0, bytes(9, 8, 7));
    const reader = new EnvelopeReader(10);
    reader.push(piece);
    expect(reader.next()!.data.buffer).toBe(piece.buffer);
  });
});
