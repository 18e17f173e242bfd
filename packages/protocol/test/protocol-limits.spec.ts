/**
 * PROTOCOL.md §10 states the reference implementation's default limits;
 * they must be the ones core uses (DEFAULT_LIMITS), or the spec misleads
 * every implementer who reads it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_LIMITS, type Limits } from "@sluice/core";
import { expect, it } from "vitest";

const spec = readFileSync(join(import.meta.dirname, "..", "..", "..", "PROTOCOL.md"), "utf8");
const section = spec.slice(spec.indexOf("## §10 Limits"), spec.indexOf("\n## ", spec.indexOf("## §10 Limits") + 1));

/** "4 MiB" → 4194304, "65 536" → 65536. */
function valueOf(text: string): number {
  const m = /^([\d ]+)( MiB| KiB)?$/.exec(text.trim())!;
  const n = Number(m[1]!.replaceAll(" ", ""));
  return m[2] === " MiB" ? n * 1024 * 1024 : m[2] === " KiB" ? n * 1024 : n;
}

it("§10's table of default limits is core's DEFAULT_LIMITS", () => {
  // The first table of the section; the second lists the Open's field checks.
  const table = section.slice(section.indexOf("| limit | default |"), section.indexOf("\n\n", section.indexOf("| limit | default |")));
  const rows = Object.fromEntries([...table.matchAll(/^\| `(\w+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, valueOf(m[2]!)]));
  const camel = (snake: string) => snake.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()) as keyof Limits;
  expect(Object.keys(rows).map(camel).sort()).toEqual(Object.keys(DEFAULT_LIMITS).sort());
  for (const [name, value] of Object.entries(rows)) expect(value, name).toBe(DEFAULT_LIMITS[camel(name)]);
});
