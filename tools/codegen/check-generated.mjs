#!/usr/bin/env node
/**
 * Fails when generated code is stale or the proto breaks its rules:
 *   1. buf lint (STANDARD rules)
 *   2. buf breaking against main (skipped outside a git checkout)
 *   3. buf generate into a temp dir, compared file by file with packages/protocol/src/gen
 *   4. the conformance vectors in proto/vectors/v1 match their definitions
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
const env = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH}` };
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, env, stdio: "inherit" });

function files(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(path));
    else out.push(path);
  }
  return out;
}

run("buf", ["lint"]);
console.log("buf lint: clean");

let hasMain = false;
try {
  execFileSync("git", ["rev-parse", "--verify", "--quiet", "main:proto"], { cwd: root, stdio: "ignore" });
  hasMain = true;
} catch {
  /* no main branch with proto yet */
}
if (hasMain) {
  run("buf", ["breaking", "--against", ".git#branch=main"]);
  console.log("buf breaking against main: compatible");
} else {
  console.log("buf breaking: skipped (no main branch with proto/ in this checkout)");
}

const tmp = mkdtempSync(join(tmpdir(), "sluice-gen-"));
try {
  run("buf", ["generate", "-o", tmp]);
  const committedDir = join(root, "packages", "protocol", "src", "gen");
  const freshDir = join(tmp, "packages", "protocol", "src", "gen");
  const committed = files(committedDir).map((f) => relative(committedDir, f)).sort();
  const fresh = files(freshDir).map((f) => relative(freshDir, f)).sort();
  const stale = [];
  for (const f of new Set([...committed, ...fresh])) {
    const a = committed.includes(f) ? readFileSync(join(committedDir, f), "utf8") : undefined;
    const b = fresh.includes(f) ? readFileSync(join(freshDir, f), "utf8") : undefined;
    if (a !== b) stale.push(f);
  }
  if (stale.length > 0) {
    console.error(`generated code is stale: ${stale.join(", ")}. Run \`npm run codegen\` and commit the result.`);
    process.exit(1);
  }
  console.log(`generated code current (${fresh.length} files)`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

run("node", ["--conditions=@sluice/source", "--import", "tsx", "tools/codegen/write-vectors.ts", "--check"]);
