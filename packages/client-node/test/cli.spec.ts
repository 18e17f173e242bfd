/** The `sluice` command (src/cli.ts) against a real server on 127.0.0.1: tail a finite and a live stream, as text and JSON, on HTTP and WebSocket; errors and exit codes. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { SluiceServer, Topic, fromIterable, listen, type Listening } from "@sluice/server-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const cli = join(import.meta.dirname, "..", "src", "cli.ts");
let server: Listening;
let publisher: ReturnType<typeof setInterval>;

beforeAll(async () => {
  const ticks = new Topic("ticks");
  publisher = setInterval(() => ticks.publish(new TextEncoder().encode(JSON.stringify({ at: Date.now() }))), 10);
  const sluice = new SluiceServer({
    streams: {
      numbers: { source: fromIterable((p: { count?: number }) => Array.from({ length: p.count ?? 10 }, (_, i) => ({ n: i }))) },
      ticks: { topic: ticks },
    },
  });
  server = await listen(sluice, { port: 0 });
});

afterAll(async () => {
  clearInterval(publisher);
  await server.close();
});

function sluice(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--conditions=@sluice/source", "--import", "tsx", cli, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FORCE_COLOR: "0" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.each(["http", "websocket"])("sluice tail over %s", (transport) => {
  it("prints every item of a finite stream, seq and text, and exits 0 at its end", async () => {
    const result = await sluice("tail", server.url, "numbers", "--params", '{"count":3}', "--transport", transport);
    expect(result).toEqual({ code: 0, stdout: '1\t{"n":0}\n2\t{"n":1}\n3\t{"n":2}\n', stderr: "" });
  });

  it("starts at --from SEQ", async () => {
    const result = await sluice("tail", server.url, "numbers", "--params", '{"count":10}', "--from", "8", "--transport", transport);
    expect(result).toEqual({ code: 0, stdout: '8\t{"n":7}\n9\t{"n":8}\n10\t{"n":9}\n', stderr: "" });
  });

  it("stops a live stream after --count items, one JSON object per line with --json", async () => {
    const result = await sluice("tail", server.url, "ticks", "--count", "4", "--json", "--transport", transport);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split("\n").map((l) => JSON.parse(l) as { seq: number; item: { at: number } });
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(typeof line.item.at).toBe("number");
    expect(lines.map((l) => l.seq - lines[0]!.seq)).toEqual([0, 1, 2, 3]);
  });
});

describe("sluice errors", () => {
  it("names the stream and the server's error, and exits 1", async () => {
    const result = await sluice("tail", server.url, "nope");
    expect(result).toEqual({ code: 1, stdout: "", stderr: "sluice: nope: stream_not_found: stream not configured: nope\n" });
  });

  it("refuses bad arguments with exit 2 and the usage", async () => {
    expect((await sluice("tail", server.url, "numbers", "--params", "{nope")).stderr).toMatch(/^sluice: --params is not JSON: /);
    expect(await sluice("tail", server.url, "numbers", "--from", "0")).toEqual({ code: 2, stdout: "", stderr: "sluice: --from must be a seq (an integer from 1), got 0\n" });
    const usage = await sluice("tail");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("sluice tail URL STREAM");
  });

  it("says when a server does not list its streams", async () => {
    const result = await sluice("streams", server.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/answered 404 \(not a server that lists its streams: GET \/streams\)/);
  });
});
