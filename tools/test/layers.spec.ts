/**
 * One picture of the layers (issue 15): the diagram in ARCHITECTURE.md, the
 * nx tags in each package.json and the depConstraints in eslint.config.js
 * must say the same, and no package's declared dependencies may point up.
 */
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const diagram = /## Layers[\s\S]*?```\n([\s\S]*?)```/.exec(readFileSync(join(root, "ARCHITECTURE.md"), "utf8"))![1]!;
/** Top first: [tag, package folder names]. */
const stack = diagram
  .trim()
  .split("\n")
  .map((line) => {
    const [, tag, names] = /^(layer:\w+)\s+(.*?)(?:\s{2,}.*)?$/.exec(line)!;
    return [tag!, names!.split(",").map((name) => name.trim().replace(/^apps\//, ""))] as const;
  });
const rank = new Map(stack.map(([tag], i) => [tag, stack.length - i]));

interface Pkg {
  name: string;
  folder: string;
  tag: string;
  deps: string[];
}
const packages: Pkg[] = ["packages", "apps"].flatMap((dir) =>
  readdirSync(join(root, dir))
    .filter((folder) => existsSync(join(root, dir, folder, "package.json")))
    .map((folder) => {
      const json = JSON.parse(readFileSync(join(root, dir, folder, "package.json"), "utf8"));
      return { name: json.name, folder, tag: json.nx.tags[0], deps: Object.keys(json.dependencies ?? {}) };
    }),
);
const byName = new Map(packages.map((p) => [p.name, p]));

// eslint.config.js is ESM with imports of its own; the table is read as text.
const eslintText = readFileSync(join(root, "eslint.config.js"), "utf8");
const constraints = new Map(
  [...eslintText.matchAll(/sourceTag: "(layer:\w+)", onlyDependOnLibsWithTags: \[([^\]]*)\]/g)].map((m) => [m[1]!, [...m[2]!.matchAll(/"(layer:\w+)"/g)].map((t) => t[1]!)]),
);
const besideTheStack = ["layer:testing", "layer:conformance", "layer:tool"];

describe("the layer picture", () => {
  it("names every package under the tag its package.json carries", () => {
    const drawn = new Map(stack.flatMap(([tag, names]) => names.map((name) => [name, tag] as const)));
    for (const pkg of packages.filter((p) => !besideTheStack.includes(p.tag))) {
      expect(drawn.get(pkg.folder), `${pkg.folder} (${pkg.tag}) in ARCHITECTURE.md's diagram`).toBe(pkg.tag);
    }
    expect(drawn.size).toBe(packages.filter((p) => !besideTheStack.includes(p.tag)).length);
  });

  it("is what the lint enforces: each layer may use exactly the layers at or below it (and the test helpers, above driver)", () => {
    for (const [tag] of stack) {
      const allowed = constraints.get(tag)!;
      const stackAllowed = allowed.filter((t) => rank.has(t));
      // Apps never import each other; runtimes only in their tests (a no-restricted-imports rule bans it in src).
      const expected = stack.map(([t]) => t).filter((t) => rank.get(t)! <= rank.get(tag)! && !(t === tag && tag === "layer:app"));
      expect(new Set(stackAllowed), tag).toEqual(new Set(expected));
    }
  });

  it("holds for every package's declared dependencies", () => {
    for (const pkg of packages) {
      for (const dep of pkg.deps.filter((d) => d.startsWith("@sluice/"))) {
        const target = byName.get(dep)!;
        expect(constraints.get(pkg.tag), `${pkg.name} (${pkg.tag}) depends on ${dep} (${target.tag})`).toContain(target.tag);
      }
    }
  });

  it("bans one runtime's src from importing another (runtimes may use each other only in tests)", async () => {
    // The real lint, on a runtime's src and on its test, with the same import.
    const { ESLint } = await import("eslint");
    const eslint = new ESLint({ cwd: root });
    const lint = async (filePath: string) => (await eslint.lintText('import { listen } from "@sluice/server-node";\nexport const serve = listen;\n', { filePath: join(root, filePath) }))[0]!.messages.map((m) => m.message);
    expect(await lint("packages/client-node/src/uses-server.ts")).toEqual([expect.stringMatching(/a runtime's src does not import another runtime \(@sluice\/server-node\)/)]);
    expect(await lint("packages/client-node/test/uses-server.spec.ts")).toEqual([]);
    for (const pkg of packages.filter((p) => p.tag === "layer:runtime")) {
      const runtimeDeps = pkg.deps.filter((d) => byName.get(d)?.tag === "layer:runtime");
      expect(runtimeDeps, `${pkg.name}'s dependencies (devDependencies may hold a runtime)`).toEqual([]);
    }
  });

  it("keeps @sluice/server free of the Node runtime: no connect-node, no ws, no transport-ws", () => {
    expect(byName.get("@sluice/server")!.deps.filter((d) => ["@connectrpc/connect-node", "ws", "@sluice/transport-ws"].includes(d))).toEqual([]);
  });
});
