/**
 * @sluice/client-web in a real browser: playwright-core drives Debian's
 * Chromium (headless) against a Sluice server on 127.0.0.1, in both modes
 * (connect-web half duplex, and WebSocket).
 *
 * Skips with a loud message when no Chromium is installed; `.ci/run`
 * installs it, so CI never skips.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { findChromium, launchChromium, until } from "@sluice/testing";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Progress } from "./fixtures/page.js";

const CHROMIUM = findChromium("client-web browser tests");

const here = fileURLToPath(new URL(".", import.meta.url));

interface SessionLine {
  stream: string;
  items: number;
  cancelled: boolean;
  disconnected: boolean;
  error?: string;
}

/** The test server in a child process; restartable on the same port. */
class ServerProcess {
  url = "";
  sessions: SessionLine[] = [];
  #child: ChildProcess | undefined;
  constructor(
    readonly pageJs: string,
    readonly exampleDir: string,
  ) {}

  async start(port = 0): Promise<void> {
    const child = spawn(process.execPath, ["--expose-gc", "--conditions=@sluice/source", "--import", "tsx", join(here, "fixtures/server.ts")], {
      env: { ...process.env, PAGE_JS: this.pageJs, EXAMPLE_DIR: this.exampleDir, PORT: String(port) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.#child = child;
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`test server exited (${code})`)));
      lines.on("line", (line) => {
        const message = JSON.parse(line) as { url?: string; session?: SessionLine };
        if (message.url) {
          this.url = message.url;
          resolve();
        }
        if (message.session) this.sessions.push(message.session);
      });
    });
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }
}

describe.skipIf(!CHROMIUM).each(["connect", "websocket"] as const)("client-web in Chromium, %s mode", (transport) => {
  let server: ServerProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-page-"));
    const bundle = await build({ entryPoints: [join(here, "fixtures/page.ts")], bundle: true, format: "esm", platform: "browser", conditions: ["@sluice/source"], write: false, minify: true, logLevel: "error" });
    const pageJs = join(dir, "page.js");
    writeFileSync(pageJs, bundle.outputFiles[0]!.contents);
    spawnSync(process.execPath, ["--import", "tsx", join(here, "../example/build.ts"), join(dir, "example")], { stdio: "inherit" });
    server = new ServerProcess(pageJs, join(dir, "example"));
    await server.start();
    browser = await launchChromium(CHROMIUM!);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const openPage = async () => {
    context = await browser.newContext();
    page = await context.newPage();
    page.on("pageerror", (error) => console.error("page error:", error.message));
    await page.goto(server.url);
    await page.waitForFunction(() => typeof window.sluiceRun === "function");
  };
  const progress = () => page.evaluate(() => window.sluiceProgress) as Promise<Progress | undefined>;
  const serverHeap = async () => Number(await (await fetch(`${server.url}/heap`)).text());

  it("delivers 100 000 items complete and in order", async () => {
    await openPage();
    const result = await page.evaluate((t) => window.sluiceRun({ stream: "numbers", params: { count: 100_000 }, transport: t }), transport);
    expect(result).toMatchObject({ items: 100_000, inOrder: true, lastSeq: 100_000, error: undefined, transport });
    await context.close();
  }, 120_000);

  it("keeps the server's memory within the window bound while the page consumes slowly", async () => {
    await openPage();
    await serverHeap();
    const baseline = await serverHeap();
    const credit = { items: 1_000, bytes: 64 * 1024 };
    // The run never ends; its promise rejects when the context closes.
    page.evaluate(({ t, w }) => window.sluiceRun({ stream: "endless", transport: t, window: w, slowMs: 5 }), { t: transport, w: credit }).catch(() => undefined);
    await until(async () => ((await progress())?.items ?? 0) > 100, 10_000, "the first items");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const growth = (await serverHeap()) - baseline;
    console.log(`${transport}: server heap growth with a slow page: ${(growth / 1024).toFixed(0)} KiB (bound ${(credit.bytes + (1 << 20)) / 1024} KiB)`);
    expect(growth).toBeLessThan(credit.bytes + (1 << 20));
    await context.close();
  }, 60_000);

  it("moves on to the next endpoint of its baseUrl list when its server dies mid-stream, and resumes there, each item once", async () => {
    const second = new ServerProcess(server.pageJs, server.exampleDir);
    await second.start();
    try {
      await openPage();
      const run = page.evaluate(({ t, urls }) => window.sluiceRun({ stream: "numbers", params: { count: 50_000 }, transport: t, window: { items: 2_000, bytes: 256 * 1024 }, baseUrls: urls }), { t: transport, urls: [server.url, second.url] });
      await until(async () => ((await progress())?.items ?? 0) > 5_000, 20_000, "items before the first endpoint dies");
      const port = server.port;
      await server.stop();
      const result = await run;
      expect(result).toMatchObject({ items: 50_000, inOrder: true, lastSeq: 50_000, error: undefined });
      expect(result.states).toContain("resumed");
      // The second endpoint served the rest: its session delivered items.
      await until(() => second.sessions.some((s) => s.stream === "numbers" && s.items > 0), 10_000, "a session on the second endpoint");
      await context.close();
      await server.start(port);
    } finally {
      await second.stop();
    }
  }, 120_000);

  it("resumes after the server restarts mid-stream, each item once", async () => {
    await openPage();
    const run = page.evaluate((t) => window.sluiceRun({ stream: "numbers", params: { count: 50_000 }, transport: t, window: { items: 2_000, bytes: 256 * 1024 } }), transport);
    await until(async () => ((await progress())?.items ?? 0) > 5_000, 20_000, "items before the restart");
    const port = server.port;
    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await server.start(port);
    const result = await run;
    expect(result).toMatchObject({ items: 50_000, inOrder: true, lastSeq: 50_000, error: undefined });
    expect(result.reconnects).toBeGreaterThanOrEqual(1);
    // The page heard the connection states: lost, retried (perhaps more than once while the server was down), resumed, ended.
    expect(result.states.slice(0, 2)).toEqual(["connecting", "open"]);
    expect(result.states).toContain("reconnecting");
    expect(result.states.at(-2)).toBe("resumed");
    expect(result.states.at(-1)).toBe("closed");
    await context.close();
  }, 120_000);

  it("resumes after the browser goes offline and online again", async () => {
    await openPage();
    const run = page.evaluate((t) => window.sluiceRun({ stream: "numbers", params: { count: 30_000 }, transport: t, window: { items: 500, bytes: 64 * 1024 }, slowMs: 0 }), transport);
    await until(async () => ((await progress())?.items ?? 0) > 1_000, 20_000, "items before going offline");
    await context.setOffline(true);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const whileOffline = (await progress())!.items;
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Offline means offline: nothing arrives.
    expect((await progress())!.items).toBe(whileOffline);
    await context.setOffline(false);
    const result = await run;
    console.log(`${transport}: offline at ${whileOffline} items; reconnects ${result.reconnects}`);
    expect(result).toMatchObject({ items: 30_000, inOrder: true, lastSeq: 30_000, error: undefined });
    await context.close();
  }, 120_000);

  it("publishes from the page: every item acked in order and read back by a subscription, once each", async () => {
    await openPage();
    const result = await page.evaluate((t) => window.sluicePublish({ transport: t, count: 2_000 }), transport);
    expect(result.error).toBeUndefined();
    expect(result.seqs).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
    expect(result.received).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
    // connect-web publishes half duplex (PublishBatch calls), WebSocket on one Publish stream.
    expect(result.transport).toBe(transport);
    await context.close();
  }, 60_000);

  it("publishes from the example page's publish box, and says what became of the item", async () => {
    context = await browser.newContext();
    page = await context.newPage();
    await page.goto(`${server.url}/example/`);
    await page.selectOption("#transport", transport);
    await page.fill("#publishStream", "inbox");
    await page.fill("#publishValue", '{"from":"the page"}');
    await page.click("#publish");
    await page.waitForFunction(() => document.getElementById("publishStatus")?.textContent?.startsWith("accepted"), undefined, { timeout: 30_000 });
    expect(await page.textContent("#publishStatus")).toMatch(new RegExp(`^accepted into inbox as the publisher's item 1, in \\d+ ms \\(${transport}\\)$`));
    await page.fill("#publishValue", "{not json");
    await page.click("#publish");
    expect(await page.textContent("#publishStatus")).toMatch(/^item: not JSON: /);
    await page.fill("#publishStream", "numbers");
    await page.fill("#publishValue", "1");
    await page.click("#publish");
    await page.waitForFunction(() => document.getElementById("publishStatus")?.className === "error" && document.getElementById("publishStatus")?.textContent?.startsWith("failed"), undefined, { timeout: 30_000 });
    expect(await page.textContent("#publishStatus")).toBe("failed: stream numbers does not take publishing");
    await context.close();
  }, 60_000);

  it("runs the example page: it shows the items, the transport and the window", async () => {
    context = await browser.newContext();
    page = await context.newPage();
    await page.goto(`${server.url}/example/`);
    await page.fill("#stream", "numbers");
    await page.fill("#params", JSON.stringify({ count: 20_000 }));
    await page.selectOption("#transport", transport);
    await page.click("#start");
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "stream ended", undefined, { timeout: 30_000 });
    expect(await page.textContent("#items")).toBe((20_000).toLocaleString("en-US"));
    expect(await page.textContent("#transportShown")).toBe(transport);
    expect(await page.textContent("#windowShown")).toMatch(/^1,000 items/);
    // The newest rows are the last items of the stream.
    expect(Number(await page.textContent("#latest li:first-child"))).toBeGreaterThan(19_000);
    await context.close();
  }, 60_000);

  it("sends the token on every call: a stream that needs it streams with it and is refused without it", async () => {
    await openPage();
    const withToken = await page.evaluate((t) => window.sluiceRun({ stream: "private", transport: t, token: "sesame" }), transport);
    expect(withToken).toMatchObject({ items: 1_000, inOrder: true, error: undefined });
    const without = await page.evaluate((t) => window.sluiceRun({ stream: "private", transport: t }), transport);
    expect(without.items).toBe(0);
    expect(without.error).toMatch(/missing or wrong token/);
    expect(without.states).toEqual(["connecting", "failed"]);
    await context.close();
  }, 60_000);

  for (const stream of ["ticks", "live"]) {
    it(`${stream}: every live item reaches the page within 250 ms of being made (heartbeat every 10 s)`, async () => {
      await openPage();
      const lags = await page.evaluate(({ s, t }) => window.sluiceLatency({ stream: s, transport: t, count: 40 }), { s: stream, t: transport });
      const sorted = [...lags].sort((a, b) => a - b);
      const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
      console.log(`${stream} in Chromium over ${transport}: p50 ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
      expect(lags).toHaveLength(40);
      expect(p99).toBeLessThan(250);
      await context.close();
    }, 30_000);
  }

  it("cancels the stream on the server when the page closes", async () => {
    await openPage();
    page.evaluate((t) => window.sluiceRun({ stream: "endless", transport: t, window: { items: 100, bytes: 64 * 1024 }, slowMs: 10 }), transport).catch(() => undefined);
    await until(async () => ((await progress())?.items ?? 0) > 20, 10_000, "the first items");
    const endedBefore = server.sessions.filter((s) => s.stream === "endless").length;
    const closedAt = performance.now();
    await page.close();
    await until(() => server.sessions.filter((s) => s.stream === "endless").length > endedBefore, 10_000, "the server to end the session");
    const ended = server.sessions.filter((s) => s.stream === "endless").at(-1)!;
    expect(ended.cancelled || ended.disconnected).toBe(true);
    expect(performance.now() - closedAt).toBeLessThan(5_000);
    await context.close();
  }, 60_000);
});
