/**
 * Builds the single-file server: `bundle/sluice-server.mjs`, the CLI with
 * every dependency inlined and the shipped files (the example page in
 * dist/public, the sample data in data/) embedded, so copying that one file
 * to a machine with Node is a deployment: `node sluice-server.mjs --config
 * server.yaml`. Run after `build` (the page comes from dist/public):
 * `npm run bundle -w @sluice/reference-server`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const outfile = join(here, "bundle", "sluice-server.mjs");

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? filesUnder(join(dir, name)) : [join(dir, name)]));
}

const shipped = Object.fromEntries([...filesUnder(join(here, "dist", "public")), ...filesUnder(join(here, "data"))].map((file) => [relative(here, file), readFileSync(file).toString("base64")]));
if (!shipped["dist/public/index.html"]) throw new Error("dist/public is empty: run the build first");

// The stand-in for src/shipped-files.ts: the same four functions, reading the
// embedded files under a packageRoot that exists nowhere on disk, and every
// other path from disk.
const inlineShippedFiles = `
import { accessSync, constants, createReadStream, readFileSync } from "node:fs";
import { access } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "(embedded in sluice-server.mjs)");
const SHIPPED = new Map(Object.entries(${JSON.stringify(shipped)}));
const isShipped = (path) => path.startsWith(packageRoot + sep);
function shippedFile(path) {
  const base64 = SHIPPED.get(relative(packageRoot, path).split(sep).join("/"));
  if (base64 === undefined) throw Object.assign(new Error("ENOENT: no such file embedded in sluice-server.mjs, '" + path + "'"), { code: "ENOENT", path });
  return Buffer.from(base64, "base64");
}
export function readFile(path) { return isShipped(path) ? shippedFile(path) : readFileSync(path); }
export function openFile(path, start) {
  if (!isShipped(path)) return createReadStream(path, { start });
  try { return Readable.from([shippedFile(path).subarray(start)]); } catch (error) { return new Readable({ read() { this.destroy(error); } }); }
}
export async function checkReadable(path) { if (isShipped(path)) shippedFile(path); else await access(path, constants.R_OK); }
export function checkReadableSync(path) { if (isShipped(path)) shippedFile(path); else accessSync(path, constants.R_OK); }
`;

const embedShippedFiles: Plugin = {
  name: "embed-shipped-files",
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]shipped-files\.ts$/ }, () => ({ contents: inlineShippedFiles, loader: "js", resolveDir: join(here, "src") }));
  },
};

await build({
  entryPoints: [join(here, "src", "cli.ts")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  conditions: ["@sluice/source"],
  // Optional native add-ons that pg and ws load only when installed.
  external: ["pg-native", "bufferutil", "utf-8-validate"],
  // The CommonJS dependencies (pg, pino, prom-client) call require() for Node's modules.
  banner: { js: 'import { createRequire as __sluiceCreateRequire } from "node:module"; const require = __sluiceCreateRequire(import.meta.url);' },
  plugins: [embedShippedFiles],
  legalComments: "linked",
  logLevel: "warning",
});
console.log(`single-file server built: ${relative(process.cwd(), outfile)} (${(statSync(outfile).size / 1024 / 1024).toFixed(1)} MiB)`);
