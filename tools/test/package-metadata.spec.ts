/** Every package says what it is and under which licence (issue 16): the root LICENSE is Apache-2.0, and every package.json names it. */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const manifests = [
  "package.json",
  "tools/package.json",
  ...["packages", "apps"].flatMap((dir) => readdirSync(join(root, dir)).filter((f) => existsSync(join(root, dir, f, "package.json"))).map((f) => `${dir}/${f}/package.json`)),
];

it("has an Apache-2.0 LICENSE and a CHANGELOG", () => {
  expect(readFileSync(join(root, "LICENSE"), "utf8")).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
  expect(existsSync(join(root, "CHANGELOG.md"))).toBe(true);
});

it.each(manifests)("%s names its licence, describes itself, states its engines, and shares the one version", (file) => {
  const json = JSON.parse(readFileSync(join(root, file), "utf8"));
  expect(json.license).toBe("Apache-2.0");
  expect(json.description?.length).toBeGreaterThan(10);
  expect(json.engines?.node).toBe(">=20.19");
  if (file !== "package.json") expect(json.version).toBe("0.1.0");
  if (!json.private) expect(json.keywords).toContain("sluice");
});
