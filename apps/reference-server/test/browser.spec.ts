/**
 * The built reference server (dist/cli.js) with its example page at "/",
 * driven in Debian's Chromium through the browser tests' harness
 * (@sluice/testing): the page streams over connect-web (half duplex) and
 * over WebSocket, shows the items, the transport and a live throughput
 * chart, also over TLS (examples/tls.yaml) and with `auto` picking a
 * transport by itself.
 *
 * Skips with a loud message when no Chromium is installed; `.ci/run`
 * installs it, so CI never skips.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findChromium, launchChromium, selfSignedCertificate } from "@sluice/testing";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCli, type StartedCli } from "./start-cli.js";

const CHROMIUM = findChromium("reference-server browser tests");
const examples = fileURLToPath(new URL("../examples", import.meta.url));

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
