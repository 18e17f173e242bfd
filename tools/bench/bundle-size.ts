/**
 * The browser bundle budget (issue 6): @sluice/client-web with its
 * dependencies, for a typical import, bundled and minified by esbuild for
 * browsers, then gzipped. Budget: 50 KB min+gzip (50 000 bytes).
 *
 *   npm run bench:bundle
 */
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const BUDGET_BYTES = 50_000;
const entries: Record<string, string> = {
  // What a page typically writes: a client, JSON items, for-await.
  typical: `import { createSluiceClient, json } from "@sluice/client-web";
    const client = createSluiceClient({ baseUrl: location.origin });
    for await (const e of client.subscribe("ticks", { codec: json() })) console.log(e);`,
  // The same, pinned to WebSocket only.
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
  console.log(`${name}: initial load ${first.min} B minified, ${gzipped} B min+gzip (budget ${BUDGET_BYTES} B); all chunks incl. the lazy WebSocket transport ${all.gz} B min+gzip`);
  for (const [pkg, bytes] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${pkg.padEnd(28)} ${(bytes / 1000).toFixed(1)} KB minified`);
  if (gzipped > BUDGET_BYTES) over = true;
}
if (over) {
  console.error("over budget");
  process.exit(1);
}
