/**
 * A source over JSON Lines from any async iterable of bytes (a Node
 * readable: a file, a pipe, an HTTP body; a web ReadableStream), streamed and filtered on the server instead of loaded whole. Items
 * are the raw line bytes (no re-encoding). The cursor is 16 bytes: the byte
 * offset after the line and the item's seq (both big-endian uint64), so a
 * resume reopens the input right there and a cursor that does not match the
 * client's resume.cursor_seq is refused.
 */
import { SluiceError, type JsonObject } from "@sluice/core";
import { invalidCursor, type Source } from "./source.js";

/** The cursor after item `seq`, whose line ends at byte `offset`. */
function lineCursor(offset: number, seq: number): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(offset));
  view.setBigUint64(8, BigInt(seq));
  return bytes;
}

function readLineCursor(cursor: Uint8Array, cursorSeq: number): { offset: number; seq: number } {
  if (cursor.byteLength === 0) return { offset: 0, seq: 0 };
  if (cursor.byteLength !== 16) throw invalidCursor(`a JSON Lines cursor is 16 bytes, got ${cursor.byteLength}`);
  const view = new DataView(cursor.buffer, cursor.byteOffset, 16);
  const offset = view.getBigUint64(0);
  const seq = view.getBigUint64(8);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER) || seq > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidCursor("offset or seq above 2^53-1");
  if (Number(seq) !== cursorSeq) throw invalidCursor(`the cursor is at seq ${seq}, but resume.cursor_seq says ${cursorSeq}`);
  return { offset: Number(offset), seq: Number(seq) };
}

/** The bytes of a JSON Lines input; `destroy` (a Node readable's) is called when the stream ends early or fails. */
export type JsonLinesInput = AsyncIterable<Uint8Array> & {
  /** Releases the input early (a Node readable's destroy()). */
  destroy?(): void;
};

/** How {@link fromJsonLines} opens its input and which records it keeps. */
export interface JsonLinesOptions<P> {
  /** Opens the input at byte `start` (e.g. fs.createReadStream(path, { start })). */
  open(params: P, start: number): JsonLinesInput | Promise<JsonLinesInput>;
  /** Keeps only matching records; parsing happens only when a filter is set. */
  filter?(record: unknown, params: P): boolean;
  /** Lines longer than this fail the stream (a corrupt file must not eat memory). Default 16 MiB. */
  maxLineBytes?: number;
}

const NEWLINE = 0x0a;

/**
 * A resumable source over JSON Lines: one item per non-empty line (its raw
 * bytes), optionally filtered, with a cursor that reopens the input right after
 * the line.
 */
export function fromJsonLines<P = JsonObject>(options: JsonLinesOptions<P>): Source<P> {
  const maxLine = options.maxLineBytes ?? 16 * 1024 * 1024;
  const decoder = new TextDecoder();
  return {
    open(params, cursor, context) {
      // Checked now: a bad cursor refuses the Open (PROTOCOL.md §7.6).
      const start = readLineCursor(cursor, context.cursorSeq);
      return lines(params, start);
    },
  };

  async function* lines(params: P, start: { offset: number; seq: number }) {
    let offset = start.offset;
    let seq = start.seq;
    const input = await options.open(params, offset);
    let carry: Uint8Array | undefined;
    const emit = (line: Uint8Array) => {
      const end = offset + line.byteLength + 1;
      offset = end;
      let bytes = line;
      if (bytes.byteLength > 0 && bytes[bytes.byteLength - 1] === 0x0d) bytes = bytes.subarray(0, -1);
      if (bytes.byteLength === 0) return undefined;
      if (options.filter) {
        let record: unknown;
        try {
          record = JSON.parse(decoder.decode(bytes));
        } catch (error) {
          throw new SluiceError("source_failed", `invalid JSON line ending at byte ${end}: ${(error as Error).message}`, { retryable: false });
        }
        if (!options.filter(record, params)) return undefined;
      }
      return { data: bytes, cursor: lineCursor(end, ++seq) };
    };
    try {
      for await (const piece of input) {
        let chunk = piece;
        if (carry) {
          const joined = new Uint8Array(carry.byteLength + chunk.byteLength);
          joined.set(carry);
          joined.set(chunk, carry.byteLength);
          chunk = joined;
          carry = undefined;
        }
        let start = 0;
        for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
          // Copy the line out of the read buffer so the buffer can be reused.
          const item = emit(chunk.slice(start, nl));
          start = nl + 1;
          if (item) yield item;
        }
        if (start < chunk.byteLength) {
          carry = chunk.subarray(start);
          if (carry.byteLength > maxLine) throw new SluiceError("limit_exceeded", `JSON line longer than ${maxLine} bytes at byte ${offset}`, { retryable: false });
        }
      }
      if (carry && carry.byteLength > 0) {
        const item = emit(carry.slice());
        offset -= 1; // the last line had no newline
        if (item) yield { data: item.data, cursor: lineCursor(offset, seq) };
      }
    } finally {
      input.destroy?.();
    }
  }
}
