/** Scenario files: units, defaults, the flags over a file, and every problem as path: reason. */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkScenario, loadScenario, parseDuration, parseSize, parseThreshold } from "../src/scenario.js";

describe("scenario units", () => {
  it("reads durations, sizes and thresholds", () => {
    expect([parseDuration("500ms"), parseDuration("30s"), parseDuration("5m"), parseDuration("2h"), parseDuration(1.5), parseDuration("soon")]).toEqual([500, 30_000, 300_000, 7_200_000, 1_500, undefined]);
    expect([parseSize(64), parseSize("1KiB"), parseSize("4MiB"), parseSize("lots")]).toEqual([64, 1024, 4 * 1024 * 1024, undefined]);
    expect(parseThreshold("p99 < 20ms")).toMatchObject({ metric: "p99", op: "<", bound: 20 });
    expect(parseThreshold("p99 < 1s")).toMatchObject({ bound: 1_000 });
    expect(parseThreshold("memorySlope < 512KiB/h")).toMatchObject({ metric: "memorySlope", bound: 0.5 });
    expect(parseThreshold("serverRssMax < 300MiB")).toMatchObject({ bound: 300 });
    expect(parseThreshold("lost == 0")).toMatchObject({ metric: "lost", op: "==", bound: 0 });
  });
});

describe("scenario validation", () => {
  it("names every problem as path: reason", () => {
    const result = checkScenario({
      duration: "soon",
      targets: "http://127.0.0.1:1",
      subscribers: [{ count: 0, stream: "news", transports: ["carrier-pigeon"] }],
      publishers: [{ count: 1, stream: "news", rate: "quickly", size: "huge" }],
      chaos: [{ action: "cut" }, { action: "explode", at: "1s" }],
      thresholds: ["p99 <"],
      extra: true,
    });
    expect(result.problems).toEqual([
      'duration: must be a duration such as 500ms, 30s, 5m or 2h, got "soon"',
      "subscribers.0.count: must be at least 1, got 0",
      'subscribers.0.transports: Invalid option: expected one of "http2"|"http1.1"|"websocket"',
      'publishers.0.rate: must be "fast" or a rate such as 1000/s, got "quickly"',
      'publishers.0.size: must be a size such as 64, 1KiB or 4MiB, got "huge"',
      "chaos.0: give at (once) or every (repeatedly), not both or neither",
      'chaos.1.action: Invalid option: expected one of "cut"|"freeze"|"kill"|"drain"',
      '(root): unknown key "extra"',
    ]);
  });

  it("checks what spans sections once the shape is right", () => {
    const result = checkScenario({
      duration: "10s",
      targets: "http://127.0.0.1:1",
      subscribers: [{ count: 1, stream: "orders", content: "published" }],
      chaos: [{ action: "kill", at: "1s" }, { action: "cut", every: "1s" }],
      proxy: false,
      thresholds: ["p99 < 20ms", "happiness > 3", "p99 < soon"],
    });
    expect(result.problems).toEqual([
      "chaos.0.action: kill needs a servers section (the loadgen stops and restarts only servers it started)",
      "proxy: cut and freeze run through the loadgen's TCP proxy; remove proxy: false",
      "subscribers.0.content: published, but no publisher group writes stream orders",
      'thresholds.1: unknown metric "happiness" (one of p50, p90, p99, p99.9, max, lost, duplicated, reordered, seqErrors, errors, reconnects, deliveredPerSecond, memorySlope, serverRssMax)',
      'thresholds.2: p99: "soon" is not a value in ms',
    ]);
  });

  it("takes the flags over the file: --url, --subscribers, --duration, --soak", () => {
    const result = checkScenario({}, null, { url: ["http://127.0.0.1:9"], subscribers: 5, publishers: 2, duration: 20_000, stream: "load" });
    expect(result.problems).toEqual([]);
    expect(result.scenario).toMatchObject({ targets: "http://127.0.0.1:9", loadMs: 20_000, subscribers: [{ count: 5, stream: "load" }], publishers: [{ count: 2, stream: "load", rate: 100 }] });
    const soak = checkScenario({ targets: "http://127.0.0.1:9", duration: "1m", subscribers: [{ count: 1, stream: "x" }] }, null, { soak: 7_200_000 });
    expect(soak.scenario).toMatchObject({ loadMs: 7_200_000, soak: { warmup: 60_000, maxSlope: "1MiB/h" }, thresholds: ["memorySlope < 1MiB/h"] });
  });

  it("accepts every shipped scenario", () => {
    const dir = join(import.meta.dirname, "..", "scenarios");
    const files = readdirSync(dir).filter((f) => f.endsWith(".yaml") && !f.startsWith("server-"));
    expect(files.sort()).toEqual(["chaos.yaml", "fanout-nats.yaml", "idle-10k.yaml", "slow-consumers.yaml", "smoke.yaml", "soak-10m.yaml", "soak.yaml"]);
    for (const file of files) expect(loadScenario(join(dir, file)).problems, file).toEqual([]);
  });
});
