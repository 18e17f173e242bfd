/**
 * The self-contained HTML report of a run: one file that opens offline (no
 * CDN, no network; uPlot's script and style are inlined), with the verdict,
 * the thresholds, what the verifier found, the latency summary and charts on
 * one shared time axis with the chaos and stage events marked on each.
 *
 * The tables are rendered here, so they read without JavaScript; the charts
 * are drawn in the page from the RunResult embedded as JSON
 * (`<script type="application/json" id="sluice-result">`), the same figures
 * the JSON file holds. Once every chart has drawn, each chart's container
 * carries `data-points` (the non-null points it drew) and the page sets
 * `document.body.dataset.chartsReady = "true"`.
 */
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import type { LatencySummary, RunEvent, RunResult, SoakResult, ThresholdResult, TimeSeries, VerificationTotals } from "./results.js";

/** A time series of the run, by its field name in {@link TimeSeries}. */
type SeriesKey = Exclude<keyof TimeSeries, "t">;

/** One line of a chart. */
export interface ChartSeriesSpec {
  readonly label: string;
  /** The TimeSeries field drawn, or the soak's fitted line. */
  readonly key: SeriesKey | "soakFit";
  readonly color: string;
  /** Unit shown in the legend after the value. */
  readonly unit: string;
  /** The right-hand axis (`y2`) or the left one (default). */
  readonly scale?: "y" | "y2";
  readonly dash?: readonly number[];
  /** Fill under the line (a light tint of its colour). */
  readonly fill?: boolean;
  /** Drawn as steps (counters). */
  readonly stepped?: boolean;
}

/** One chart of the report; every chart shares the x axis (seconds since the run started). */
export interface ChartSpec {
  /** The id of the chart's container (`data-points` is set on it). */
  readonly id: string;
  readonly title: string;
  readonly yLabel: string;
  readonly y2Label?: string;
  /** A log-like (asinh) y scale, for figures whose spikes would flatten the rest (latency, lag). */
  readonly log?: boolean;
  /** The y scale starts at zero (else it fits the data, as memory does). */
  readonly fromZero?: boolean;
  /** A horizontal reference line on the left axis. */
  readonly hline?: { readonly value: number; readonly label: string };
  readonly series: readonly ChartSeriesSpec[];
}

const COLORS = {
  blue: "#2563eb",
  green: "#16a34a",
  amber: "#d97706",
  red: "#dc2626",
  violet: "#7c3aed",
  cyan: "#0891b2",
  orange: "#ea580c",
  ink: "#111827",
} as const;

/** Colours of the event markers, by event kind. */
const EVENT_COLORS: Readonly<Record<RunEvent["kind"], string>> = {
  stage: "#64748b",
  cut: "#dc2626",
  freeze: "#0284c7",
  thaw: "#0891b2",
  kill: "#b91c1c",
  restart: "#16a34a",
  drain: "#d97706",
  "server-exit": "#7f1d1d",
  note: "#7c3aed",
};

const SOAK_SERIES_LABEL: Readonly<Record<SoakResult["series"], string>> = { serverRssMiB: "server RSS", loadgenRssMiB: "loadgen RSS" };

/** The charts of a run's report (the memory chart carries the soak's fitted line when the run has one). */
export function chartSpecs(result: RunResult): ChartSpec[] {
  const unmeasured = (key: SeriesKey, label: string) => (result.series[key].every((value) => value === null) ? `${label} (not measured)` : label);
  const memory: ChartSeriesSpec[] = [
    { label: unmeasured("serverRssMiB", "server RSS"), key: "serverRssMiB", color: COLORS.blue, unit: " MiB" },
    { label: unmeasured("serverHeapMiB", "server heap"), key: "serverHeapMiB", color: COLORS.violet, unit: " MiB" },
    { label: "loadgen RSS", key: "loadgenRssMiB", color: COLORS.cyan, unit: " MiB" },
  ];
  if (result.soak) memory.push({ label: `soak fit (${SOAK_SERIES_LABEL[result.soak.series]})`, key: "soakFit", color: COLORS.ink, unit: " MiB", dash: [8, 5] });
  return [
    {
      id: "chart-throughput",
      title: "Throughput",
      yLabel: "items/s",
      fromZero: true,
      series: [
        { label: "delivered/s", key: "deliveredPerSecond", color: COLORS.blue, unit: "/s", fill: true },
        { label: "acked/s", key: "ackedPerSecond", color: COLORS.green, unit: "/s", scale: "y2" },
      ],
      y2Label: "acked/s",
    },
    {
      id: "chart-latency",
      title: "Delivery latency",
      yLabel: "ms (asinh scale)",
      log: true,
      series: [
        { label: "p50", key: "p50Ms", color: COLORS.green, unit: " ms" },
        { label: "p99", key: "p99Ms", color: COLORS.amber, unit: " ms" },
        { label: "max", key: "maxMs", color: COLORS.red, unit: " ms" },
      ],
    },
    { id: "chart-memory", title: "Memory", yLabel: "MiB", series: memory },
    {
      id: "chart-connections",
      title: "Connections",
      yLabel: "subscribers open",
      y2Label: "reconnects",
      fromZero: true,
      series: [
        { label: "subscribers open", key: "subscribersOpen", color: COLORS.blue, unit: "" },
        { label: "reconnects (cumulative)", key: "reconnects", color: COLORS.red, unit: "", scale: "y2", stepped: true },
      ],
    },
    {
      id: "chart-cpu",
      title: "Loadgen CPU",
      yLabel: "% of one core",
      fromZero: true,
      hline: { value: 90, label: "90 % (saturation)" },
      series: [{ label: "loadgen CPU", key: "loadgenCpuPercent", color: COLORS.orange, unit: " %", fill: true }],
    },
    {
      id: "chart-lag",
      title: "Event-loop lag",
      yLabel: "ms (asinh scale)",
      log: true,
      series: [
        { label: unmeasured("serverEventLoopLagMs", "server"), key: "serverEventLoopLagMs", color: COLORS.violet, unit: " ms" },
        { label: "loadgen", key: "loadgenEventLoopLagMs", color: COLORS.cyan, unit: " ms" },
      ],
    },
  ];
}

/** Renders the report: one HTML document, every script and style inline. */
export function renderReport(result: RunResult): string {
  const require = createRequire(import.meta.url);
  const uplotJs = readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8");
  const uplotCss = readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8");
  const specs = chartSpecs(result);
  const verdict = result.passed ? "PASSED" : "FAILED";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="@sluice/loadgen">
<title>${esc(`${verdict} · ${result.scenario.name} · Sluice loadgen report`)}</title>
<link rel="icon" href="data:,">
<style>${inlineStyle(uplotCss)}</style>
<style>${STYLE}</style>
</head>
<body>
<main>
${renderHeader(result)}
${result.loadgen.saturated ? renderSaturated(result) : ""}
<div class="columns">
${renderThresholds(result.thresholds)}
${renderVerification(result.verification)}
</div>
${renderLatency(result.latency)}
<section class="card" id="charts-section">
<h2>Over time</h2>
<p class="hint">Seconds since the run started, one shared axis: drag across a chart to zoom every chart, double-click to reset. Dashed vertical lines mark the run's events.</p>
<div class="charts">
${specs.map((spec) => renderChartCard(spec, result)).join("\n")}
</div>
</section>
${renderEvents(result.events)}
<footer>Generated by @sluice/loadgen. Charts drawn with uPlot (MIT), inlined. The run's JSON is embedded in this file (<code>script#sluice-result</code>).</footer>
</main>
<script type="application/json" id="sluice-result">${jsonForScript(result)}</script>
<script type="application/json" id="sluice-charts">${jsonForScript({ charts: specs, eventColors: EVENT_COLORS })}</script>
<script>${inlineScript(uplotJs)}</script>
<script>${CLIENT_SCRIPT}</script>
</body>
</html>
`;
}

/** Renders the report and writes it to `htmlPath` (creating its directory). */
export async function writeReport(result: RunResult, htmlPath: string): Promise<void> {
  await mkdir(dirname(htmlPath), { recursive: true });
  await writeFile(htmlPath, renderReport(result), "utf8");
}

// --- Rendering helpers ------------------------------------------------------

/** JSON safe inside a `<script>` element: no `<` at all, so neither `</script>` nor `<!--` can appear. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/** A script inlined as is, except for anything that would end its element early. */
function inlineScript(source: string): string {
  return source.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

function inlineStyle(source: string): string {
  return source.replace(/<\/(style)/gi, "<\\/$1");
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** A count with thousands separators. */
function count(value: number): string {
  return integer.format(value);
}

/** A measured figure with as many decimals as its size needs. */
function figure(value: number): string {
  const abs = Math.abs(value);
  const digits = abs >= 100 || Number.isInteger(value) ? 0 : abs >= 10 ? 1 : 2;
  return new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
}

function ms(value: number): string {
  return `${figure(value)} ms`;
}

function signed(value: number): string {
  return `${value > 0 ? "+" : ""}${figure(value)}`;
}

/** `1 h 0 m 0.4 s`, `2 m 5 s`, `12.3 s`. */
function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "—";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.round((seconds % 60) * 10) / 10;
  const parts: string[] = [];
  if (h) parts.push(`${h} h`);
  if (h || m) parts.push(`${m} m`);
  parts.push(`${s} s`);
  return parts.join(" ");
}

/** An ISO time as `2025-06-02 09:00:00 UTC`, or as given when it does not parse. */
function when(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return esc(iso);
  return `<time datetime="${esc(iso)}">${date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")}</time>`;
}

/** The unit a threshold's expression is written in (`p99 < 20ms` → ms), for its value. */
function thresholdUnit(expression: string): string {
  const unit = /\d\s*(ms|s|MiB\/h|MiB|%|\/s)\s*$/.exec(expression)?.[1];
  return unit ? (unit === "%" ? " %" : ` ${unit}`) : "";
}

function renderHeader(result: RunResult): string {
  const { scenario } = result;
  const verdict = result.passed ? "PASSED" : "FAILED";
  const ran = (Date.parse(result.endedAt) - Date.parse(result.startedAt)) / 1000;
  const planned = scenario.durationSeconds;
  const meta: [string, string][] = [
    ["Scenario file", scenario.file === null ? `<span class="muted">none (inline scenario)</span>` : `<code>${esc(scenario.file)}</code>`],
    ["Seed", `<code>${esc(String(scenario.seed))}</code>`],
    ["Targets", scenario.targets.length ? scenario.targets.map((target) => `<code>${esc(target)}</code>`).join("<br>") : `<span class="muted">none</span>`],
    ["Subscribers / publishers", `${count(scenario.subscribers)} / ${count(scenario.publishers)}`],
    ["Started", when(result.startedAt)],
    ["Ended", when(result.endedAt)],
    ["Duration", `${duration(ran)}${Math.abs(ran - planned) >= 1 ? ` <span class="muted">(planned ${duration(planned)})</span>` : ""}`],
  ];
  const failures = result.failures.length ? `<ul class="failures" id="failures">${result.failures.map((line) => `<li>${esc(line)}</li>`).join("")}</ul>` : "";
  const interrupted = result.interrupted ? `<p class="interrupted" id="interrupted">Interrupted: the run was stopped early; the figures cover what ran.</p>` : "";
  return `<header class="card head">
<div class="title">
<p class="eyebrow">Sluice loadgen report</p>
<h1 id="scenario-name">${esc(scenario.name)}</h1>
<dl class="meta">${meta.map(([term, value]) => `<div><dt>${term}</dt><dd>${value}</dd></div>`).join("")}</dl>
</div>
<div class="verdict">
<div class="badge ${result.passed ? "passed" : "failed"}" id="badge">${verdict}</div>
${interrupted}
${failures}
</div>
</header>`;
}

function renderSaturated(result: RunResult): string {
  const { loadgen } = result;
  return `<div class="warning" id="saturated" role="alert"><strong>Loadgen saturated.</strong> The loadgen used more than 90 % of a core in a fifth of the samples or more (CPU mean ${figure(loadgen.cpuPercentMean)} %, max ${figure(loadgen.cpuPercentMax)} %): the figures show the loadgen's limit, not the server's. Run with fewer subscribers per loadgen, or more loadgens.</div>`;
}

function renderThresholds(thresholds: readonly ThresholdResult[]): string {
  const rows = thresholds.map(
    (threshold) =>
      `<tr class="${threshold.passed ? "ok" : "bad"}"><td><code>${esc(threshold.expression)}</code></td><td class="num">${threshold.value === null ? `<span class="muted">—</span>` : esc(figure(threshold.value) + thresholdUnit(threshold.expression))}</td><td class="mark">${threshold.passed ? "✓" : "✗"}</td></tr>`,
  );
  return `<section class="card" id="thresholds">
<h2>Thresholds</h2>
${thresholds.length ? `<table><thead><tr><th>Expression</th><th class="num">Value</th><th class="mark">Passed</th></tr></thead><tbody>${rows.join("")}</tbody></table>` : `<p class="muted">The scenario has no thresholds.</p>`}
</section>`;
}

/** A count the run must keep at zero: "0 ✓", or the count in red. */
function mustBeZero(value: number): string {
  return value === 0 ? `<td class="num ok">0 ✓</td>` : `<td class="num bad">${count(value)}</td>`;
}

/** Counts by reason or code: the total, then each. */
function byKey(record: Readonly<Record<string, number>>): string {
  const entries = Object.entries(record).sort(([, a], [, b]) => b - a);
  if (!entries.length) return `<td class="num"><span class="muted">0</span></td>`;
  const total = entries.reduce((sum, [, value]) => sum + value, 0);
  return `<td class="num">${count(total)}<ul class="breakdown">${entries.map(([key, value]) => `<li><code>${esc(key)}</code> ${count(value)}</li>`).join("")}</ul></td>`;
}

function renderVerification(v: VerificationTotals): string {
  const percentAcked = v.published > 0 ? ` <span class="muted">(${figure((100 * v.acked) / v.published)} %)</span>` : "";
  const rows: [string, string, string][] = [
    ["published", "Published", `<td class="num">${count(v.published)}</td>`],
    ["acked", "Acked", `<td class="num">${count(v.acked)}${percentAcked}</td>`],
    ["delivered", "Delivered", `<td class="num">${count(v.delivered)}</td>`],
    ["lost", "Lost", mustBeZero(v.lost)],
    ["duplicated", "Duplicated", mustBeZero(v.duplicated)],
    ["reordered", "Reordered", mustBeZero(v.reordered)],
    ["seq-errors", "Seq errors", mustBeZero(v.seqErrors)],
    ["content-errors", "Content errors", mustBeZero(v.contentErrors)],
    ["gapped-items", "Gapped items (by reason)", byKey(v.gappedItems)],
    ["gaps", "Gaps (by reason)", byKey(v.gapsByReason)],
    ["reconnects", "Reconnects", `<td class="num">${count(v.reconnects)}</td>`],
    ["resumes", "Resumes", `<td class="num">${count(v.resumes)}</td>`],
    ["errors", "Errors (by code)", byKey(v.errorsByCode)],
  ];
  return `<section class="card" id="verification">
<h2>Verification</h2>
<table><tbody>${rows.map(([id, label, cell]) => `<tr id="v-${id}"><th scope="row">${label}</th>${cell}</tr>`).join("")}</tbody></table>
<p class="hint">Lost, duplicated, reordered, seq and content errors fail the run; gapped items are missing items a gap event accounts for.</p>
</section>`;
}

function renderLatency(latency: RunResult["latency"]): string {
  const row = (id: string, label: string, summary: LatencySummary | null) =>
    summary === null
      ? `<tr id="${id}"><th scope="row">${label}</th><td class="muted" colspan="7">not measured</td></tr>`
      : `<tr id="${id}"><th scope="row">${label}</th><td class="num">${count(summary.count)}</td>${[summary.p50, summary.p90, summary.p99, summary.p999, summary.max, summary.mean].map((value) => `<td class="num">${ms(value)}</td>`).join("")}</tr>`;
  return `<section class="card" id="latency">
<h2>Latency</h2>
<div class="scroll"><table>
<thead><tr><th></th><th class="num">Count</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">p99.9</th><th class="num">Max</th><th class="num">Mean</th></tr></thead>
<tbody>${row("latency-publish", "Publish to delivery", latency.publishToDelivery)}${row("latency-source", "Source to delivery", latency.sourceToDelivery)}</tbody>
</table></div>
</section>`;
}

function renderSoak(soak: SoakResult): string {
  const growing = soak.growingAfterLoad === null ? "" : soak.growingAfterLoad ? ` <strong class="bad-text">Still growing after load stopped.</strong>` : " Not growing after load stopped.";
  return `<p class="soak ${soak.passed ? "ok" : "bad"}" id="soak">Soak: ${SOAK_SERIES_LABEL[soak.series]} slope <strong>${signed(soak.slopeMiBPerHour)} MiB/h</strong> (95 % CI ${signed(soak.ciLowMiBPerHour)} … ${signed(soak.ciHighMiBPerHour)} MiB/h), allowed &lt; ${figure(soak.thresholdMiBPerHour)} MiB/h: <strong>${soak.passed ? "✓ passed" : "✗ failed"}</strong>. Fitted over ${count(soak.samples)} samples from ${figure(soak.fromT)} s to ${figure(soak.toT)} s.${growing}</p>`;
}

function renderChartCard(spec: ChartSpec, result: RunResult): string {
  const soak = spec.id === "chart-memory" && result.soak ? renderSoak(result.soak) : "";
  return `<figure class="chart" id="${spec.id}" data-points="0">
<figcaption>${esc(spec.title)}</figcaption>
${soak}
<div class="plot"></div>
</figure>`;
}

function renderEvents(events: readonly RunEvent[]): string {
  const sorted = [...events].sort((a, b) => a.t - b.t);
  return `<section class="card" id="events">
<h2>Events</h2>
${
  sorted.length
    ? `<table><thead><tr><th class="num">t (s)</th><th>Kind</th><th>Detail</th></tr></thead><tbody>${sorted
        .map((event) => `<tr><td class="num">${figure(event.t)}</td><td><span class="kind" style="--kind: ${EVENT_COLORS[event.kind] ?? "#64748b"}">${esc(event.kind)}</span></td><td>${esc(event.detail)}</td></tr>`)
        .join("")}</tbody></table>`
    : `<p class="muted">No chaos actions or stage changes in this run.</p>`
}
</section>`;
}

const STYLE = `
:root { --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --bg: #f6f7f9; --card: #fff; --ok: #15803d; --ok-bg: #dcfce7; --bad: #b91c1c; --bad-bg: #fee2e2; --warn-bg: #fef3c7; --warn: #92400e; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1400px; margin: 0 auto; padding: 20px; display: flex; flex-direction: column; gap: 16px; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
h1 { margin: 0 0 12px; font-size: 26px; }
h2 { margin: 0 0 10px; font-size: 17px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; min-width: 0; }
.head > .title { flex: 1 1 560px; min-width: 0; }
.head { display: flex; flex-wrap: wrap; gap: 16px; justify-content: space-between; align-items: flex-start; }
.eyebrow { margin: 0 0 2px; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; font-size: 12px; }
.meta { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 8px 24px; margin: 0; }
.meta dt { color: var(--muted); font-size: 12px; }
.meta dd { margin: 0; overflow-wrap: anywhere; }
.verdict { display: flex; flex-direction: column; align-items: flex-end; gap: 8px; max-width: 100%; }
.badge { font-size: 34px; font-weight: 800; letter-spacing: .05em; padding: 10px 28px; border-radius: 10px; color: #fff; }
.badge.passed { background: var(--ok); }
.badge.failed { background: var(--bad); }
.failures { margin: 0; padding: 10px 14px 10px 28px; background: var(--bad-bg); color: var(--bad); border-radius: 8px; max-width: 560px; }
.interrupted { margin: 0; padding: 4px 10px; border-radius: 6px; background: var(--warn-bg); color: var(--warn); font-weight: 600; }
.warning { padding: 12px 16px; border-radius: 10px; background: var(--warn-bg); color: var(--warn); border: 1px solid #fcd34d; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); gap: 16px; align-items: start; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { color: var(--muted); font-weight: 600; font-size: 12px; }
tbody th { font-weight: 500; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.mark { text-align: center; width: 4em; }
tr.ok .mark, td.ok { color: var(--ok); font-weight: 600; }
tr.bad { background: var(--bad-bg); }
tr.bad .mark, tr.bad td { color: var(--bad); font-weight: 600; }
td.bad { background: var(--bad-bg); color: var(--bad); font-weight: 700; }
.bad-text { color: var(--bad); }
.breakdown { list-style: none; margin: 2px 0 0; padding: 0; color: var(--muted); font-size: 12px; }
.muted { color: var(--muted); }
.hint { color: var(--muted); font-size: 12px; margin: 8px 0 0; }
#charts-section .hint { margin: -4px 0 12px; }
.scroll { overflow-x: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 560px), 1fr)); gap: 16px; }
.chart { margin: 0; min-width: 0; border: 1px solid var(--line); border-radius: 8px; padding: 10px 10px 4px; }
.chart figcaption { font-weight: 600; margin-bottom: 4px; }
.chart .plot { min-height: 40px; }
.chart .soak { margin: 0 0 6px; font-size: 12.5px; padding: 4px 8px; border-radius: 6px; }
.soak.ok { background: var(--ok-bg); }
.soak.bad { background: var(--bad-bg); color: var(--bad); }
.plot .u-legend { font-size: 12px; }
.plot .u-legend .u-marker { width: 12px; height: 3px; }
.event-label { position: absolute; font-size: 10.5px; line-height: 13px; padding: 0 4px; border-radius: 2px; background: #f8fafc; border-left: 2px solid var(--kind); color: var(--ink); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; z-index: 5; cursor: default; }
.event-label.flip { border-left: 0; border-right: 2px solid var(--kind); }
.kind { display: inline-block; padding: 0 6px; border-radius: 4px; border-left: 3px solid var(--kind); background: #f3f4f6; font-size: 12px; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding-bottom: 8px; }
@media (max-width: 640px) { .verdict { align-items: stretch; } .badge { text-align: center; } main { padding: 10px; } }
`;

/**
 * The page's own script: draws the charts from the embedded JSON. Plain
 * ES2017 in a string (it runs in the browser, never in Node), no template
 * literals so it sits in this one.
 */
const CLIENT_SCRIPT = String.raw`
(function () {
  "use strict";
  var result = JSON.parse(document.getElementById("sluice-result").textContent);
  var config = JSON.parse(document.getElementById("sluice-charts").textContent);
  var S = result.series;
  var t = S.t;
  var events = result.events.slice().sort(function (a, b) { return a.t - b.t; });
  var t0 = t.length ? t[0] : 0;
  var tLast = t.length ? t[t.length - 1] : 0;
  var xMax = Math.max(tLast, events.reduce(function (m, e) { return Math.max(m, e.t); }, 0), 1);
  var HEIGHT = 290;
  var ROWS = 3, ROW_H = 15, MAX_LABEL = 200;
  var charts = [];
  var pending = config.charts.length;
  var number = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  function fmt(v) {
    if (v == null) return "—";
    var a = Math.abs(v);
    var d = a >= 100 || Math.round(v) === v ? 0 : a >= 10 ? 1 : 2;
    return new Intl.NumberFormat("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }).format(v);
  }
  function tick(v) {
    if (v == null) return "";
    var a = Math.abs(v);
    if (a >= 1e6) return fmt(v / 1e6) + "M";
    if (a >= 1e4) return fmt(v / 1e3) + "k";
    return a >= 1 || v === 0 ? number.format(v) : fmt(v);
  }

  function soakFit() {
    var soak = result.soak;
    return t.map(function (x) {
      return x >= soak.fromT && x <= soak.toT ? soak.interceptMiB + (soak.slopeMiBPerHour * (x - soak.fromT)) / 3600 : null;
    });
  }

  function drawn(el) {
    if (el.dataset.drawn) return;
    el.dataset.drawn = "true";
    pending--;
    if (pending <= 0) document.body.dataset.chartsReady = "true";
  }

  function countPoints(u) {
    var n = 0;
    for (var i = 1; i < u.data.length; i++) {
      if (!u.series[i].show) continue;
      var d = u.data[i];
      for (var j = 0; j < d.length; j++) if (d[j] != null) n++;
    }
    return n;
  }

  function drawOverlays(u, spec, labels) {
    var ctx = u.ctx, b = u.bbox, pr = uPlot.pxRatio;
    ctx.save();
    ctx.beginPath();
    ctx.rect(b.left, b.top, b.width, b.height);
    ctx.clip();
    ctx.lineWidth = 1.5 * pr;
    if (spec.hline) {
      var y = Math.round(u.valToPos(spec.hline.value, "y", true));
      ctx.strokeStyle = "#9ca3af";
      ctx.setLineDash([3 * pr, 3 * pr]);
      ctx.beginPath();
      ctx.moveTo(b.left, y);
      ctx.lineTo(b.left + b.width, y);
      ctx.stroke();
      ctx.fillStyle = "#6b7280";
      ctx.font = 10 * pr + "px system-ui, sans-serif";
      ctx.textAlign = "right";
      ctx.fillText(spec.hline.label, b.left + b.width - 4 * pr, y - 3 * pr);
    }
    ctx.restore();
    placeLabels(u, labels);
    ctx.save();
    ctx.lineWidth = 1.5 * pr;
    ctx.setLineDash([5 * pr, 4 * pr]);
    labels.forEach(function (label, i) {
      if (label.style.display === "none") return;
      var x = Math.round(u.valToPos(events[i].t, "x", true));
      ctx.strokeStyle = config.eventColors[events[i].kind] || "#64748b";
      ctx.beginPath();
      ctx.moveTo(x, (parseFloat(label.style.top) + ROW_H - 2) * pr);
      ctx.lineTo(x, b.top + b.height);
      ctx.stroke();
    });
    ctx.restore();
  }

  /**
   * Puts each event's label in the band above the plot, at its marker line:
   * rows are chosen by the label's kind alone (short, so they rarely
   * collide), in the first row where it does not overlap the label before
   * it, flipped to the line's left when it would run past the chart's right
   * edge; then each label shows as much of its detail as the room to the
   * next label in its row allows.
   */
  function placeLabels(u, labels) {
    var pr = uPlot.pxRatio;
    var plotLeft = u.bbox.left / pr, plotWidth = u.bbox.width / pr;
    var wrapWidth = u.over.parentNode.clientWidth;
    var rows = [];
    for (var r = 0; r < ROWS; r++) rows.push([]);
    var end = function (row) { return row.length ? row[row.length - 1].right : -Infinity; };
    labels.forEach(function (label, i) {
      var x = u.valToPos(events[i].t, "x");
      var inside = x >= -1 && x <= plotWidth + 1;
      label.style.display = inside ? "" : "none";
      if (!inside) return;
      x = Math.round(plotLeft + x);
      label.style.maxWidth = "";
      label.textContent = events[i].kind;
      var w = label.offsetWidth;
      var flip = x + w > wrapWidth;
      var left = flip ? x - w + 1 : x - 1;
      var row = 0;
      for (r = 0; r < ROWS; r++) {
        if (end(rows[r]) + 4 <= left) { row = r; break; }
        if (end(rows[r]) < end(rows[row])) row = r;
      }
      rows[row].push({ label: label, x: x, left: left, right: left + w, flip: flip, text: events[i].kind + ": " + events[i].detail });
      label.style.top = 2 + row * ROW_H + "px";
      label.dataset.x = String(x);
    });
    rows.forEach(function (row) {
      row.forEach(function (p, j) {
        var label = p.label;
        label.textContent = p.text;
        label.classList.toggle("flip", p.flip);
        if (p.flip) {
          var room = p.x - (j > 0 ? row[j - 1].right : 0) - 4;
          label.style.maxWidth = Math.max(p.right - p.left, Math.min(room, MAX_LABEL)) + "px";
          p.left = p.x - label.offsetWidth + 1;
        } else {
          var next = j + 1 < row.length ? row[j + 1].left : wrapWidth;
          label.style.maxWidth = Math.max(p.right - p.left, Math.min(next - p.left - 4, MAX_LABEL)) + "px";
        }
        label.style.left = p.left + "px";
        p.right = p.left + label.offsetWidth;
      });
    });
  }

  function build(spec) {
    var el = document.getElementById(spec.id);
    var plot = el.querySelector(".plot");
    if (!t.length) {
      plot.textContent = "No samples in this run.";
      el.dataset.points = "0";
      return drawn(el);
    }
    var labels = [];
    var data = [t].concat(spec.series.map(function (s) { return s.key === "soakFit" ? soakFit() : S[s.key]; }));
    var series = [{ label: "t", value: function (u, v) { return v == null ? "—" : fmt(v) + " s"; } }].concat(
      spec.series.map(function (s) {
        var out = {
          label: s.label,
          stroke: s.color,
          width: s.key === "soakFit" ? 2 : 1.5,
          scale: s.scale || "y",
          spanGaps: false,
          points: { show: false },
          value: function (u, v) { return v == null ? "—" : fmt(v) + s.unit; },
        };
        if (s.dash) out.dash = s.dash;
        if (s.fill) out.fill = s.color + "1f";
        if (s.stepped) out.paths = uPlot.paths.stepped({ align: 1 });
        return out;
      })
    );
    function linear(u, min, max) {
      if (min == null || max == null || !isFinite(min) || !isFinite(max)) return [0, 1];
      if (spec.hline) max = Math.max(max, spec.hline.value);
      if (spec.fromZero) return [Math.min(0, min), max > 0 ? max * 1.08 : 1];
      var pad = Math.max((max - min) * 0.1, Math.abs(max) * 0.02, 0.5);
      return [min - pad, max + pad];
    }
    function asinh(u, min, max) {
      if (max == null || !isFinite(max) || max <= 0) return [0, 10];
      return [0, uPlot.rangeAsinh(Math.max(0, min), max, 10, true)[1]];
    }
    /** The ticks of an asinh axis: 0 and the powers of ten up to its top. */
    function decades(u, axis, min, max) {
      var out = [0];
      for (var p = 1; p <= max * 1.0001; p *= 10) out.push(p);
      return out;
    }
    var scales = {
      x: {
        time: false,
        range: function (u, min, max) {
          if (min == null || max == null || (min <= t0 && max >= tLast)) return [0, xMax];
          return [min, max];
        },
      },
      y: spec.log ? { distr: 4, asinh: 1, range: asinh } : { range: linear },
    };
    var axes = [
      { label: "seconds since start", values: function (u, splits) { return splits.map(tick); } },
      { label: spec.yLabel, size: 56, values: function (u, splits) { return splits.map(tick); }, splits: spec.log ? decades : undefined },
    ];
    if (spec.series.some(function (s) { return s.scale === "y2"; })) {
      scales.y2 = { range: linear };
      axes.push({ scale: "y2", side: 1, label: spec.y2Label, size: 56, grid: { show: false }, values: function (u, splits) { return splits.map(tick); } });
    }
    var opts = {
      width: Math.max(260, plot.clientWidth),
      height: HEIGHT,
      padding: [ROWS * ROW_H + 6, null, null, null],
      series: series,
      scales: scales,
      axes: axes,
      legend: { live: true },
      cursor: { sync: { key: "sluice-report", setSeries: false }, drag: { x: true, y: false } },
      hooks: {
        init: [
          function (u) {
            events.forEach(function (e) {
              var label = document.createElement("div");
              label.className = "event-label";
              label.style.setProperty("--kind", config.eventColors[e.kind] || "#64748b");
              label.title = fmt(e.t) + " s · " + e.kind + ": " + e.detail;
              label.textContent = e.kind + ": " + e.detail;
              label.style.left = "0px";
              label.dataset.kind = e.kind;
              u.over.parentNode.appendChild(label);
              labels.push(label);
            });
          },
        ],
        draw: [
          function (u) {
            drawOverlays(u, spec, labels);
            el.dataset.points = String(countPoints(u));
            drawn(el);
          },
        ],
        setScale: [
          function (u, key) {
            if (key !== "x") return;
            var min = u.scales.x.min, max = u.scales.x.max;
            charts.forEach(function (c) {
              if (c.u !== u && (c.u.scales.x.min !== min || c.u.scales.x.max !== max)) c.u.setScale("x", { min: min, max: max });
            });
          },
        ],
      },
    };
    var u = new uPlot(opts, data, plot);
    charts.push({ u: u, plot: plot });
  }

  config.charts.forEach(function (spec) {
    try {
      if (typeof uPlot !== "function") throw new Error("uPlot did not load");
      build(spec);
    } catch (error) {
      var el = document.getElementById(spec.id);
      el.querySelector(".plot").textContent = "This chart could not be drawn: " + (error && error.message);
      el.dataset.points = "0";
      el.dataset.error = String(error && error.message);
      drawn(el);
    }
  });
  if (pending <= 0) document.body.dataset.chartsReady = "true";

  var resizing = 0;
  window.addEventListener("resize", function () {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(function () {
      charts.forEach(function (c) { c.u.setSize({ width: Math.max(260, c.plot.clientWidth), height: HEIGHT }); });
    });
  });
})();
`;
