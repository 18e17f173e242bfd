/**
 * The packages install as a user would get them (issue 16): every
 * publishable package is packed with `npm pack`, the tarballs are installed
 * together into an empty project outside the workspace (with their real
 * dependencies from the registry), and the README's quick start runs there:
 * the TypeScript server and client with tsx, type-checked by tsc with the
 * README's tsconfig, and the plain JavaScript ones with node.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const PACKAGES = ["core", "protocol", "driver", "transport-ws", "server", "server-node", "topic-nats", "client", "client-node", "client-web", "conformance"];
const APPS = ["reference-server"];
const readme = readFileSync(join(root, "README.md"), "utf8");
const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("## What is here"));
const blocks = (lang: string) => [...quickStart.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!);

const work = mkdtempSync(join(tmpdir(), "sluice-install-"));
const project = join(work, "project");
const npm = (args: string[], cwd: string) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false" } });

beforeAll(() => {
  // dist/ is built by the test target's dependencies (nx ^build), so packing skips prepack's build.
  for (const name of PACKAGES) npm(["pack", "--ignore-scripts", "--pack-destination", work], join(root, "packages", name));
  for (const name of APPS) npm(["pack", "--ignore-scripts", "--pack-destination", work], join(root, "apps", name));
  execFileSync("mkdir", [project]);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "quick-start", private: true, type: "module" }));
  const tarballs = readdirSync(work).filter((f) => f.endsWith(".tgz")).map((f) => join(work, f));
  npm(["install", ...tarballs, "tsx", "typescript@~6.0", "@types/node@20"], project);
}, 240_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Starts `server`, waits for its port, runs `client` to its end; returns the client's output lines and exit code. */
async function runPair(command: string[], server: string, client: string): Promise<{ lines: string[]; code: number | null }> {
  const port = await freePort();
  const ext = command[0] === "node" ? "mjs" : "ts";
  writeFileSync(join(project, `server.${ext}`), server.replaceAll("8080", String(port)));
  writeFileSync(join(project, `client.${ext}`), client.replaceAll("8080", String(port)));
  const env = { ...process.env, FORCE_COLOR: "0", NODE_OPTIONS: "" };
  const exe = (args: string[]) => (args[0] === "node" ? [process.execPath, args.slice(1)] : [join(project, "node_modules", ".bin", args[0]!), args.slice(1)]) as [string, string[]];
  const [serverExe, serverArgs] = exe([...command, `server.${ext}`]);
  // Its own process group: tsx runs the program in a child process, which must go too.
  const serving = spawn(serverExe, serverArgs, { cwd: project, env, stdio: ["ignore", "ignore", "inherit"], detached: true });
  try {
    await waitForPort(port, 30_000);
    const [clientExe, clientArgs] = exe([...command, `client.${ext}`]);
    const running = spawn(clientExe, clientArgs, { cwd: project, env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    running.stdout.on("data", (d) => (out += d));
    const timer = setTimeout(() => running.kill("SIGKILL"), 30_000);
    const code = await new Promise<number | null>((resolve) => running.once("exit", resolve));
    clearTimeout(timer);
    return { lines: out.trim().split("\n"), code };
  } finally {
    process.kill(-serving.pid!, "SIGKILL");
  }
}

describe("the packages installed from their tarballs, outside the workspace", () => {
  it("resolve every @sluice dependency from the tarballs and ship dist/ with types", () => {
    for (const name of PACKAGES) {
      const json = JSON.parse(readFileSync(join(project, "node_modules", "@sluice", name, "package.json"), "utf8"));
      expect(json.version).toBe("0.1.0");
      const main = json.exports["."];
      expect(readdirSync(join(project, "node_modules", "@sluice", name, "dist"))).toContain(main.default.replace("./dist/", ""));
      expect(main.types).toMatch(/^\.\/dist\/.*\.d\.ts$/);
    }
  });

  it("run the README's TypeScript quick start with tsx, and type-check it with the README's tsconfig", async () => {
    const [server, client] = blocks("ts");
    writeFileSync(join(project, "tsconfig.json"), blocks("json")[0]!);
    const { lines, code } = await runPair(["tsx"], server!, client!);
    expect(code).toBe(0);
    expect(lines).toHaveLength(1_000);
    expect(lines[999]).toBe("1000 999");
    // tsc over server.ts and client.ts, and the packages' .d.ts files (skipLibCheck is off).
    execFileSync(join(project, "node_modules", ".bin", "tsc"), ["-p", "."], { cwd: project, encoding: "utf8" });
  }, 120_000);

  it("run the README's plain JavaScript quick start with node", async () => {
    const [server, client] = blocks("js");
    const { lines, code } = await runPair(["node"], server!, client!);
    expect(code).toBe(0);
    expect(lines).toHaveLength(1_000);
    expect(lines[0]).toBe("1 0");
  }, 120_000);

  it("give a working sluice-server bin: the embedded defaults, the page and the sample data from the installed package", async () => {
    const port = await freePort();
    const bin = join(project, "node_modules", ".bin", "sluice-server");
    const serving = spawn(bin, ["--port", String(port)], { cwd: project, env: { ...process.env, NODE_OPTIONS: "" }, stdio: ["ignore", "ignore", "inherit"] });
    try {
      await waitForPort(port, 30_000);
      const url = `http://127.0.0.1:${port}`;
      expect(await (await fetch(`${url}/readyz`)).text()).toBe("ready\n");
      expect((await fetch(`${url}/`)).status).toBe(200);
      const client = `import { createSluiceClient } from "@sluice/client-node";
let n = 0;
for await (const e of createSluiceClient({ baseUrl: "${url}" }).subscribe("books", { params: { genre: "poetry" } })) if (e.kind === "item") n++;
process.stdout.write(String(n));
process.exit(0);`;
      writeFileSync(join(project, "books.mjs"), client);
      expect(execFileSync(process.execPath, ["books.mjs"], { cwd: project, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } }).trim()).toBe("310");
    } finally {
      serving.kill("SIGKILL");
    }
  }, 60_000);
});
