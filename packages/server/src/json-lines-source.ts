/**
 * A source over JSON Lines from a Node readable (a file, a pipe, an HTTP
 * body), streamed and filtered on the server instead of loaded whole. Items
 * are the raw line bytes (no re-encoding); the cursor is the byte offset after
 * the line, so a resume reopens the input right there.
 */
import type { Readable } from "node:stream";
import { SluiceError, type JsonObject } from "@sluice/core";
import { indexCursor, readIndexCursor, type Source } from "./source.js";

export interface JsonLinesOptions<P> {
  /** Opens the input at byte `start` (e.g. fs.createReadStream(path, { start })). */
  open(params: P, start: number): Readable | Promise<Readable>;
  /** Keeps only matching records; parsing happens only when a filter is set. */
  filter?(record: unknown, params: P): boolean;
  /** Lines longer than this fail the stream (a corrupt file must not eat memory). Default 16 MiB. */
  maxLineBytes?: number;
}

const NEWLINE = 0x0a;

export function fromJsonLines<P = JsonObject>(options: JsonLinesOptions<P>): Source<P> {
  const maxLine = options.maxLineBytes ?? 16 * 1024 * 1024;
  const decoder = new TextDecoder();
  return {
    async *open(params, cursor) {
      let offset = readIndexCursor(cursor);
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
        return { data: bytes, cursor: indexCursor(end) };
      };
      try {
        for await (const piece of input as AsyncIterable<Uint8Array>) {
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
          if (item) yield { data: item.data, cursor: indexCursor(offset) };
        }
      } finally {
        input.destroy();
      }
    },
  };
}
