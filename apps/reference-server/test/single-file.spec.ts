/**
 * The single-file build (bundle/sluice-server.mjs, from bundle.ts) copied
 * alone into an empty directory, with no node_modules above it: the embedded
 * defaults with the example page and the sample data, a config of the user's
 * own, `validate`, and the README's systemd unit, run as systemd would run it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSluiceClient } from "@sluice/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { startCli } from "./start-cli.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const bundle = join(root, "bundle", "sluice-server.mjs");
const work = mkdtempSync(join(tmpdir(), "sluice-single-"));
const alone = join(work, "opt", "sluice", "sluice-server.mjs");
mkdirSync(dirname(alone), { recursive: true });
copyFileSync(bundle, alone);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** No package a bare import could resolve from: the file must carry everything. */
function nodeModulesAbove(dir: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(join(at, "node_modules"))) return at;
    if (dirname(at) === at) return undefined;
  }
}

async function collect<T>(events: AsyncIterable<{ kind: string; value?: unknown }>): Promise<T[]> {
  const values: T[] = [];
  for await (const event of events) if (event.kind === "item") values.push(event.value as T);
  return values;
}

describe("sluice-server.mjs, one file copied alone", () => {
  it("has no node_modules to lean on where it is copied", () => {
    expect(nodeModulesAbove(dirname(alone))).toBeUndefined();
  });

  it("serves the embedded defaults: the example page, the sample data and the generators, over HTTP/2 and WebSocket", async () => {
    const server = await startCli([], {}, { script: alone, cwd: work });
    try {
      const page = await fetch(`${server.url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("<script");
      const script = await fetch(`${server.url}/main.js`);
      expect(script.status).toBe(200);
      expect((await script.arrayBuffer()).byteLength).toBe(readFileSync(join(root, "dist", "public", "main.js")).byteLength);
      expect(await (await fetch(`${server.url}/readyz`)).text()).toBe("ready\n");

      const http2 = createSluiceClient({ baseUrl: server.url });
      const poetry = await collect<{ genre: string }>(http2.subscribe("books", { params: { genre: "poetry" } }));
      expect(poetry).toHaveLength(310); // every poetry row of data/books.jsonl, embedded in the file
      expect(new Set(poetry.map((b) => b.genre))).toEqual(new Set(["poetry"]));
      http2.close();

      const websocket = createSluiceClient({ baseUrl: server.url, transport: "websocket" });
      const numbers = await collect<{ seq: number }>(websocket.subscribe("numbers", { params: { count: 2_000 } }));
      expect(numbers.map((n) => n.seq)).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
      websocket.close();
    } finally {
      server.child.kill("SIGKILL");
    }
  }, 60_000);

  it("validates and serves a config of the user's own, with a JSON Lines file beside it", async () => {
    const dir = join(work, "etc");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "rows.jsonl"), Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: i })).join("\n") + "\n");
    writeFileSync(join(dir, "server.yaml"), ["streams:", "  rows:", "    source: { type: jsonl, path: rows.jsonl }"].join("\n"));
    const valid = spawnSync(process.execPath, [alone, "validate", join(dir, "server.yaml")], { encoding: "utf8" });
    expect(valid.stdout).toBe(`${join(dir, "server.yaml")}: valid (1 streams: rows)\n`);
    expect(valid.status).toBe(0);
    writeFileSync(join(dir, "broken.yaml"), ["streams:", "  rows:", "    source: { type: jsonl, path: nowhere.jsonl }"].join("\n"));
    const invalid = spawnSync(process.execPath, [alone, "validate", join(dir, "broken.yaml")], { encoding: "utf8" });
    expect(invalid.stderr).toContain(`streams.rows.source.path: cannot read ${join(dir, "nowhere.jsonl")} (ENOENT)`);
    expect(invalid.status).toBe(1);

    const server = await startCli(["--config", join(dir, "server.yaml")], {}, { script: alone, cwd: work });
    try {
      const client = createSluiceClient({ baseUrl: server.url });
      expect((await collect<{ id: number }>(client.subscribe("rows"))).map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      client.close();
    } finally {
      server.child.kill("SIGKILL");
    }
  }, 60_000);

  describe("the README's systemd unit", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const unit = /```ini\n([\s\S]*?)```/.exec(readme)![1]!;
    const directive = (name: string) => [...unit.matchAll(new RegExp(`^${name}=(.*)$`, "gm"))].map((m) => m[1]!);
    const etc = join(work, "etc", "sluice");
    /** The unit's command line with /opt/sluice and /etc/sluice moved under the test's directory. */
    const moved = (line: string) => line.replaceAll("/opt/sluice/", `${dirname(alone)}/`).replaceAll("/etc/sluice/", `${etc}/`).split(" ");

    it("passes systemd-analyze verify without a warning", () => {
      const file = join(work, "sluice-server.service");
      writeFileSync(file, unit);
      const result = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
      expect(result.error, "systemd-analyze (Debian package systemd) is needed for this test").toBeUndefined();
      expect(result.stderr.split("\n").filter((line) => line.includes("sluice-server.service"))).toEqual([]);
      expect(result.status).toBe(0);
    });

    it("runs as its ExecStartPre and ExecStart lines say, and stops within TimeoutStopSec on its KillSignal", async () => {
      mkdirSync(etc, { recursive: true });
      writeFileSync(join(etc, "server.yaml"), ["server: { shutdownGraceMs: 2000 }", "streams:", "  ticks:", "    source: { type: generator, ratePerSecond: 50, itemBytes: 64 }"].join("\n"));
      const [pre] = directive("ExecStartPre").map(moved);
      expect(pre![0]).toBe("/usr/bin/node");
      execFileSync(pre![0]!, pre!.slice(1));
      const [start] = directive("ExecStart").map(moved);
      expect(start![0]).toBe("/usr/bin/node");
      expect(start![1]).toBe(alone);
      const env = Object.fromEntries(directive("Environment").map((e) => e.split("=") as [string, string]));
      const server = await startCli(start!.slice(2), env, { script: start![1]!, cwd: work });
      const client = createSluiceClient({ baseUrl: server.url });
      const ticks = await collect<{ seq: number }>(client.subscribe("ticks", { params: { count: 5 } }));
      expect(ticks).toHaveLength(5);
      client.close();
      const signal = directive("KillSignal")[0] as NodeJS.Signals;
      const timeoutMs = Number(directive("TimeoutStopSec")[0]) * 1000;
      const stoppedAt = Date.now();
      const exit = new Promise<number | null>((resolve) => server.child.once("exit", resolve));
      server.child.kill(signal);
      expect(await exit).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(timeoutMs / 2);
    }, 60_000);
  });
});
