#!/usr/bin/env node
/**
 * sluice-loadgen: run a load, chaos or soak scenario against Sluice
 * servers and verify that nothing was lost, duplicated or reordered.
 *
 *   sluice-loadgen run [SCENARIO.yaml] [--url URL]... [--subscribers N] [--publishers N] [--stream NAME]
 *                      [--duration 30s] [--soak 2h] [--seed N] [--out DIR] [--quiet]
 *   sluice-loadgen validate SCENARIO.yaml
 *
 * Exit codes, as k6's: 0 every threshold passed and nothing was lost, 1 a
 * threshold or the verification failed, 2 bad arguments or scenario.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { LiveView } from "./live-view.js";
import { writeReport } from "./report.js";
import { runScenario } from "./runner.js";
import { checkScenario, loadScenario, parseDuration, type ScenarioOverrides } from "./scenario.js";

const USAGE = `usage:
  sluice-loadgen run [SCENARIO.yaml] [--url URL]... [--subscribers N] [--publishers N] [--stream NAME]
                     [--duration 30s] [--soak 2h] [--seed N] [--out DIR] [--quiet]
  sluice-loadgen validate SCENARIO.yaml`;

function fail(message: string): number {
  process.stderr.write(`sluice-loadgen: ${message}\n${USAGE}\n`);
  return 2;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        url: { type: "string", multiple: true },
        subscribers: { type: "string" },
        publishers: { type: "string" },
        stream: { type: "string" },
        duration: { type: "string" },
        soak: { type: "string" },
        seed: { type: "string" },
        out: { type: "string" },
        quiet: { type: "boolean" },
      },
    });
  } catch (error) {
    return fail((error as Error).message);
  }
  const { values, positionals } = parsed;
  const count = (name: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: must be a whole number, got ${JSON.stringify(text)}`);
    return n;
  };
  const ms = (name: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const v = parseDuration(text);
    if (v === undefined) throw new Error(`--${name}: must be a duration such as 30s, 5m or 2h, got ${JSON.stringify(text)}`);
    return v;
  };
  let overrides: ScenarioOverrides;
  try {
    const subscribers = count("subscribers", values.subscribers);
    const publishers = count("publishers", values.publishers);
    const seed = count("seed", values.seed);
    const duration = ms("duration", values.duration);
    const soak = ms("soak", values.soak);
    overrides = {
      ...(values.url ? { url: values.url } : {}),
      ...(subscribers !== undefined ? { subscribers } : {}),
      ...(publishers !== undefined ? { publishers } : {}),
      ...(values.stream ? { stream: values.stream } : {}),
      ...(duration !== undefined ? { duration } : {}),
      ...(soak !== undefined ? { soak } : {}),
      ...(seed !== undefined ? { seed } : {}),
    };
  } catch (error) {
    return fail((error as Error).message);
  }
  const file = positionals[0];
  if (command === "validate") {
    if (!file) return fail("validate needs a scenario file");
    const result = loadScenario(file);
    if (result.problems.length > 0) {
      process.stderr.write(`sluice-loadgen: ${file} is not valid:\n${result.problems.map((p) => `  ${p}`).join("\n")}\n`);
      return 2;
    }
    process.stdout.write(`${file}: valid\n`);
    return 0;
  }
  if (command !== "run") return fail(`unknown command ${JSON.stringify(command)}`);
  const result = file ? loadScenario(file, overrides) : checkScenario({}, null, overrides);
  if (!result.scenario) {
    process.stderr.write(`sluice-loadgen: ${file ?? "the flags"} ${file ? "is" : "are"} not a valid scenario:\n${result.problems.map((p) => `  ${p}`).join("\n")}\n`);
    return 2;
  }
  const scenario = result.scenario;
  const view = values.quiet ? undefined : new LiveView(process.stderr);
  // Ctrl-C ends the load and still writes the report; a second one exits at once.
  const interrupt = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write("\nsluice-loadgen: stopping (Ctrl-C again to quit at once)\n");
    interrupt.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const run = await runScenario(scenario, {
    signal: interrupt.signal,
    ...(view ? { onProgress: (p) => view.update(p), onEvent: (e) => view.event(e) } : {}),
  });
  const out = resolve(values.out ?? "loadgen-results");
  mkdirSync(out, { recursive: true });
  const stamp = run.startedAt.replace(/[:.]/g, "-");
  const base = join(out, `${run.scenario.name}-${stamp}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(run, null, 2)}\n`);
  await writeReport(run, `${base}.html`);
  const v = run.verification;
  const lat = run.latency.publishToDelivery ?? run.latency.sourceToDelivery;
  const mark = (n: number) => (n === 0 ? "0 ✓" : `${n} ✗`);
  const lines = [
    `${run.passed ? "PASSED" : "FAILED"}: ${run.scenario.name}${run.interrupted ? " (interrupted)" : ""}, ${run.scenario.durationSeconds} s, ${run.scenario.subscribers} subscribers, ${run.scenario.publishers} publishers`,
    `  published ${v.published}, acked ${v.acked}, delivered ${v.delivered}; lost ${mark(v.lost)}, duplicated ${mark(v.duplicated)}, reordered ${mark(v.reordered)}, seq errors ${mark(v.seqErrors)}`,
    `  gaps ${JSON.stringify(v.gapsByReason)}, reconnects ${v.reconnects}, resumes ${v.resumes}, errors ${JSON.stringify(v.errorsByCode)}`,
    lat ? `  latency p50 ${lat.p50} ms, p90 ${lat.p90} ms, p99 ${lat.p99} ms, p99.9 ${lat.p999} ms, max ${lat.max} ms (${lat.count} items)` : "  latency: no samples",
    ...(run.soak ? [`  memory slope ${run.soak.slopeMiBPerHour.toFixed(2)} MiB/h (95 % CI ${run.soak.ciLowMiBPerHour.toFixed(2)} to ${run.soak.ciHighMiBPerHour.toFixed(2)}) over ${run.soak.samples} samples: ${run.soak.passed ? "✓" : "✗"}`] : []),
    ...run.thresholds.map((t) => `  ${t.passed ? "✓" : "✗"} ${t.expression} (${t.value ?? "no value"})`),
    `  loadgen cpu mean ${run.loadgen.cpuPercentMean} %, max ${run.loadgen.cpuPercentMax} %${run.loadgen.saturated ? " — SATURATED: the loadgen, not the server, was the limit" : ""}`,
    ...run.failures.map((f) => `  ✗ ${f}`),
    `  results: ${base}.json, report: ${base}.html`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return run.passed ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`sluice-loadgen: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(2);
  },
);
