/**
 * The built reference server (dist/cli.js) with its example page at "/",
 * driven in Debian's Chromium through the browser tests' harness
 * (@sluice/testing): the page streams over connect-web (half duplex) and
 * over WebSocket, shows the items, the transport and a live throughput
 * chart, also over TLS (examples/tls.yaml) and with `auto` picking a
 * transport by itself. And a page of its own whose half-duplex session
 * is split across two instances on one NATS (its Control calls land on
 * the instance that does not own it, which forwards them).
 *
 * Skips with a loud message when no Chromium is installed (the split
 * session also when NATS is unreachable); `.ci/run` installs Chromium and
 * starts NATS, so CI never skips.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { build } from "esbuild";
import { findChromium, launchChromium, selfSignedCertificate, startPathProxy, until } from "@sluice/testing";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { counter } from "./split-instances.js";
import { startCli, type StartedCli } from "./start-cli.js";

const CHROMIUM = findChromium("reference-server browser tests");
const examples = fileURLToPath(new URL("../examples", import.meta.url));
const NATS_URL = process.env.SLUICE_NATS_URL ?? "127.0.0.1:4222";
/** Whether NATS answers, for the test of instances on one NATS. */
const NATS_UP = await connect({ servers: NATS_URL, timeout: 2_000 }).then(
  async (nats) => (await nats.close(), true),
  (error: unknown) => {
    console.warn(`\n!!! browser test of Control calls forwarded between instances SKIPPED: NATS at ${NATS_URL} unreachable (${(error as Error).message}); .ci/run starts it !!!\n`);
    return false;
  },
);

/** Fills the page's form, starts the stream and returns once the page says "stream ended". */
async function runOnPage(page: Page, options: { stream: string; params?: object; transport: string }): Promise<void> {
  await page.fill("#stream", options.stream);
  await page.fill("#params", JSON.stringify(options.params ?? {}));
  await page.selectOption("#transport", options.transport);
  await page.click("#start");
  await page.waitForFunction(() => document.getElementById("status")?.textContent === "stream ended", undefined, { timeout: 30_000 });
}

/** How many pixels of the chart canvas are painted. */
const paintedPixels = (page: Page) =>
  page.evaluate(() => {
    const canvas = document.getElementById("chart") as HTMLCanvasElement;
    const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted++;
    return painted;
  });

describe.skipIf(!CHROMIUM)("the example page served by sluice-server (examples/embedded.yaml)", () => {
  let server: StartedCli;
  let browser: Browser;
  beforeAll(async () => {
    server = await startCli(["--config", join(examples, "embedded.yaml")]);
    browser = await launchChromium(CHROMIUM!);
  });
  afterAll(async () => {
    await browser?.close();
    server?.child.kill("SIGKILL");
  });

  it.each(["connect", "websocket"])("streams 20 000 generated items and the filtered book list over %s", async (transport) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${server.url}/`);
    await runOnPage(page, { stream: "numbers", params: { count: 20_000 }, transport });
    expect(await page.textContent("#items")).toBe("20,000");
    expect(await page.textContent("#transportShown")).toBe(transport);
    // The newest row shown is the last generated item.
    expect(JSON.parse((await page.textContent("#latest li:first-child"))!)).toMatchObject({ seq: 20_000 });

    await runOnPage(page, { stream: "books", params: { genre: "poetry" }, transport });
    expect(await page.textContent("#items")).toBe("310");
    const rows = await page.$$eval("#latest li", (items) => items.map((li) => JSON.parse(li.textContent!) as { genre: string }));
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((row) => row.genre))).toEqual(new Set(["poetry"]));
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it("starts the live ticks stream on load with its throughput chart, lists the server's streams, and stops on request", async () => {
    const context = await browser.newContext();
    const idle = await context.newPage();
    // ?autostart=0 waits for the button: nothing streams, the chart stays empty.
    await idle.goto(`${server.url}/?autostart=0`);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await paintedPixels(idle)).toBe(0);
    expect(await idle.textContent("#items")).toBe("0");
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    // The page's defaults, started without a click: stream "ticks" (20 items/s), transport auto.
    await page.waitForFunction(() => document.querySelectorAll("#streams option").length === 5, undefined, { timeout: 10_000 });
    expect(await page.$$eval("#streams option", (options) => options.map((o) => (o as HTMLOptionElement).value))).toEqual(["ticks", "numbers", "books", "news", "news.dlq"]);
    expect(await page.textContent("#offered")).toContain("books (jsonl; params genre)");
    await page.waitForFunction(() => Number(document.getElementById("items")?.textContent?.replace(/,/g, "")) >= 40, undefined, { timeout: 10_000 });
    await page.waitForFunction(() => Number(document.getElementById("rate")?.textContent) > 0, undefined, { timeout: 5_000 });
    expect(await paintedPixels(page)).toBeGreaterThan(100);
    expect(await page.textContent("#transportShown")).toBe("connect");
    await page.click("#stop");
    await page.waitForFunction(() => (document.getElementById("stop") as HTMLButtonElement).disabled, undefined, { timeout: 5_000 });
    expect(await page.textContent("#status")).toMatch(/stopped by the user/);
    await context.close();
  }, 30_000);

  it("says params that are not JSON on the page, and clears one run's figures before the next", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/?autostart=0`);
    await page.fill("#params", "{count: 5");
    await page.click("#start");
    expect(await page.textContent("#status")).toMatch(/^params: not a JSON object: /);
    expect(await page.getAttribute("#status", "class")).toBe("error");
    await runOnPage(page, { stream: "numbers", params: { count: 20_000 }, transport: "connect" });
    expect(await page.textContent("#sampling")).toMatch(/^showing every \d+th item \(of 20,000\)/);
    await runOnPage(page, { stream: "numbers", params: { count: 5 }, transport: "connect" });
    // Nothing of the 20 000-item run is left: 5 items, 5 rows, no sampling note.
    expect(await page.textContent("#items")).toBe("5");
    expect(await page.$$eval("#latest li", (items) => items.length)).toBe(5);
    expect(await page.textContent("#sampling")).toBe("");
    await context.close();
  }, 60_000);
});

describe.skipIf(!CHROMIUM)("the example page over TLS (examples/tls.yaml)", () => {
  const certificate = selfSignedCertificate();
  let server: StartedCli;
  let browser: Browser;
  beforeAll(async () => {
    server = await startCli(["--config", join(examples, "tls.yaml")], { SLUICE_TLS_CERT_FILE: certificate.certFile, SLUICE_TLS_KEY_FILE: certificate.keyFile });
    // The test certificate is self-signed; a deployment's would be trusted.
    browser = await launchChromium(CHROMIUM!, ["--ignore-certificate-errors"]);
  });
  afterAll(async () => {
    await browser?.close();
    server?.child.kill("SIGKILL");
  });

  it.each(["connect", "websocket"])("streams over https: / wss: with %s", async (transport) => {
    expect(server.url).toMatch(/^https:/);
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await runOnPage(page, { stream: "numbers", params: { count: 20_000 }, transport });
    expect(await page.textContent("#items")).toBe("20,000");
    expect(await page.textContent("#transportShown")).toBe(transport);
    await context.close();
  }, 60_000);
});

/** The page of the split-instances test: window.sluiceSeqs subscribes to `numbers` with client-web (half duplex) and returns the seqs it got. */
const SPLIT_PAGE = `
import { createSluiceClient } from "@sluice/client-web";
window.sluiceSeqs = async ({ count, window: credit }) => {
  const client = createSluiceClient({ transport: "connect" });
  const stream = client.subscribe("numbers", { params: { count }, window: credit });
  const seqs = [];
  for await (const event of stream) if (event.kind === "item") seqs.push(event.value.seq);
  const transport = stream.stats.transport;
  client.close();
  return { seqs, transport };
};
`;

describe.skipIf(!CHROMIUM || !NATS_UP)("a browser's half-duplex session split across two instances on one NATS (topics.engine: nats)", () => {
  let a: StartedCli;
  let b: StartedCli;
  let browser: Browser;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-split-"));
    const config = join(dir, "split.yaml");
    writeFileSync(config, ["topics: { engine: nats }", `nats: { servers: "${NATS_URL}" }`, "streams:", "  numbers:", "    source: { type: generator, ratePerSecond: 0, itemBytes: 64, count: 5000 }", ""].join("\n"));
    [a, b] = [await startCli(["--config", config]), await startCli(["--config", config])];
    browser = await launchChromium(CHROMIUM!);
  });
  afterAll(async () => {
    await browser?.close();
    a?.child.kill("SIGKILL");
    b?.child.kill("SIGKILL");
  });

  it("gets every item once, in order, while its Control calls land on the other instance and are forwarded to the owner", async () => {
    const bundle = await build({ stdin: { contents: SPLIT_PAGE, resolveDir: fileURLToPath(new URL(".", import.meta.url)), loader: "ts" }, bundle: true, format: "esm", platform: "browser", conditions: ["@sluice/source"], write: false, logLevel: "error" });
    // The page and its SubscribeHalfDuplex go to A, its Control calls to B.
    const proxy = await startPathProxy(Number(new URL(a.url).port), Number(new URL(b.url).port), {
      "/": { type: "text/html; charset=utf-8", body: '<!doctype html><script type="module" src="/page.js"></script>' },
      "/page.js": { type: "text/javascript; charset=utf-8", body: bundle.outputFiles[0]!.contents },
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${proxy.url}/`);
    await page.waitForFunction(() => typeof (window as unknown as { sluiceSeqs?: unknown }).sluiceSeqs === "function");
    // A window of 50 of the 5 000 items: the rest come on credit that reached A only through B.
    const result = await page.evaluate(() => (window as unknown as { sluiceSeqs(o: object): Promise<{ seqs: number[]; transport: string }> }).sluiceSeqs({ count: 5_000, window: { items: 50, bytes: 1 << 20 } }));
    expect(result.transport).toBe("connect");
    expect(result.seqs).toEqual(Array.from({ length: 5_000 }, (_, i) => i + 1));
    expect(errors).toEqual([]);
    expect(proxy.controlCalls).toBeGreaterThan(50);
    await until(async () => (await counter(b.url, "sluice_control_forwarded_total")).value === proxy.controlCalls && (await counter(a.url, "sluice_control_served_total")).value === proxy.controlCalls, 5_000, "every Control call forwarded by B and served by A");
    await context.close();
    await proxy.close();
  }, 60_000);
});
