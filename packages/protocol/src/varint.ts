/**
 * Protobuf varints for hand encoders (chunk frames here, CallData headers
 * in transport-ws): sizes computed up front so a message is written into
 * one buffer of the exact size. Values are non-negative safe integers;
 * division, not bit shifts, keeps values above 2^31 exact.
 */

/** Bytes of a varint for a non-negative safe integer. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Writes `value` as a varint at `pos`; returns the position after it. */
export function writeVarint(into: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    into[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  into[pos++] = value;
  return pos;
}
