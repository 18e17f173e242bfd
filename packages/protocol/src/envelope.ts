/**
 * Connect's envelopes (connectrpc.com/docs/protocol, "Streaming"): each
 * message on a streaming call is flags (1 byte) + length (4 bytes,
 * big-endian) + message; the response ends with an envelope flagged
 * end-stream (0x02) holding JSON `{}` or `{"error": {...}}`.
 *
 * The reader is incremental and bounded (like connect-es `protocol/envelope.ts`):
 * it checks the length against the limit before waiting for
 * the bytes, and keeps the pieces of a message as a list until it is whole,
 * so a large message arriving in many small pieces costs one copy, not one
 * per piece (the quadratic `Buffer.concat` per piece it replaces took 43.8
 * ms/MiB for 4 MiB messages against 4.5 for 64 KiB ones).
 */
import { Queue, SluiceError } from "@sluice/core";
import { allocUninitialised } from "./alloc.js";

/** Size of the prefix: flags (1 byte) and length (4 bytes, big-endian). */
export const ENVELOPE_PREFIX_BYTES = 5;
/** Flag of a compressed message (only when a compression was negotiated). */
export const ENVELOPE_FLAG_COMPRESSED = 0x01;
/** Flag of the envelope that ends a response stream (its message is JSON). */
export const ENVELOPE_FLAG_END_STREAM = 0x02;

/** One enveloped message as read from a stream. */
export interface Envelope {
  /** The flags byte (see the ENVELOPE_FLAG_* constants). */
  readonly flags: number;
  /** The message bytes, without the prefix. */
  readonly data: Uint8Array;
}

/** One envelope: prefix and message in one buffer. */
export function encodeEnvelope(flags: number, message: Uint8Array): Uint8Array {
  const out = allocUninitialised(ENVELOPE_PREFIX_BYTES + message.byteLength);
  writeEnvelopePrefix(out, flags, message.byteLength);
  out.set(message, ENVELOPE_PREFIX_BYTES);
  return out;
}

/** Writes the 5-byte prefix at the start of `out` (for encoders that leave headroom). */
export function writeEnvelopePrefix(out: Uint8Array, flags: number, length: number): void {
  out[0] = flags;
  out[1] = length >>> 24;
  out[2] = (length >>> 16) & 0xff;
  out[3] = (length >>> 8) & 0xff;
  out[4] = length & 0xff;
}

/**
 * Reassembles envelopes from the byte pieces of a stream. `push` a piece,
 * then take whole envelopes with `next()` until it returns undefined. A
 * length above `maxMessageBytes` throws (limit_exceeded, blame: remote,
 * unless the constructor says otherwise) as soon as the prefix is complete.
 */
export class EnvelopeReader {
  /** Largest message length accepted; a longer prefix throws limit_exceeded. */
  readonly maxMessageBytes: number;
  readonly #pieces = new Queue<Uint8Array>();
  /** Offset into the oldest piece of the first unread byte. */
  #offset = 0;
  #buffered = 0;
  /** The prefix of the envelope being assembled, once read. */
  #flags = -1;
  #length = 0;
  #copied = 0;

  readonly #tooLong: (length: number, max: number) => SluiceError;

  /**
   * `tooLong` makes the error for a prefix over the limit: by default
   * limit_exceeded (a peer sending more than this side accepts); a client
   * reading a server calls it a protocol violation instead.
   */
  constructor(maxMessageBytes: number, tooLong?: (length: number, max: number) => SluiceError) {
    this.maxMessageBytes = maxMessageBytes;
    this.#tooLong = tooLong ?? ((length, max) => new SluiceError("limit_exceeded", `frame of ${length} bytes exceeds the max frame size ${max}`, { blame: "remote" }));
  }

  /** Bytes held that are not yet part of a returned envelope. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Bytes copied so far to join pieces (each byte at most once: reassembly is linear). */
  get copiedBytes(): number {
    return this.#copied;
  }

  /** Bytes of the partial envelope held, its prefix included (0 at a boundary). */
  get partialBytes(): number {
    return this.#buffered + (this.#flags < 0 ? 0 : ENVELOPE_PREFIX_BYTES);
  }

  /** Whether the stream may end here (no partial envelope held). */
  get atBoundary(): boolean {
    return this.#buffered === 0 && this.#flags < 0;
  }

  /** Adds the next piece of the stream's bytes. */
  push(piece: Uint8Array): void {
    if (piece.byteLength === 0) return;
    this.#pieces.push(piece);
    this.#buffered += piece.byteLength;
  }

  /**
   * The next whole envelope, or undefined until more bytes arrive. Throws
   * limit_exceeded as soon as a prefix announces a message over
   * `maxMessageBytes`.
   */
  next(): Envelope | undefined {
    if (this.#flags < 0) {
      if (this.#buffered < ENVELOPE_PREFIX_BYTES) return undefined;
      const prefix = this.#take(ENVELOPE_PREFIX_BYTES);
      const length = ((prefix[1]! << 24) | (prefix[2]! << 16) | (prefix[3]! << 8) | prefix[4]!) >>> 0;
      if (length > this.maxMessageBytes) throw this.#tooLong(length, this.maxMessageBytes);
      this.#flags = prefix[0]!;
      this.#length = length;
    }
    if (this.#buffered < this.#length) return undefined;
    const envelope = { flags: this.#flags, data: this.#take(this.#length) };
    this.#flags = -1;
    return envelope;
  }

  /** Takes `n` buffered bytes: a view when they lie in one piece, else one copy. */
  #take(n: number): Uint8Array {
    this.#buffered -= n;
    const first = this.#pieces.peek()!;
    if (n === 0) return new Uint8Array(0);
    if (first.byteLength - this.#offset >= n) {
      const view = first.subarray(this.#offset, this.#offset + n);
      this.#advance(n);
      return view;
    }
    const out = allocUninitialised(n);
    this.#copied += n;
    let filled = 0;
    while (filled < n) {
      const piece = this.#pieces.peek()!;
      const count = Math.min(piece.byteLength - this.#offset, n - filled);
      out.set(piece.subarray(this.#offset, this.#offset + count), filled);
      filled += count;
      this.#advance(count);
    }
    return out;
  }

  #advance(n: number): void {
    this.#offset += n;
    if (this.#offset < this.#pieces.peek()!.byteLength) return;
    this.#pieces.shift();
    this.#offset = 0;
  }
}
