/**
 * @sluice/loadgen: load, chaos and soak runs against Sluice servers that
 * verify every item (nothing lost, duplicated or reordered), with HDR
 * latency, a live view, a JSON file and a self-contained HTML report.
 *
 * @module @sluice/loadgen
 */
export { runScenario, type RunOptions, type Progress } from "./runner.js";
export { loadScenario, checkScenario, parseDuration, parseSize, parseThreshold, type Scenario, type ScenarioOverrides, type ScenarioResult } from "./scenario.js";
export { renderReport, writeReport } from "./report.js";
export { PublishLedger, SubscriberVerifier, verify } from "./verifier.js";
export type { RunResult, VerificationTotals, LatencySummary, TimeSeries, RunEvent, ThresholdResult, SoakResult } from "./results.js";
