/**
 * Typed items: how item bytes become values. JSON by default; raw bytes; or a
 * protobuf message schema (@bufbuild/protobuf).
 */
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

/** How item bytes become the values the app sees, and values the bytes it publishes. */
export interface ItemCodec<T> {
  /** The value of one item's bytes. */
  decode(data: Uint8Array): T;
  /** One value's item bytes (needed to publish with this codec). */
  encode?(value: T): Uint8Array;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Items as JSON text (UTF-8), parsed: the default. */
export function json<T = unknown>(): ItemCodec<T> {
  return { decode: (data) => JSON.parse(decoder.decode(data)) as T, encode: (value) => encoder.encode(JSON.stringify(value)) };
}

/** Items as their raw bytes. */
export function bytes(): ItemCodec<Uint8Array> {
  return { decode: (data) => data, encode: (value) => value };
}

/** Items as binary protobuf messages of `schema`. */
export function protobuf<Desc extends DescMessage>(schema: Desc): ItemCodec<MessageShape<Desc>> {
  return { decode: (data) => fromBinary(schema, data), encode: (value) => toBinary(schema, value) };
}
