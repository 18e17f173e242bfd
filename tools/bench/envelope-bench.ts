/**
 * Reassembling Connect envelopes that arrive in small pieces (issue 14):
 * the old reader joined the held bytes with Buffer.concat on every piece
 * (quadratic in the message size), EnvelopeReader keeps the pieces and joins
 * them once. ms per MiB for 64 KiB and 4 MiB messages in 1 KiB pieces,
 * median of 5 runs.
 *
 *   npm run bench:envelope
 */
import { EnvelopeReader, encodeEnvelope } from "@sluice/protocol";
import { median } from "./bench-common.js";

const PIECE = 1024;

/** The reader before issue 14: concat per piece. */
function concatReader(stream: Uint8Array): number {
  let pending: Buffer | undefined;
  let messages = 0;
  for (let at = 0; at < stream.length; at += PIECE) {
    const chunk = Buffer.from(stream.buffer, stream.byteOffset + at, Math.min(PIECE, stream.length - at));
    let buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    while (buffer.byteLength >= 5) {
      const length = buffer.readUInt32BE(1);
      if (buffer.byteLength < 5 + length) break;
      messages++;
      buffer = buffer.subarray(5 + length);
    }
    if (buffer.byteLength > 0) pending = buffer;
  }
  return messages;
}

function envelopeReader(stream: Uint8Array): number {
  const reader = new EnvelopeReader(16 << 20);
  let messages = 0;
  for (let at = 0; at < stream.length; at += PIECE) {
    reader.push(stream.subarray(at, at + PIECE));
    while (reader.next()) messages++;
  }
  return messages;
}

const rows: string[] = [];
for (const size of [64 * 1024, 4 * 1024 * 1024]) {
  // 16 MiB of messages of this size, back to back.
  const count = (16 * 1024 * 1024) / size;
  const one = encodeEnvelope(0, new Uint8Array(size).fill(7));
  const stream = new Uint8Array(one.length * count);
  for (let i = 0; i < count; i++) stream.set(one, i * one.length);
  const times: Record<string, number[]> = { concat: [], reader: [] };
  for (let run = 0; run < 5; run++) {
    for (const [name, read] of [["concat", concatReader], ["reader", envelopeReader]] as const) {
      const start = performance.now();
      if (read(stream) !== count) throw new Error(`${name}: wrong count`);
      times[name]!.push((performance.now() - start) / 16);
    }
  }
  rows.push(`| ${size / 1024} KiB | ${median(times.concat!).toFixed(2)} (${Math.min(...times.concat!).toFixed(2)}–${Math.max(...times.concat!).toFixed(2)}) | ${median(times.reader!).toFixed(2)} (${Math.min(...times.reader!).toFixed(2)}–${Math.max(...times.reader!).toFixed(2)}) |`);
}
console.log("| message | Buffer.concat per piece, ms/MiB | EnvelopeReader, ms/MiB |\n|---|---:|---:|");
for (const row of rows) console.log(row);
