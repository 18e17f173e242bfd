/**
 * `npm start` (tools/start.mjs): a quiet build, then the server's banner
 * (URL, streams, transports) instead of the build's output, and the server
 * serving. Run with --port 0 so it takes a free port.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

it("prints a short banner, not the build's output, and serves", async () => {
  const root = join(import.meta.dirname, "..", "..");
  const child = spawn(process.execPath, ["tools/start.mjs", "--port", "0"], { cwd: root, stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, FORCE_COLOR: "0" } });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.resume();
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner within 120 s:\n${stderr}`)), 120_000);
      child.stderr.on("data", () => {
        const m = /Sluice reference server: open (http:\/\/127\.0\.0\.1:\d+)\//.exec(stderr);
        if (m && stderr.includes("logs:")) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const lines = stderr.trim().split("\n");
    expect(lines[0]).toBe("Sluice: building the reference server…");
    expect(lines[1]).toMatch(/^Sluice: built in \d+\.\d s$/);
    expect(lines.slice(2, 6)).toEqual([
      `Sluice reference server: open ${url}/`,
      "  streams:    ticks, numbers, books, news, news.dlq",
      `  transports: Connect over HTTP/2 (h2c) and HTTP/1.1 at ${url}, WebSocket at ${url.replace("http", "ws")}/connect`,
      `  logs:       JSON on stdout (LOG_FORMAT=json, LOG_LEVEL=${process.env.LOG_LEVEL ?? "info"}); metrics at ${url}/metrics`,
    ]);
    expect(lines).toHaveLength(6);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  } finally {
    process.kill(-child.pid!, "SIGKILL");
  }
}, 180_000);
