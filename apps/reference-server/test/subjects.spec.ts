/**
 * Subjects and routing in the reference server (PROTOCOL.md §7.10), through
 * the built CLI and examples/sensors.yaml: readings are routed to subjects
 * by the config's route, pattern subscribers get the matching ones, the
 * decisions are counted per step in /metrics, a topic's access rules hold
 * for every subject under it, and a route that cannot work is refused as
 * path: reason.
 */
import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSluiceClient } from "@sluice/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, startCli } from "./start-cli.js";

const KEY = "sensors-key-0123456789";
const VISITOR = "visitor-key-0123456789";

interface Reading {
  readonly site?: string;
  readonly kind?: string;
  readonly value?: number;
  readonly device?: string;
  readonly n: number;
}

describe("examples/sensors.yaml", () => {
  let child: ChildProcess;
  let url = "";
  beforeAll(async () => {
    ({ child, url } = await startCli(["--config", join(import.meta.dirname, "..", "examples", "sensors.yaml")], { SENSORS_KEY: KEY, VISITOR_KEY: VISITOR }));
  });
  afterAll(() => {
    child?.kill("SIGKILL");
  });

  it("routes each reading by map, rules, template or fallback; pattern subscribers get exactly the matching ones; /metrics counts each step", async () => {
    const client = createSluiceClient({ baseUrl: url, apiKey: KEY });
    const readings: Reading[] = [
      { site: "north", kind: "temp", value: 20, n: 0 }, // template: sensors.north.temp
      { site: "south", kind: "temp", value: 95, n: 1 }, // rule: sensors.alerts.hot
      { site: "north", kind: "door", n: 2 }, // rule: sensors.access
      { device: "calibration-rig", site: "north", kind: "temp", value: 99, n: 3 }, // map: sensors.lab.calibration
      { site: "south", kind: "temp", value: 21, n: 4 }, // template: sensors.south.temp
      { n: 5 }, // fallback: sensors.unrouted
      { site: "north", kind: "hum", value: 40, n: 6 }, // template: sensors.north.hum
    ];
    const collect = (stream: string, count: number) => {
      let opened!: () => void;
      const open = new Promise<void>((resolve) => (opened = resolve));
      const done = (async () => {
        const got: { seq: number; n: number; subject: string | undefined }[] = [];
        for await (const event of client.subscribe<Reading>(stream, { onState: (s) => s.state === "open" && opened() })) {
          if (event.kind === "item") got.push({ seq: event.seq, n: event.value.n, subject: event.subject });
          if (got.length === count) break;
        }
        return got;
      })();
      return { open, done };
    };
    const temps = collect("sensors.*.temp", 2);
    const north = collect("sensors.north.>", 2);
    const alerts = collect("sensors.alerts.hot", 1);
    await Promise.all([temps.open, north.open, alerts.open]);
    const publisher = client.publish<Reading>("sensors");
    await Promise.all(readings.map((r) => publisher.send(r)));
    expect(await temps.done).toEqual([
      { seq: 1, n: 0, subject: "sensors.north.temp" },
      { seq: 2, n: 4, subject: "sensors.south.temp" },
    ]);
    expect(await north.done).toEqual([
      { seq: 1, n: 0, subject: "sensors.north.temp" },
      { seq: 2, n: 6, subject: "sensors.north.hum" },
    ]);
    expect(await alerts.done).toEqual([{ seq: 1, n: 1, subject: "sensors.alerts.hot" }]);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const decisions = Object.fromEntries([...metrics.matchAll(/^sluice_route_decisions_total\{stream="sensors",kind="(\w+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    expect(decisions).toEqual({ custom: 1, content: 2, template: 3, fallback: 1, unrouted: 0 });
    await publisher.close();
    client.close();
  });

  it("holds the topic's access rules for every subject and pattern under it: a principal the topic does not allow gets none of them", async () => {
    const visitor = createSluiceClient({ baseUrl: url, apiKey: VISITOR });
    const fail = async (stream: string) => {
      for await (const _ of visitor.subscribe(stream)) throw new Error("no item expected");
    };
    for (const stream of ["sensors", "sensors.north.temp", "sensors.>", "sensors.*.temp"]) await expect(fail(stream)).rejects.toMatchObject({ code: "permission_denied", message: `visitor may not subscribe to ${stream}` });
    await expect(visitor.publish("sensors.north.temp").send({ n: 1 })).rejects.toMatchObject({ code: "permission_denied" });
    visitor.close();
  });

  it("publishes straight to a subject named as the stream, and refuses a wildcard one", async () => {
    const client = createSluiceClient({ baseUrl: url, apiKey: KEY });
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const reading = (async () => {
      for await (const event of client.subscribe<Reading>("sensors.direct", { onState: (s) => s.state === "open" && opened() })) if (event.kind === "item") return event.value.n;
    })();
    await open;
    const direct = client.publish<Reading>("sensors.direct");
    await direct.send({ site: "north", kind: "temp", n: 42 });
    expect(await reading).toBe(42);
    await expect(client.publish<Reading>("sensors.*").send({ n: 1 })).rejects.toMatchObject({ code: "invalid_argument", message: expect.stringContaining("holds a wildcard") });
    await direct.close();
    client.close();
  });
});

describe("a route in a config", () => {
  it("that cannot work is refused by validate, each problem as path: reason", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-route-"));
    const file = join(dir, "bad-route.yaml");
    writeFileSync(
      file,
      [
        "streams:",
        "  sensors:",
        "    source: { type: topic }",
        "    publish:",
        "      route:",
        "        rules: [{ field: value, op: '>', value: hot, subject: sensors.hot }]",
        "  plants:",
        "    source: { type: topic }",
        "    publish: { route: { template: 'elsewhere.{site}' } }",
        "  ticks:",
        "    source: { type: generator }",
        "    publish: { sink: { type: postgres, table: t }, route: { fallback: ticks.x } }",
        "  empty:",
        "    source: { type: topic }",
        "    publish: { route: {} }",
      ].join("\n"),
    );
    const result = spawnSync(process.execPath, [cli, "validate", file], { encoding: "utf8" });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split("\n").slice(1)).toEqual([
      '  streams.sensors.publish.route.rules[0].value: ">" needs a number, got "hot"',
      '  streams.plants.publish.route.template: "elsewhere.{site}" does not make a subject under topic plants: subject "elsewhere.x" is not under topic plants (it must be plants or start with "plants.")',
      "  streams.ticks.publish.route: routes items to subjects of the stream's topic: only a topic stream without a publish.sink routes",
      "  streams.empty.publish.route: routes nothing: give a map, rules, a template or a fallback",
    ]);
  });
});
