/**
 * The browser bundle budget (issue 6): @sluice/client-web with its
 * dependencies, for a typical import, bundled and minified for browsers,
 * then gzipped, by esbuild and by Vite (Rollup, what most apps ship with).
 * Budget: 50 KB min+gzip (50 000 bytes) of initial load.
 *
 *   npm run bench:bundle
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { build as viteBuild, type Rollup } from "vite";

const BUDGET_BYTES = 50_000;
const entries: Record<string, string> = {
  // What a page typically writes: a client, JSON items, for-await.
  typical: `import { createSluiceClient, json } from "@sluice/client-web";
    const client = createSluiceClient({ baseUrl: location.origin });
    for await (const e of client.subscribe("ticks", { codec: json() })) console.log(e);`,
  // A page that publishes too: the publisher loads on first use (a lazy chunk).
  publishing: `import { createSluiceClient } from "@sluice/client-web";
    const client = createSluiceClient({ baseUrl: location.origin });
    document.body.onclick = () => void client.publish("orders").send({ clicked: Date.now() });`,
  // The same as typical, pinned to WebSocket only.
  websocket: `import { createSluiceClient } from "@sluice/client-web";
    const client = createSluiceClient({ transport: "websocket" });
    for await (const e of client.subscribe("ticks")) console.log(e);`,
};

let over = false;
for (const [name, contents] of Object.entries(entries)) {
  const result = await build({
    stdin: { contents, resolveDir: process.cwd(), loader: "ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    metafile: true,
    // What a page loads first; transport-ws comes as a lazy chunk on first use.
    splitting: true,
    outdir: "out",
    logLevel: "error",
  });
  const outputs = result.metafile.outputs;
  const entryPath = Object.entries(outputs).find(([, output]) => output.entryPoint !== undefined)![0];
  // What the page must load before it runs: the entry and every chunk it
  // imports statically, transitively (dynamic imports load on first use).
  const initial = new Set<string>();
  const visit = (path: string) => {
    if (initial.has(path)) return;
    initial.add(path);
    for (const imported of outputs[path]!.imports) if (imported.kind === "import-statement") visit(imported.path);
  };
  visit(entryPath);
  const sizeOf = (paths: Iterable<string>) => {
    let min = 0;
    let gz = 0;
    for (const path of paths) {
      const file = result.outputFiles.find((f) => f.path.endsWith(path))!;
      min += file.contents.byteLength;
      gz += gzipSync(file.contents, { level: 9 }).byteLength;
    }
    return { min, gz };
  };
  const first = sizeOf(initial);
  const all = sizeOf(Object.keys(outputs).filter((path) => path.endsWith(".js")));
  const gzipped = first.gz;
  const byPackage = new Map<string, number>();
  for (const path of initial) {
    for (const [input, info] of Object.entries(outputs[path]!.inputs)) {
      const short = input.replace(/^.*node_modules\//, "").replace(/^packages\/([^/]+)\/.*/, "@sluice/$1");
      const pkg = short.startsWith("@") ? short.split("/").slice(0, 2).join("/") : short.split("/")[0]!;
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + info.bytesInOutput);
    }
  }
  console.log(`esbuild ${name}: initial load ${first.min} B minified, ${gzipped} B min+gzip (budget ${BUDGET_BYTES} B); all chunks incl. the lazy ones ${all.gz} B min+gzip`);
  for (const [pkg, bytes] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${pkg.padEnd(28)} ${(bytes / 1000).toFixed(1)} KB minified`);
  if (gzipped > BUDGET_BYTES) over = true;
}
// Vite (Rollup) splits at the statement level: code that only a dynamic
// import reaches stays in its lazy chunk even when a package's index
// re-exports it (esbuild puts every file a statically reached index
// re-exports, and that any entry uses, in the initial chunk).
const root = mkdtempSync(join(tmpdir(), "sluice-vite-"));
mkdirSync(join(root, "src"));
symlinkSync(join(process.cwd(), "node_modules"), join(root, "node_modules"));
for (const [name, contents] of Object.entries(entries)) {
  writeFileSync(join(root, "src", `${name}.ts`), contents);
  const result = (await viteBuild({
    root,
    configFile: false,
    logLevel: "error",
    build: { write: false, target: "es2022", minify: "esbuild", modulePreload: false, rollupOptions: { input: join(root, "src", `${name}.ts`), preserveEntrySignatures: false } },
  })) as Rollup.RollupOutput;
  const chunks = new Map(result.output.filter((o): o is Rollup.OutputChunk => o.type === "chunk").map((o) => [o.fileName, o]));
  const entry = [...chunks.values()].find((c) => c.isEntry)!;
  const initial = new Set<string>();
  const visit = (file: string) => {
    if (initial.has(file)) return;
    initial.add(file);
    for (const imported of chunks.get(file)!.imports) visit(imported);
  };
  visit(entry.fileName);
  const size = (files: Iterable<string>) => [...files].reduce((sum, file) => ({ min: sum.min + chunks.get(file)!.code.length, gz: sum.gz + gzipSync(chunks.get(file)!.code, { level: 9 }).byteLength }), { min: 0, gz: 0 });
  const first = size(initial);
  const lazy = [...chunks.keys()].filter((file) => !initial.has(file)).map((file) => `${file.replace(/^assets\//, "").replace(/-[\w-]{8}\.js$/, "")} ${size([file]).gz} B`);
  console.log(`vite ${name}: initial load ${first.min} B minified, ${first.gz} B min+gzip (budget ${BUDGET_BYTES} B); lazy chunks, min+gzip: ${lazy.join(", ") || "none"}`);
  if (first.gz > BUDGET_BYTES) over = true;
}
rmSync(root, { recursive: true, force: true });
if (over) {
  console.error("over budget");
  process.exit(1);
}
