import { createReadStream, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fromJsonLines } from "./json-lines-source.js";
import type { SourceItem } from "./source.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-jsonl-"));
const file = join(dir, "books.jsonl");
const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ id: i + 1, author: i % 3 === 0 ? "ann" : "bob" }));
writeFileSync(file, lines.join("\n") + "\n");

async function collect(iterable: AsyncIterable<unknown>): Promise<SourceItem[]> {
  const out: SourceItem[] = [];
  for await (const item of iterable) out.push(item as SourceItem);
  return out;
}

describe("fromJsonLines", () => {
  // Small read chunks so lines straddle chunk boundaries.
  const source = fromJsonLines<{ author?: string }>({
    open: (_params, start) => createReadStream(file, { start, highWaterMark: 97 }),
    filter: (record, params) => !params.author || (record as { author: string }).author === params.author,
  });

  it("streams every line as an item, byte for byte", async () => {
    const items = await collect(source.open({}, new Uint8Array(), { signal: new AbortController().signal, cursorSeq: 0 }));
    expect(items.map((i) => new TextDecoder().decode(i.data))).toEqual(lines);
  });

  it("filters on the server", async () => {
    const items = await collect(source.open({ author: "ann" }, new Uint8Array(), { signal: new AbortController().signal, cursorSeq: 0 }));
    expect(items.length).toBe(334);
    expect(items.every((i) => JSON.parse(new TextDecoder().decode(i.data)).author === "ann")).toBe(true);
  });

  it("resumes right after the line a cursor names", async () => {
    const all = await collect(source.open({}, new Uint8Array(), { signal: new AbortController().signal, cursorSeq: 0 }));
    const rest = await collect(source.open({}, all[499]!.cursor!, { signal: new AbortController().signal, cursorSeq: 500 }));
    expect(rest.map((i) => JSON.parse(new TextDecoder().decode(i.data)).id)).toEqual(Array.from({ length: 500 }, (_, i) => 501 + i));
  });

  it("refuses a cursor that is malformed or does not match resume.cursor_seq, as invalid_argument naming resume.cursor", async () => {
    const all = await collect(source.open({ author: "ann" }, new Uint8Array(), { signal: new AbortController().signal, cursorSeq: 0 }));
    // The 100th matching item: its cursor says seq 100.
    // Refused when the source is opened, before any item is read (so before Opened).
    const refusal = (open: () => unknown) => {
      try {
        open();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    expect(refusal(() => source.open({ author: "ann" }, all[99]!.cursor!, { signal: new AbortController().signal, cursorSeq: 6 }))).toMatchObject({ code: "invalid_argument", field: "resume.cursor", retryable: false, message: "resume.cursor: the cursor is at seq 100, but resume.cursor_seq says 6" });
    expect(refusal(() => source.open({}, new Uint8Array([1, 2, 3]), { signal: new AbortController().signal, cursorSeq: 1 }))).toMatchObject({ code: "invalid_argument", field: "resume.cursor", message: "resume.cursor: a JSON Lines cursor is 16 bytes, got 3" });
    const rest = await collect(source.open({ author: "ann" }, all[99]!.cursor!, { signal: new AbortController().signal, cursorSeq: 100 }));
    expect(rest).toHaveLength(all.length - 100);
  });

  it("fails a corrupt line with source_failed naming its position", async () => {
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, '{"a":1}\n{nope\n');
    const broken = fromJsonLines({ open: (_p, start) => createReadStream(bad, { start }), filter: () => true });
    await expect(collect(broken.open({}, new Uint8Array(), { signal: new AbortController().signal, cursorSeq: 0 }))).rejects.toMatchObject({ code: "source_failed", message: expect.stringMatching(/invalid JSON line ending at byte 14/) });
  });
});
