/**
 * Chunk encoding: protobuf-es' toBinary against @sluice/protocol's hand
 * encoder, for a 128 KiB chunk at three item sizes, in the same process.
 *
 *   npm run bench:chunk
 *
 * Three ways to get a SubscribeResponse's bytes:
 * - protobuf-es: create + serverFrameToWire + toBinary (what connect does
 *   with an ordinary response message);
 * - pre-encoded via connect: toBinary of preEncodedChunkResponse, the path
 *   the server takes for binary calls (protobuf-es copies the pre-encoded
 *   field into its own writer);
 * - encodeServerFrame: the hand encoder alone, one sized buffer.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import type { ChunkFrame } from "@sluice/core";
import { encodeServerFrame, preEncodedChunkResponse, serverFrameToWire, SubscribeResponseSchema } from "@sluice/protocol";
import { median, payload, RUNS } from "./bench-common.js";

const CHUNK_BYTES = 128 * 1024;
const REPEATS = 3000;

function microsPerCall(encode: () => Uint8Array): number {
  for (let i = 0; i < REPEATS; i++) encode(); // warm-up
  const samples: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < REPEATS; i++) encode();
    samples.push(Number(process.hrtime.bigint() - start) / REPEATS / 1000);
  }
  return median(samples);
}

const rows = [];
for (const size of [64, 1024, 16 * 1024]) {
  const item = payload(size);
  const frame: ChunkFrame = { type: "chunk", firstSeq: 1_000_001, items: Array.from({ length: CHUNK_BYTES / size }, () => item), cursor: new Uint8Array(8) };
  const canonical = () => toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, { frame: serverFrameToWire(frame) }));
  const viaConnect = () => toBinary(SubscribeResponseSchema, preEncodedChunkResponse(SubscribeResponseSchema, frame)!);
  const direct = () => encodeServerFrame(frame);
  if (Buffer.compare(canonical(), viaConnect()) !== 0 || Buffer.compare(canonical(), direct()) !== 0) throw new Error(`encodings differ at ${size} B`);
  const protobufEs = microsPerCall(canonical);
  const preEncoded = microsPerCall(viaConnect);
  const handOnly = microsPerCall(direct);
  rows.push({
    item: `${size} B × ${CHUNK_BYTES / size}`,
    "protobuf-es µs": protobufEs.toFixed(1),
    "pre-encoded via connect µs": preEncoded.toFixed(1),
    "encodeServerFrame µs": handOnly.toFixed(1),
    "ratio via connect": (protobufEs / preEncoded).toFixed(2),
    "ratio direct": (protobufEs / handOnly).toFixed(2),
  });
  console.error(`chunk encoding: ${size} B items done`);
}
console.table(rows);
console.log(`node ${process.version}, median of ${RUNS} runs of ${REPEATS} chunks of ${CHUNK_BYTES} bytes; ratio = protobuf-es time / other time`);
