/**
 * The built CLI end to end: smoke.yaml (every transport, chaos) against a
 * reference server the loadgen starts itself must pass its thresholds; a
 * threshold that fails decides the exit code, as k6's; Ctrl-C stops the
 * load and still writes the JSON and the report.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RunResult } from "../src/results.js";

const root = join(import.meta.dirname, "..");
const cli = join(root, "dist", "cli.js");
const referenceServer = join(root, "..", "reference-server", "dist", "cli.js");

function run(args: string[], { interruptAfterMs }: { interruptAfterMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string; result: RunResult | undefined; html: string | undefined }> {
  const out = mkdtempSync(join(tmpdir(), "sluice-loadgen-"));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args, "--out", out], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const interrupt = interruptAfterMs === undefined ? undefined : setTimeout(() => child.kill("SIGINT"), interruptAfterMs);
    const guard = setTimeout(() => child.kill("SIGKILL"), 150_000);
    child.once("exit", (code) => {
      clearTimeout(guard);
      if (interrupt) clearTimeout(interrupt);
      const files = existsSync(out) ? readdirSync(out) : [];
      const json = files.find((f) => f.endsWith(".json"));
      const html = files.find((f) => f.endsWith(".html"));
      resolve({
        code,
        stdout,
        stderr,
        result: json ? (JSON.parse(readFileSync(join(out, json), "utf8")) as RunResult) : undefined,
        html: html ? readFileSync(join(out, html), "utf8") : undefined,
      });
    });
  });
}

/** A small scenario file of its own, against a reference server the loadgen starts. */
function scenario(extra: string): string {
  const dir = mkdtempSync(join(tmpdir(), "sluice-scenario-"));
  const file = join(dir, "small.yaml");
  writeFileSync(
    file,
    [
      "name: small",
      "servers:",
      `  - { name: a, command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(referenceServer)}, --config, ${JSON.stringify(join(root, "scenarios", "server-memory.yaml"))}], env: { SLUICE_PORT: "{port}", LOG_LEVEL: warn } }`,
      "subscribers: [{ count: 4, stream: load, transports: [http2, websocket] }]",
      "publishers: [{ count: 1, stream: load, rate: 50/s }]",
      extra,
    ].join("\n"),
  );
  return file;
}

describe("sluice-loadgen run", () => {
  it("passes smoke.yaml: every transport, connections cut and frozen, nothing lost, duplicated or reordered", async () => {
    const { code, stdout, stderr, result, html } = await run(["run", join(root, "scenarios", "smoke.yaml"), "--quiet"]);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(result).toBeDefined();
    const r = result!;
    expect(r.passed).toBe(true);
    expect(r.verification).toMatchObject({ lost: 0, duplicated: 0, reordered: 0, seqErrors: 0, contentErrors: 0 });
    expect(r.verification.acked).toBe(r.verification.published);
    expect(r.verification.acked).toBeGreaterThan(5_000);
    // The chaos happened and the clients came back from it.
    expect(r.events.map((e) => e.kind)).toEqual(expect.arrayContaining(["cut", "freeze", "thaw"]));
    expect(r.verification.reconnects).toBeGreaterThan(10);
    expect(r.verification.resumes).toBeGreaterThan(10);
    expect(r.thresholds.every((t) => t.passed)).toBe(true);
    expect(r.latency.publishToDelivery!.count).toBeGreaterThan(100_000);
    expect(r.latency.sourceToDelivery!.count).toBeGreaterThan(1_000);
    expect(r.series.t.length).toBeGreaterThan(25);
    expect(r.series.serverRssMiB.some((v) => v !== null)).toBe(true);
    expect(html).toContain('id="sluice-result"');
    expect(stdout).toMatch(/^PASSED: smoke/m);
  }, 150_000);

  it("exits 1 when a threshold fails, and says which", async () => {
    const { code, stdout, result } = await run(["run", scenario("duration: 3s\nthresholds: ['deliveredPerSecond > 100000000', 'lost == 0']"), "--quiet"]);
    expect(code).toBe(1);
    expect(result!.passed).toBe(false);
    expect(result!.thresholds.map((t) => [t.expression, t.passed])).toEqual([
      ["deliveredPerSecond > 100000000", false],
      ["lost == 0", true],
    ]);
    expect(stdout).toMatch(/✗ deliveredPerSecond > 100000000/);
  }, 60_000);

  it("stops on Ctrl-C and still writes the results and the report, marked interrupted", async () => {
    const { code, result, html } = await run(["run", scenario("duration: 5m"), "--quiet"], { interruptAfterMs: 4_000 });
    expect(code).toBe(0);
    expect(result!.interrupted).toBe(true);
    expect(result!.scenario.durationSeconds).toBeLessThan(30);
    expect(result!.verification).toMatchObject({ lost: 0, duplicated: 0, reordered: 0 });
    expect(html).toBeDefined();
  }, 60_000);

  it("refuses a scenario with problems, each as path: reason, with exit 2", async () => {
    const { code, stderr } = await run(["run", scenario("duration: soon\nchaos: [{ action: cut }]")]);
    expect(code).toBe(2);
    expect(stderr).toContain('duration: must be a duration such as 500ms, 30s, 5m or 2h, got "soon"');
    expect(stderr).toContain("chaos.0: give at (once) or every (repeatedly), not both or neither");
  });
});
