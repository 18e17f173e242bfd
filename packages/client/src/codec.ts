/**
 * Typed items: how item bytes become values. JSON by default; raw bytes; or a
 * protobuf message schema (@bufbuild/protobuf).
 */
import { fromBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

export interface ItemCodec<T> {
  decode(data: Uint8Array): T;
}

const decoder = new TextDecoder();

export function json<T = unknown>(): ItemCodec<T> {
  return { decode: (data) => JSON.parse(decoder.decode(data)) as T };
}

export function bytes(): ItemCodec<Uint8Array> {
  return { decode: (data) => data };
}

export function protobuf<Desc extends DescMessage>(schema: Desc): ItemCodec<MessageShape<Desc>> {
  return { decode: (data) => fromBinary(schema, data) };
}
