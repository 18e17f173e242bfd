/**
 * Builds the example page into example/dist (index.html + main.js) with
 * esbuild. `npm run example -w @sluice/client-web`.
 */
import { copyFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const out = process.argv[2] ?? `${here}dist`;
mkdirSync(out, { recursive: true });
await build({ entryPoints: [`${here}main.ts`], bundle: true, format: "esm", platform: "browser", target: "es2022", minify: true, conditions: ["@sluice/source"], outfile: `${out}/main.js`, logLevel: "warning" });
copyFileSync(`${here}index.html`, `${out}/index.html`);
console.log(`example page built into ${out}`);
