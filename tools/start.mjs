// `npm start`: builds the reference server quietly (its output is shown only
// when the build fails), then runs it in this process's place.
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const started = performance.now();
process.stderr.write("Sluice: building the reference server…\n");
const build = spawnSync("npx", ["nx", "run", "@sluice/reference-server:build", "--output-style=static"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
if (build.status !== 0) {
  process.stderr.write(build.stdout + build.stderr);
  process.stderr.write(`Sluice: the build failed (exit ${build.status}); its output is above.\n`);
  process.exit(build.status ?? 1);
}
process.stderr.write(`Sluice: built in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
const server = spawn(process.execPath, ["apps/reference-server/dist/cli.js", ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.kill(signal));
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
