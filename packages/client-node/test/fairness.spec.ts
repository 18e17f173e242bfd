/**
 * Bulk streams must not starve the server (issue 14): while clients pull
 * large streams as fast as they can, a live topic keeps its publishing
 * rate and its latency, and /healthz answers promptly. Sessions share the
 * event loop: each does a bounded amount of work per turn.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";

let child: ChildProcess;
let url = "";
beforeAll(async () => {
  const script = fileURLToPath(new URL("./fixtures/heap-server.ts", import.meta.url));
  child = spawn(process.execPath, ["--expose-gc", "--conditions=@sluice/source", "--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  url = line.toString().trim();
});
afterAll(() => {
  child.kill("SIGTERM");
});

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

it("keeps a live topic's rate and latency, and /healthz prompt, while bulk streams run", async () => {
  // Eight bulk subscribers in another process, pulling a million items at a
  // time with big windows, so that this process only times the server.
  const bulk = spawn(process.execPath, ["--conditions=@sluice/source", "--import", "tsx", fileURLToPath(new URL("./fixtures/bulk-clients.ts", import.meta.url))], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, BULK_URL: url, BULK_STREAMS: "8" } });
  await once(bulk.stdout!, "data");
  await new Promise((resolve) => setTimeout(resolve, 500));
  const published = async () => Number(await (await fetch(`${url}/published`)).text());
  const liveClient = createSluiceClient({ baseUrl: url, transport: "http" });
  const lags: number[] = [];
  const health: number[] = [];
  const startPublished = await published();
  const started = performance.now();
  const probing = (async () => {
    while (performance.now() - started < 3_000) {
      const t = performance.now();
      await (await fetch(`${url}/healthz`)).text();
      health.push(performance.now() - t);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  for await (const e of liveClient.subscribe<{ at: number }>("live")) {
    if (e.kind !== "item") continue;
    lags.push(performance.timeOrigin + performance.now() - e.value.at);
    if (performance.now() - started > 3_000) break;
  }
  await probing;
  const rate = ((await published()) - startPublished) / ((performance.now() - started) / 1000);
  const counted = new Promise<number>((resolve) => bulk.stdout!.once("data", (line: Buffer) => resolve(Number(line.toString()))));
  bulk.kill("SIGTERM");
  const bulkItems = await counted;
  liveClient.close();
  console.log(`under bulk load (${bulkItems} bulk items): live topic ${rate.toFixed(1)} items/s, live lag p50 ${percentile(lags, 0.5).toFixed(1)} ms p99 ${percentile(lags, 0.99).toFixed(1)} ms, /healthz p50 ${percentile(health, 0.5).toFixed(1)} ms max ${Math.max(...health).toFixed(1)} ms`);
  expect(bulkItems).toBeGreaterThan(100_000);
  // The publisher is a 20 ms setInterval: it fires late when a loop turn is long. 8 bulk
  // streams saturate the core; before sessions took turns it published 12-15/s. Measured
  // 38.7-43/s, and 32.6/s on a busier day of this 2-core machine: the bound is twice the starved rate.
  expect(rate).toBeGreaterThan(25);
  expect(percentile(lags, 0.99)).toBeLessThan(150);
  expect(Math.max(...health)).toBeLessThan(150);
}, 60_000);
