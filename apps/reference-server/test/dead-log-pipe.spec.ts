/**
 * A dead log pipe must not wedge the server (issue 14): the built server's
 * stdout and stderr are pipes whose reader goes away (as when the process
 * collecting its logs dies), then clients keep connecting and dropping
 * mid-stream, every one of which logs. The server keeps answering /healthz
 * and serving streams, and SIGTERM still ends it within its grace time.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RawSession } from "@sluice/conformance";
import { createSluiceClient } from "@sluice/client-node";
import { expect, it } from "vitest";
import { cli, startCli } from "./start-cli.js";

const GRACE_MS = 2_000;
const dir = mkdtempSync(join(tmpdir(), "sluice-logpipe-"));
const config = join(dir, "server.yaml");
writeFileSync(config, ["server: { shutdownGraceMs: " + GRACE_MS + " }", "streams:", "  ticks: { source: { type: generator, ratePerSecond: 200, itemBytes: 64 } }"].join("\n"));

async function healthzMs(url: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(new URL("/healthz", url), { signal: AbortSignal.timeout(5_000) });
  await response.text();
  if (response.status !== 200) throw new Error(`/healthz answered ${response.status}`);
  return performance.now() - started;
}

/** Starts the CLI with its stdout and stderr on pipes this test holds; resolves with the URL from the "listening" line. */
async function start(env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string; exited: () => number | null | undefined; exit: Promise<void> }> {
  const child = spawn(process.execPath, [cli, "--config", config], { env: { ...process.env, SLUICE_PORT: "0", LOG_LEVEL: "debug", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) => child.once("exit", (code) => ((exited = code), resolve())));
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`exited with ${code}`)));
    let text = "";
    const onData = (data: Buffer) => {
      text += data.toString();
      const match = /"url":"([^"]+)"/.exec(text);
      if (match) {
        child.stdout!.off("data", onData);
        // Read nothing more: the caller decides whether the reader dies or hangs.
        child.stdout!.pause();
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", onData);
  });
  return { child, url, exited: () => exited, exit };
}

/** Clients that drop mid-stream, on connect-node's path (JSON) and the direct one (binary), half duplex and HTTP/2; /healthz probed meanwhile. */
async function dropClients(url: string, rounds: number): Promise<number[]> {
  const healthz: number[] = [];
  let probing = true;
  const probes = (async () => {
    while (probing) {
      healthz.push(await healthzMs(url));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  for (let round = 0; round < rounds; round++) {
    await Promise.all(
      (["http1.1", "http2"] as const).flatMap((mode) =>
        (["json", "binary"] as const).flatMap((codec) =>
          [0, 1, 2, 3, 4].map(async () => {
            const raw = new RawSession({ baseUrl: url }, mode, codec);
            await raw.open({ type: "open", stream: "ticks", params: {}, window: { items: 100, bytes: 1 << 20 }, heartbeatIntervalMs: 0, clientInfo: "drops-".padEnd(200, "x") });
            await raw.next(5_000);
            raw.close();
          }),
        ),
      ),
    );
  }
  probing = false;
  await probes;
  return healthz;
}

async function stillStreams(url: string): Promise<number> {
  const client = createSluiceClient({ baseUrl: url, transport: "http", httpVersion: "1.1" });
  let items = 0;
  for await (const e of client.subscribe("ticks", { backoff: { maxAttempts: 0 } })) if (e.kind === "item" && ++items === 20) break;
  client.close();
  return items;
}

async function stopsWithinGrace(server: Awaited<ReturnType<typeof start>>): Promise<void> {
  const stopping = performance.now();
  server.child.kill("SIGTERM");
  await Promise.race([server.exit, new Promise((resolve) => setTimeout(resolve, GRACE_MS + 3_000))]);
  const tookMs = performance.now() - stopping;
  expect(server.exited(), `still running ${tookMs.toFixed(0)} ms after SIGTERM`).toBe(0);
  expect(tookMs).toBeLessThan(GRACE_MS + 1_500);
}

it("keeps serving and stops on SIGTERM within its grace when the reader of its stdout and stderr is gone", async () => {
  const server = await start();
  try {
    // The log reader dies: every later write to fd 1 or 2 fails with EPIPE.
    server.child.stdout!.destroy();
    server.child.stderr!.destroy();
    const healthz = await dropClients(server.url, 10);
    expect(server.exited(), "the server is still running").toBeUndefined();
    // Every line after the reader died is dropped, not queued: one per session
    // ended (200), counted as the server notices each client left (the last
    // ones may end after the clients returned, so the count is polled).
    let dropped = 0;
    for (const deadline = performance.now() + 5_000; dropped < 200 && performance.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
      const metrics = await (await fetch(new URL("/metrics", server.url))).text();
      dropped = Number(/^sluice_log_lines_dropped_total (\d+)$/m.exec(metrics)?.[1]);
    }
    expect(dropped).toBeGreaterThanOrEqual(200);
    expect(healthz.length).toBeGreaterThan(3);
    expect(Math.max(...healthz), `/healthz latencies ${healthz.map((ms) => ms.toFixed(0)).join(" ")}`).toBeLessThan(500);
    expect(await stillStreams(server.url)).toBe(20);
    await stopsWithinGrace(server);
  } finally {
    server.child.kill("SIGKILL");
  }
}, 60_000);

it("keeps serving and stops on SIGTERM within its grace when the reader of its logs hangs (the pipe fills)", async () => {
  // A 64 KiB log queue (default 4 MiB), so that this many sessions overflow it.
  const server = await start({ SLUICE_LOG_MAX_QUEUED_BYTES: "65536" });
  try {
    server.child.stderr!.pause();
    // 40 rounds of 20 sessions, a ~400-byte log line each: more than the pipe holds.
    const healthz = await dropClients(server.url, 40);
    expect(server.exited(), "the server is still running").toBeUndefined();
    // The pipe filled: lines were dropped (and counted), not queued without bound or waited for.
    const metrics = await (await fetch(new URL("/metrics", server.url))).text();
    expect(Number(/^sluice_log_lines_dropped_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(Math.max(...healthz), `/healthz latencies ${healthz.map((ms) => ms.toFixed(0)).join(" ")}`).toBeLessThan(500);
    expect(await stillStreams(server.url)).toBe(20);
    await stopsWithinGrace(server);
  } finally {
    server.child.kill("SIGKILL");
  }
}, 90_000);

it("does not report clients that go away mid-call as failures (no stack traces, no warnings)", async () => {
  const server = await startCli(["--config", config], { LOG_LEVEL: "debug" });
  try {
    await dropClients(server.url, 3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ended = server.output.filter((line) => line.includes('"msg":"session ended"'));
    expect(ended.length).toBeGreaterThanOrEqual(60);
    expect(server.output.filter((line) => /handler for rpc|^\s+at |"msg":"call failed"/.test(line))).toEqual([]);
  } finally {
    server.child.kill("SIGKILL");
  }
}, 60_000);
