/**
 * The README snippets run (issue 15): every server snippet of the READMEs
 * below is started as written (only its port changed to a free one), and
 * every Node client snippet subscribes to it and must print the 1 000 items
 * and exit by itself. A snippet that stops compiling or working fails here.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, waitForPort } from "@sluice/testing";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const snippets = (file: string) => [...readFileSync(join(root, file), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const serverSnippets = ["README.md", "packages/server/README.md", "packages/server-node/README.md"].map((file) => ({ file, code: snippets(file).find((code) => code.includes("listen(sluice"))! }));
const clientSnippets = ["README.md", "packages/client-node/README.md"].map((file) => ({ file, code: snippets(file).find((code) => code.includes('from "@sluice/client-node"') && code.includes(".subscribe"))! }));
/** client-node's publishing snippet, run against the root README's server (its `ticks` takes publishing). */
const publishSnippet = snippets("packages/client-node/README.md").find((code) => code.includes(".publish<") || code.includes(".publish("))!;

// Snippets are written into the repository (so their imports resolve the workspace packages) under a scratch folder.
const scratch = mkdtempSync(join(root, "tools", "test", ".snippets-"));
afterAll(() => {
  void import("node:fs").then((fs) => fs.rmSync(scratch, { recursive: true, force: true }));
});

function run(name: string, code: string) {
  const file = join(scratch, `${name}.ts`);
  writeFileSync(file, code);
  // No colours: nx forces them, and console.log would colour the numbers it prints.
  const child = spawn(process.execPath, ["--conditions=@sluice/source", "--import", "tsx", file], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe("README snippets", () => {
  it("finds the snippets it runs", () => {
    for (const { file, code } of [...serverSnippets, ...clientSnippets]) expect(code, file).toBeTruthy();
  });

  for (const server of serverSnippets) {
    it(`serves ${server.file}'s server to every Node client snippet`, async () => {
      const port = await freePort();
      const started = run(`server-${server.file.replace(/\W/g, "-")}`, server.code.replaceAll("8080", String(port)));
      try {
        await waitForPort(port, 30_000);
        for (const client of clientSnippets) {
          const ran = run(`client-${client.file.replace(/\W/g, "-")}`, client.code.replaceAll("8080", String(port)));
          const timeout = setTimeout(() => ran.child.kill("SIGKILL"), 30_000);
          const code = await ran.exited;
          clearTimeout(timeout);
          expect(code, `${client.file}'s client exits by itself, 0 (stderr: ${ran.err()})`).toBe(0);
          const lines = ran.out().trim().split("\n");
          expect(lines.length, client.file).toBe(1_000);
          expect(lines[0]).toBe("1 0");
          expect(lines[999]).toBe("1000 999");
        }
      } finally {
        started.child.kill("SIGKILL");
        await started.exited;
      }
    });
  }

  it("publishes with client-node's publishing snippet into the root README's server, each seq once accepted", async () => {
    expect(publishSnippet).toBeTruthy();
    const port = await freePort();
    const started = run("server-publish", serverSnippets[0]!.code.replaceAll("8080", String(port)));
    try {
      await waitForPort(port, 30_000);
      const ran = run("client-publish", publishSnippet.replaceAll("8080", String(port)));
      const timeout = setTimeout(() => ran.child.kill("SIGKILL"), 30_000);
      const code = await ran.exited;
      clearTimeout(timeout);
      expect(code, `the publish snippet exits by itself, 0 (stderr: ${ran.err()})`).toBe(0);
      expect(ran.out().trim().split("\n")).toEqual(["1", "2", "3"]);
    } finally {
      started.child.kill("SIGKILL");
      await started.exited;
    }
  });
});
