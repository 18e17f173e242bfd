/**
 * Chunk frames encoded by hand, once, into a buffer of the exact size.
 *
 * protobuf-es' toBinary writes a chunk (up to 128 KiB of items, nested three
 * messages deep) into a growing buffer: it doubles and copies while it grows,
 * shifts the payload at each nested length prefix, then slices the result.
 * Chunks are the one message on the hot path, so they get this encoder;
 * every other frame goes through protobuf-es. Measured by `npm run
 * bench:chunk` (BENCHMARKS.md), per 128 KiB chunk: 16 KiB items 52 µs with
 * protobuf-es, 10 µs with encodeServerFrame; 64 B items 141 / 105 µs.
 * Through connect, which serializes with toBinary and so copies the
 * pre-encoded field into protobuf-es' writer once more, the gain shrinks
 * to 1.0-1.5x.
 *
 * The output is byte-identical to protobuf-es' canonical encoding (fields in
 * number order, proto3 defaults omitted, minimal varints); a property test
 * checks it. It is handed to protobuf-es as an unknown field of the response
 * wrapper, which writes it as is: `$unknown` is part of protobuf-es' message
 * model, so no private API is used.
 */
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { EMPTY_BYTES, type ChunkFrame, type Fragment } from "@sluice/core";
import { allocUninitialised } from "./alloc.js";
import { priorityToWire } from "./priority.js";
import { varintSize, writeVarint } from "./varint.js";

/** SubscribeResponse.frame = 1 (and SubscribeHalfDuplexResponse.frame = 1). */
export const TAG_RESPONSE_FRAME = (1 << 3) | WireType.LengthDelimited;
const TAG_SERVER_FRAME_CHUNK = (2 << 3) | WireType.LengthDelimited; // ServerFrame.chunk = 2
const TAG_FIRST_SEQ = (1 << 3) | WireType.Varint; // Chunk.first_seq = 1
const TAG_ITEM = (2 << 3) | WireType.LengthDelimited; // Chunk.items = 2
const TAG_FRAGMENT = (3 << 3) | WireType.LengthDelimited; // Chunk.fragment = 3
const TAG_CURSOR = (4 << 3) | WireType.LengthDelimited; // Chunk.cursor = 4
const TAG_PRIORITY = (6 << 3) | WireType.Varint; // Chunk.priority = 6
const TAG_TOTAL_BYTES = (1 << 3) | WireType.Varint; // Fragment.total_bytes = 1
const TAG_OFFSET = (2 << 3) | WireType.Varint; // Fragment.offset = 2
const TAG_DATA = (3 << 3) | WireType.LengthDelimited; // Fragment.data = 3

const lengthDelimitedSize = (length: number) => 1 + varintSize(length) + length;
const varintFieldSize = (value: number) => (value === 0 ? 0 : 1 + varintSize(value));

/**
 * `ServerFrame{chunk: frame}` encoded as the value of a length-delimited
 * field: its length prefix, then its bytes; with `fieldTag`, that tag byte
 * first, which makes it a whole wrapper message (0x0a: field 1, as in
 * SubscribeResponse). `headroom` leaves that many bytes free at the front
 * for the caller's own framing (a Connect envelope prefix), so the message
 * goes out as one buffer without another copy. Undefined for a chunk that
 * carries a gap (rare) or subjects (a filtered stream's; the caller encodes those with protobuf-es).
 */
export function encodeChunkFrameField(frame: ChunkFrame, fieldTag?: number, headroom = 0): Uint8Array | undefined {
  if (frame.gap || frame.subjects) return undefined;
  const fragment = frame.fragment;
  let chunkSize = varintFieldSize(frame.firstSeq);
  for (const item of frame.items) chunkSize += lengthDelimitedSize(item.byteLength);
  let fragmentSize = 0;
  if (fragment) {
    fragmentSize = varintFieldSize(fragment.totalBytes) + varintFieldSize(fragment.offset) + (fragment.data.byteLength > 0 ? lengthDelimitedSize(fragment.data.byteLength) : 0);
    chunkSize += lengthDelimitedSize(fragmentSize);
  }
  if (frame.cursor.byteLength > 0) chunkSize += lengthDelimitedSize(frame.cursor.byteLength);
  const priority = priorityToWire(frame.priority);
  chunkSize += varintFieldSize(priority);
  const serverFrameSize = lengthDelimitedSize(chunkSize);
  const lead = headroom + (fieldTag === undefined ? 0 : 1);
  const out = allocUninitialised(lead + varintSize(serverFrameSize) + serverFrameSize);
  if (fieldTag !== undefined) out[headroom] = fieldTag;
  let pos = writeVarint(out, lead, serverFrameSize);
  out[pos++] = TAG_SERVER_FRAME_CHUNK;
  pos = writeVarint(out, pos, chunkSize);
  if (frame.firstSeq !== 0) {
    out[pos++] = TAG_FIRST_SEQ;
    pos = writeVarint(out, pos, frame.firstSeq);
  }
  for (const item of frame.items) {
    out[pos++] = TAG_ITEM;
    pos = writeVarint(out, pos, item.byteLength);
    out.set(item, pos);
    pos += item.byteLength;
  }
  if (fragment) {
    out[pos++] = TAG_FRAGMENT;
    pos = writeVarint(out, pos, fragmentSize);
    if (fragment.totalBytes !== 0) {
      out[pos++] = TAG_TOTAL_BYTES;
      pos = writeVarint(out, pos, fragment.totalBytes);
    }
    if (fragment.offset !== 0) {
      out[pos++] = TAG_OFFSET;
      pos = writeVarint(out, pos, fragment.offset);
    }
    if (fragment.data.byteLength > 0) {
      out[pos++] = TAG_DATA;
      pos = writeVarint(out, pos, fragment.data.byteLength);
      out.set(fragment.data, pos);
      pos += fragment.data.byteLength;
    }
  }
  if (frame.cursor.byteLength > 0) {
    out[pos++] = TAG_CURSOR;
    pos = writeVarint(out, pos, frame.cursor.byteLength);
    out.set(frame.cursor, pos);
    pos += frame.cursor.byteLength;
  }
  if (priority !== 0) {
    out[pos++] = TAG_PRIORITY;
    pos = writeVarint(out, pos, priority);
  }
  if (pos !== out.byteLength) throw new Error(`chunk encoding wrote ${pos} of ${out.byteLength} bytes`);
  return out;
}

/**
 * A response wrapper (SubscribeResponse, SubscribeHalfDuplexResponse: the
 * frame is field 1 of both) carrying the chunk pre-encoded, for binary
 * serialization only: JSON serialization does not see unknown fields.
 * Undefined when the chunk has no fast encoding.
 */
export function preEncodedChunkResponse<Desc extends DescMessage>(schema: Desc, frame: ChunkFrame): MessageShape<Desc> | undefined {
  const data = encodeChunkFrameField(frame);
  if (!data) return undefined;
  const message = create(schema);
  (message as { $unknown?: { no: number; wireType: WireType; data: Uint8Array }[] }).$unknown = [{ no: 1, wireType: WireType.LengthDelimited, data }];
  return message;
}

/**
 * A decoded chunk. A class, not an object literal, and its items array is
 * made by Array.of, not `[]`: V8 pretenures what a literal's allocation
 * site makes once most of it survives scavenges (a burst of chunks queued
 * for a slow app), and a pretenured chunk in the old generation keeps its
 * young items alive through every scavenge until the next mark-compact. A
 * client that had once been behind then promoted every item it received
 * and ran a mark-compact every half second (BENCHMARKS.md, "Latency under
 * load"). Neither a class's instances nor a builtin's arrays are tracked
 * that way.
 */
class DecodedChunk implements ChunkFrame {
  readonly type = "chunk" as const;
  constructor(
    readonly firstSeq: number,
    readonly items: readonly Uint8Array[],
    readonly fragment: Fragment | undefined,
    readonly cursor: Uint8Array,
  ) {}
}

class DecodedFragment implements Fragment {
  constructor(
    readonly totalBytes: number,
    readonly offset: number,
    readonly data: Uint8Array,
  ) {}
}

/** Where a decoder stands: the position after the last value read (kept in one object, reused). */
const at = { pos: 0 };

/** A varint at `at.pos` below 2^53 (at most 8 bytes, minimal); -1 for anything a canonical encoder would not write. */
function readVarint(bytes: Uint8Array, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (at.pos >= end) return -1;
    const byte = bytes[at.pos++]!;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if (byte < 0x80) return (byte === 0 && i > 0) || value > Number.MAX_SAFE_INTEGER ? -1 : value;
  }
  return -1;
}

/** A length prefix at `at.pos` whose bytes fit before `end`: their end, or -1. */
function readLength(bytes: Uint8Array, end: number): number {
  const length = readVarint(bytes, end);
  return length < 0 || at.pos + length > end ? -1 : at.pos + length;
}

/** An optional varint field `tag` at `at.pos`: its value, 0 when absent, -1 when not canonical (a zero written out). */
function optionalVarint(bytes: Uint8Array, tag: number, end: number): number {
  if (at.pos >= end || bytes[at.pos] !== tag) return 0;
  at.pos++;
  const value = readVarint(bytes, end);
  return value === 0 ? -1 : value;
}

/** An optional bytes field `tag` at `at.pos` (a view): empty when absent, undefined when not canonical (empty written out) or cut. */
function optionalBytes(bytes: Uint8Array, tag: number, end: number): Uint8Array | undefined {
  if (at.pos >= end || bytes[at.pos] !== tag) return EMPTY_BYTES;
  at.pos++;
  const fieldEnd = readLength(bytes, end);
  if (fieldEnd < 0 || fieldEnd === at.pos) return undefined;
  const value = bytes.subarray(at.pos, fieldEnd);
  at.pos = fieldEnd;
  return value;
}

/**
 * The chunk in a response wrapper of the shape encodeChunkFrameField writes
 * (`SubscribeResponse{frame: ServerFrame{chunk}}`, canonical: fields in
 * number order, no defaults, minimal varints, no gap, subjects or
 * priority), or undefined: then the caller decodes it with protobuf-es,
 * which also names whatever is wrong with it. The items are views into
 * `bytes`, as protobuf-es' are. A property test checks it against protobuf-es.
 */
export function decodeChunkMessage(bytes: Uint8Array): ChunkFrame | undefined {
  const length = bytes.byteLength;
  if (length < 2 || bytes[0] !== TAG_RESPONSE_FRAME) return undefined;
  at.pos = 1;
  if (readLength(bytes, length) !== length || bytes[at.pos++] !== TAG_SERVER_FRAME_CHUNK) return undefined;
  if (readLength(bytes, length) !== length) return undefined;
  const firstSeq = optionalVarint(bytes, TAG_FIRST_SEQ, length);
  if (firstSeq < 0) return undefined;
  const items: Uint8Array[] = Array.of();
  while (at.pos < length && bytes[at.pos] === TAG_ITEM) {
    at.pos++;
    const end = readLength(bytes, length);
    if (end < 0) return undefined;
    items.push(bytes.subarray(at.pos, end));
    at.pos = end;
  }
  let fragment: Fragment | undefined;
  if (at.pos < length && bytes[at.pos] === TAG_FRAGMENT) {
    if (items.length > 0) return undefined;
    at.pos++;
    const end = readLength(bytes, length);
    if (end < 0) return undefined;
    const totalBytes = optionalVarint(bytes, TAG_TOTAL_BYTES, end);
    const offset = totalBytes < 0 ? -1 : optionalVarint(bytes, TAG_OFFSET, end);
    const data = offset < 0 ? undefined : optionalBytes(bytes, TAG_DATA, end);
    if (!data || at.pos !== end) return undefined;
    fragment = new DecodedFragment(totalBytes, offset, data);
  }
  const cursor = optionalBytes(bytes, TAG_CURSOR, length);
  if (!cursor || at.pos !== length) return undefined;
  return new DecodedChunk(firstSeq, items, fragment, cursor);
}
