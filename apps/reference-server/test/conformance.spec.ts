/**
 * The conformance runner against the built reference server: `sluice-conformance`
 * run as a user would, against examples/conformance.yaml, passes every check
 * in every mode and codec; against a server without the conformance streams
 * it fails and exits non-zero.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { startCli } from "./start-cli.js";

const runner = fileURLToPath(new URL("../../../packages/conformance/src/cli.ts", import.meta.url));

function runConformance(url: string, args: string[] = []): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--conditions=@sluice/source", "--import", "tsx", runner, url, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.once("exit", (code) => resolve({ code, lines: output.split("\n").filter(Boolean) }));
  });
}

describe("sluice-conformance", () => {
  it("passes every check against the reference server, in every mode and codec", async () => {
    const server = await startCli(["--config", fileURLToPath(new URL("../examples/conformance.yaml", import.meta.url))]);
    try {
      const { code, lines } = await runConformance(server.url);
      const failures = lines.filter((l) => l.startsWith("FAIL"));
      expect(failures, lines.join("\n")).toEqual([]);
      const checks = lines.filter((l) => l.startsWith("ok  "));
      // One line per check and mode: every mode and codec appears.
      for (const mode of ["http2", "http1.1", "websocket"]) for (const codec of ["binary", "json"]) expect(checks.some((l) => l.includes(` ${mode} `) && l.includes(` ${codec} `)), `${mode}/${codec}`).toBe(true);
      expect(checks.length).toBeGreaterThan(100);
      expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
      expect(code).toBe(0);
    } finally {
      server.child.kill("SIGKILL");
    }
  }, 240_000);

  it("fails, naming what is missing, and exits non-zero against a server without the conformance streams", async () => {
    const server = await startCli([]);
    try {
      const { code, lines } = await runConformance(server.url, ["--mode", "http2", "--codec", "binary", "--only", "streams a finite stream whole"]);
      expect(lines[0]).toMatch(/^FAIL\s+http2\s+binary streams a finite stream whole/);
      expect(lines[1]).toMatch(/refused the Open: stream_not_found: stream not configured: conformance\.items/);
      expect(code).toBe(1);
    } finally {
      server.child.kill("SIGKILL");
    }
  }, 60_000);
});
