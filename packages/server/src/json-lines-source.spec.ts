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
    const items = await collect(source.open({}, new Uint8Array(), { signal: new AbortController().signal }));
    expect(items.map((i) => new TextDecoder().decode(i.data))).toEqual(lines);
  });

  it("filters on the server", async () => {
    const items = await collect(source.open({ author: "ann" }, new Uint8Array(), { signal: new AbortController().signal }));
    expect(items.length).toBe(334);
    expect(items.every((i) => JSON.parse(new TextDecoder().decode(i.data)).author === "ann")).toBe(true);
  });

  it("resumes right after the line a cursor names", async () => {
    const all = await collect(source.open({}, new Uint8Array(), { signal: new AbortController().signal }));
    const rest = await collect(source.open({}, all[499]!.cursor!, { signal: new AbortController().signal }));
    expect(rest.map((i) => JSON.parse(new TextDecoder().decode(i.data)).id)).toEqual(Array.from({ length: 500 }, (_, i) => 501 + i));
  });

  it("fails a corrupt line with source_failed naming its position", async () => {
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, '{"a":1}\n{nope\n');
    const broken = fromJsonLines({ open: (_p, start) => createReadStream(bad, { start }), filter: () => true });
    await expect(collect(broken.open({}, new Uint8Array(), { signal: new AbortController().signal }))).rejects.toMatchObject({ code: "source_failed", message: expect.stringMatching(/invalid JSON line ending at byte 14/) });
  });
});
