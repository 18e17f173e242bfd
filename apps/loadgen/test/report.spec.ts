/**
 * The HTML report (src/report.ts): one self-contained file, checked as a
 * string (no external resources, the RunResult embedded and intact, text
 * escaped) and opened in Debian's Chromium with every network request
 * blocked (the badge, the tables, every chart drawn with data, the event
 * markers on the canvas and their labels).
 *
 * The browser tests skip with a loud message when no Chromium is installed.
 * The fixture's report is rendered as a screenshot; with
 * SLUICE_REPORT_SCREENSHOT=1 it is saved as a
 * full-page PNG to apps/loadgen/docs/report.png (the README shows it).
 */
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { findChromium, launchChromium } from "@sluice/testing";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chartSpecs, renderReport, writeReport, type ChartSpec } from "../src/report.js";
import type { RunResult } from "../src/results.js";

const fixture = JSON.parse(readFileSync(new URL("./fixtures/result.json", import.meta.url), "utf8")) as RunResult;
const CHROMIUM = findChromium("loadgen HTML report browser tests");
const SCREENSHOT = fileURLToPath(new URL("../docs/report.png", import.meta.url));

/** The fixture as a failed, interrupted run on a saturated loadgen, without soak or source latency. */
function failedVariant(): RunResult {
  return {
    ...fixture,
    interrupted: true,
    passed: false,
    failures: ["lost 3 items (subscriber 17: publisher 2 seqs 40211-40213)", "threshold p99 < 20ms failed: 27.4 ms"],
    verification: { ...fixture.verification, lost: 3 },
    thresholds: fixture.thresholds.map((threshold) => (threshold.expression === "p99 < 20ms" ? { ...threshold, value: 27.4, passed: false } : threshold)),
    latency: { ...fixture.latency, sourceToDelivery: null },
    soak: null,
    loadgen: { cpuPercentMean: 93.1, cpuPercentMax: 100, saturated: true },
  };
}

/** The RunResult embedded in the report. */
function embedded(html: string): unknown {
  const json = /<script type="application\/json" id="sluice-result">([\s\S]*?)<\/script>/.exec(html)?.[1];
  expect(json).toBeDefined();
  return JSON.parse(json!);
}

/** The non-null points a chart should draw: its series' values, the soak's fitted line at the samples it spans. */
function expectedPoints(spec: ChartSpec, result: RunResult): number {
  return spec.series.reduce((sum, series) => {
    if (series.key === "soakFit") return sum + result.series.t.filter((t) => t >= result.soak!.fromT && t <= result.soak!.toT).length;
    return sum + (result.series[series.key] as (number | null)[]).filter((value) => value !== null).length;
  }, 0);
}

describe("renderReport as a string", () => {
  const html = renderReport(fixture);

  it("loads nothing from elsewhere: no http(s) or protocol-relative URL in a src or href, no external script or stylesheet", () => {
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/<script[^>]*\ssrc\s*=/i);
    expect(html).not.toMatch(/<link[^>]*rel=["']?stylesheet/i);
    expect(html).not.toMatch(/@import|url\(\s*["']?(?:https?:)?\/\//i);
  });

  it("inlines uPlot's script and style", () => {
    const require = createRequire(import.meta.url);
    const js = readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8");
    const css = readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8");
    expect(html).toContain(js.trim());
    expect(html).toContain(css.trim());
  });

  it("embeds the RunResult as JSON that parses back to it", () => {
    expect(embedded(html)).toEqual(fixture);
  });

  it("escapes text and keeps the embedded JSON inside its script even when the result holds </script>", () => {
    const hostile: RunResult = {
      ...fixture,
      scenario: { ...fixture.scenario, name: `</script><script>alert("name")</script>` },
      events: [...fixture.events, { t: 42, kind: "note", detail: "<!-- </script><img src=x onerror=alert(1)>" }],
    };
    const page = renderReport(hostile);
    expect(embedded(page)).toEqual(hostile);
    // The four scripts of the page (result, chart specs, uPlot, the page's own) and no other.
    expect(page.match(/<\/script/gi)).toHaveLength(4);
    expect(page).not.toContain("<img src=x");
    expect(page).toContain("&lt;/script&gt;&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;");
  });

  it("renders the verdict, the verification figures and the latency summary", () => {
    expect(html).toMatch(/<div class="badge passed" id="badge">PASSED<\/div>/);
    for (const id of ["lost", "duplicated", "reordered", "seq-errors", "content-errors"]) expect(html).toContain(`<tr id="v-${id}"><th scope="row">`);
    expect(html.match(/<td class="num ok">0 ✓<\/td>/g)).toHaveLength(5);
    expect(html).toContain("<code>dropped_oldest</code> 1,840");
    expect(html).toContain(`<td class="num">${fixture.verification.delivered.toLocaleString("en-US")}</td>`);
    expect(html).toContain("<td class=\"num\">7.91 ms</td>");
  });

  it("marks a failed run: FAILED, the failure lines, the non-zero counts red, interrupted, saturated, not-measured latency", () => {
    const page = renderReport(failedVariant());
    expect(page).toMatch(/<div class="badge failed" id="badge">FAILED<\/div>/);
    expect(page).toContain("<li>lost 3 items (subscriber 17: publisher 2 seqs 40211-40213)</li>");
    expect(page).toContain(`<tr id="v-lost"><th scope="row">Lost</th><td class="num bad">3</td></tr>`);
    expect(page).toContain(`<tr class="bad"><td><code>p99 &lt; 20ms</code></td><td class="num">27.4 ms</td><td class="mark">✗</td></tr>`);
    expect(page).toContain('id="interrupted"');
    expect(page).toContain('id="saturated"');
    expect(page).toMatch(/<tr id="latency-source"><th scope="row">Source to delivery<\/th><td class="muted" colspan="7">not measured<\/td><\/tr>/);
    expect(page).not.toContain('id="soak"');
  });
});

describe.skipIf(!CHROMIUM)("the report in Chromium, offline", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium(CHROMIUM!);
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** Opens the report with every request but the page's own aborted; `requests` lists any the page tried. */
  async function open(result: RunResult, via: "content" | "file" = "content") {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    let pageUrl = "about:blank";
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    page.on("request", (request) => {
      if (request.url() !== pageUrl) requests.push(request.url());
    });
    await page.route("**", (route) => (route.request().url() === pageUrl ? route.continue() : route.abort()));
    if (via === "content") await page.setContent(renderReport(result));
    else {
      const file = join(mkdtempSync(join(tmpdir(), "sluice-report-")), "nested", "report.html");
      await writeReport(result, file);
      pageUrl = pathToFileURL(file).href;
      await page.goto(pageUrl);
    }
    await page.waitForFunction(() => document.body.dataset.chartsReady === "true", undefined, { timeout: 20_000 });
    return { page, errors, requests };
  }

  /** What each chart drew: its data-points, how many pixels of each series' colour its canvas has, its event labels. */
  function inspectCharts(page: Page, specs: readonly ChartSpec[]) {
    return page.evaluate((charts) => {
      const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      return charts.map((chart) => {
        const el = document.getElementById(chart.id);
        const canvas = el?.querySelector("canvas");
        if (!el || !canvas) return { id: chart.id, exists: false, points: 0, painted: 0, seriesPixels: [] as number[], labels: [] as string[] };
        const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
        const colors = chart.series.map((series) => rgb(series.color));
        const seriesPixels = colors.map(() => 0);
        let painted = 0;
        for (let i = 0; i < pixels.length; i += 4) {
          if (pixels[i + 3]! < 100) continue;
          painted++;
          colors.forEach(([r, g, b], c) => {
            if (Math.abs(pixels[i]! - r!) <= 30 && Math.abs(pixels[i + 1]! - g!) <= 30 && Math.abs(pixels[i + 2]! - b!) <= 30) seriesPixels[c]!++;
          });
        }
        const labels = [...el.querySelectorAll<HTMLElement>(".event-label")].filter((label) => label.style.display !== "none").map((label) => label.textContent ?? "");
        return { id: chart.id, exists: true, points: Number(el.dataset.points), painted, seriesPixels, labels };
      });
    }, specs);
  }

  /** Whether the canvas column under each event label of a chart has that event's marker colour. */
  function markerColumns(page: Page, chartId: string) {
    return page.evaluate((id) => {
      const el = document.getElementById(id)!;
      const canvas = el.querySelector("canvas")!;
      const ratio = canvas.width / canvas.getBoundingClientRect().width;
      const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height);
      return [...el.querySelectorAll<HTMLElement>(".event-label")].map((label) => {
        const color = getComputedStyle(label).getPropertyValue("--kind").trim();
        const [r, g, b] = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
        // data-x: the marker's x in CSS pixels from the canvas' left edge.
        const x = Math.round(Number(label.dataset.x) * ratio);
        let hits = 0;
        for (let dx = -2; dx <= 2; dx++)
          for (let y = 0; y < canvas.height; y++) {
            const i = (y * canvas.width + x + dx) * 4;
            const d = pixels.data;
            if (d[i + 3]! > 100 && Math.abs(d[i]! - r!) <= 40 && Math.abs(d[i + 1]! - g!) <= 40 && Math.abs(d[i + 2]! - b!) <= 40) hits++;
          }
        return { kind: label.dataset.kind, hits };
      });
    }, chartId);
  }

  it("draws every chart with data and the events marked, under a PASSED badge", async () => {
    const { page, errors, requests } = await open(fixture);
    const specs = chartSpecs(fixture);
    expect(specs.map((spec) => spec.id)).toEqual(["chart-throughput", "chart-latency", "chart-memory", "chart-connections", "chart-cpu", "chart-lag"]);
    const charts = await inspectCharts(page, specs);
    for (const [i, chart] of charts.entries()) {
      const spec = specs[i]!;
      expect(chart.exists, chart.id).toBe(true);
      expect(chart.points, chart.id).toBeGreaterThan(0);
      expect(chart.points, chart.id).toBe(expectedPoints(spec, fixture));
      expect(chart.painted, chart.id).toBeGreaterThan(500);
      // Every series (the soak's fitted line too) left its colour on the canvas.
      for (const [s, pixels] of chart.seriesPixels.entries()) expect(pixels, `${chart.id} ${spec.series[s]!.label}`).toBeGreaterThan(20);
      expect(chart.labels, chart.id).toEqual([...fixture.events].sort((a, b) => a.t - b.t).map((event) => `${event.kind}: ${event.detail}`));
    }
    for (const marker of await markerColumns(page, "chart-connections")) expect(marker.hits, marker.kind).toBeGreaterThan(20);

    expect(await page.textContent("#badge")).toBe("PASSED");
    expect(await page.$("#failures")).toBeNull();
    expect(await page.$("#saturated")).toBeNull();
    expect(await page.$("#interrupted")).toBeNull();
    expect(await page.textContent("#scenario-name")).toBe(fixture.scenario.name);
    expect((await page.textContent("#v-lost td"))?.trim()).toBe("0 ✓");
    expect(await page.textContent("#soak")).toMatch(/slope \+0\.42 MiB\/h \(95 % CI \+0\.11 … \+0\.73 MiB\/h\), allowed < 1 MiB\/h: ✓ passed/);
    expect(await page.$$eval("#thresholds tbody tr", (rows) => rows.map((row) => row.querySelector(".mark")?.textContent))).toEqual(fixture.thresholds.map(() => "✓"));
    // The embedded JSON reads back in the page too.
    expect(await page.evaluate(() => JSON.parse(document.getElementById("sluice-result")!.textContent!))).toEqual(fixture);
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  });

  it("shows a failed run as FAILED with its failure lines, the lost count red, interrupted and the saturated loadgen", async () => {
    const result = failedVariant();
    const { page, errors, requests } = await open(result);
    expect(await page.textContent("#badge")).toBe("FAILED");
    expect(await page.$$eval("#failures li", (items) => items.map((item) => item.textContent))).toEqual(result.failures);
    expect(await page.$eval("#v-lost td", (cell) => [cell.textContent, cell.className, getComputedStyle(cell).color])).toEqual(["3", "num bad", "rgb(185, 28, 28)"]);
    expect(await page.$$eval("#thresholds tbody tr.bad", (rows) => rows.map((row) => row.textContent))).toEqual(["p99 < 20ms27.4 ms✗"]);
    expect(await page.textContent("#interrupted")).toContain("Interrupted");
    expect(await page.textContent("#saturated")).toContain("Loadgen saturated");
    expect(await page.$("#soak")).toBeNull();
    const specs = chartSpecs(result);
    expect(specs.find((spec) => spec.id === "chart-memory")!.series.map((series) => series.key)).not.toContain("soakFit");
    for (const chart of await inspectCharts(page, specs)) {
      expect(chart.points, chart.id).toBe(expectedPoints(specs.find((spec) => spec.id === chart.id)!, result));
      expect(chart.labels).toHaveLength(result.events.length);
    }
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  });

  it("opens from the file writeReport wrote (a file:// URL), still loading nothing else", async () => {
    const { page, errors, requests } = await open(fixture, "file");
    expect(await page.textContent("#badge")).toBe("PASSED");
    for (const chart of await inspectCharts(page, chartSpecs(fixture))) expect(chart.points, chart.id).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  });

  it("draws without samples (a run interrupted at once): no charts, no errors, still ready", async () => {
    const empty = Object.fromEntries(Object.keys(fixture.series).map((key) => [key, []])) as unknown as RunResult["series"];
    const { page, errors } = await open({ ...failedVariant(), series: empty, events: [] });
    for (const chart of chartSpecs(fixture)) expect(await page.getAttribute(`#${chart.id}`, "data-points")).toBe("0");
    expect(errors).toEqual([]);
  });

  it("renders a full-page screenshot of the fixture's report (docs/report.png with SLUICE_REPORT_SCREENSHOT=1)", async () => {
    const { page } = await open(fixture);
    // A temporary file unless asked for the README's picture: a test run does not rewrite the docs.
    const path = process.env.SLUICE_REPORT_SCREENSHOT === "1" ? SCREENSHOT : join(mkdtempSync(join(tmpdir(), "sluice-report-")), "report.png");
    mkdirSync(join(path, ".."), { recursive: true });
    await page.screenshot({ path, fullPage: true });
    const png = readFileSync(path);
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    // A full page of charts and tables, not a blank viewport.
    expect(png.byteLength).toBeGreaterThan(50_000);
  });
});
