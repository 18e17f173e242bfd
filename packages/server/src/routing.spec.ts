import { isPattern, patternUnder } from "@sluice/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SubjectRouter, type RouteRules } from "./routing.js";

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

const RULES: RouteRules = {
  map: { field: "device", subjects: { "d-1": "sensors.lab.special", "7": "sensors.seven" } },
  rules: [
    { field: "temp", op: ">", value: 80, subject: "sensors.alerts.hot" },
    { field: "temp", op: "<=", value: -10, subject: "sensors.alerts.cold" },
    { field: "meta.site", op: "in", value: ["north", "south"], subject: "sensors.poles" },
    { field: "kind", op: "==", value: "door", subject: "sensors.doors" },
    { field: "kind", op: "!=", value: "temp", subject: "sensors.other" },
  ],
  template: "sensors.{site}.{kind}",
  fallback: "sensors.unrouted",
};

describe("SubjectRouter", () => {
  it("routes by the mapping table, then content rules (first match), then the template, then the fallback, and counts each step", () => {
    const router = new SubjectRouter("sensors", RULES);
    const route = (value: unknown) => router.route(json(value));
    expect(route({ device: "d-1", temp: 99 })).toEqual({ subject: "sensors.lab.special", kind: "custom" });
    expect(route({ device: 7 })).toEqual({ subject: "sensors.seven", kind: "custom" });
    expect(route({ temp: 81, kind: "door" })).toEqual({ subject: "sensors.alerts.hot", kind: "content" });
    expect(route({ temp: 80, site: "x", kind: "temp" })).toEqual({ subject: "sensors.x.temp", kind: "template" });
    expect(route({ temp: -10 })).toEqual({ subject: "sensors.alerts.cold", kind: "content" });
    expect(route({ meta: { site: "south" } })).toEqual({ subject: "sensors.poles", kind: "content" });
    expect(route({ kind: "door" })).toEqual({ subject: "sensors.doors", kind: "content" });
    expect(route({ kind: "hum", site: "east" })).toEqual({ subject: "sensors.other", kind: "content" });
    // A numeric rule never matches text; a field with a dot is no token for the template.
    expect(route({ temp: "90", site: "a.b", kind: "temp" })).toEqual({ subject: "sensors.unrouted", kind: "fallback" });
    expect(route({ site: 1.5, kind: "temp" })).toEqual({ subject: "sensors.unrouted", kind: "fallback" });
    expect(route({ site: 12, kind: "temp" })).toEqual({ subject: "sensors.12.temp", kind: "template" });
    expect(router.route(new TextEncoder().encode("not json"))).toEqual({ subject: "sensors.unrouted", kind: "fallback" });
    expect(router.stats).toEqual({ custom: 2, content: 5, template: 2, fallback: 3, unrouted: 0 });
  });

  it("refuses an item nothing routes when there is no fallback, saying why", () => {
    const router = new SubjectRouter("sensors", { template: "sensors.{site}" });
    expect(router.route(json({ site: "north" }))).toEqual({ subject: "sensors.north", kind: "template" });
    expect(router.route(json({ other: 1 }))).toEqual({ reason: "no route: no mapping, rule or template matched the item and stream sensors has no fallback subject" });
    expect(router.route(new TextEncoder().encode("{"))).toEqual({ reason: "no route: the item is not JSON and stream sensors has no fallback subject" });
    expect(router.stats.unrouted).toBe(2);
  });

  it("names what is wrong with a routing config, as path: reason", () => {
    const refuse = (rules: unknown) => {
      try {
        new SubjectRouter("sensors", rules as RouteRules, "streams.sensors.publish.route");
      } catch (error) {
        return (error as Error).message;
      }
      return "accepted";
    };
    expect(refuse({})).toBe("streams.sensors.publish.route: routes nothing: give a map, rules, a template or a fallback");
    expect(refuse({ fallback: "other.x" })).toMatch(/^streams\.sensors\.publish\.route\.fallback: subject "other\.x" is not under topic sensors/);
    expect(refuse({ fallback: "sensors.*" })).toMatch(/^streams\.sensors\.publish\.route\.fallback: .*holds a wildcard/);
    expect(refuse({ rules: [{ field: "t", op: ">", value: "x", subject: "sensors.a" }] })).toBe('streams.sensors.publish.route.rules[0].value: ">" needs a number, got "x"');
    expect(refuse({ rules: [{ field: "t", op: "in", value: 3, subject: "sensors.a" }] })).toBe('streams.sensors.publish.route.rules[0].value: "in" needs a list of values');
    expect(refuse({ rules: [{ field: "t", op: "~", value: 3, subject: "sensors.a" }] })).toMatch(/^streams\.sensors\.publish\.route\.rules\[0\]\.op: must be one of/);
    expect(refuse({ rules: [{ field: "a..b", op: "==", value: 3, subject: "sensors.a" }] })).toMatch(/^streams\.sensors\.publish\.route\.rules\[0\]\.field: must be a dot path/);
    expect(refuse({ template: "sensors.fixed" })).toMatch(/template: has no \{field\} placeholder/);
    expect(refuse({ template: "other.{x}" })).toMatch(/template: "other\.\{x\}" does not make a subject under topic sensors/);
    expect(refuse({ template: "sensors.{x" })).toMatch(/template: unbalanced braces/);
    expect(refuse({ map: { field: "d", subjects: { a: "elsewhere" } } })).toMatch(/^streams\.sensors\.publish\.route\.map\.subjects\.a: /);
  });

  it("answers every input, whatever its bytes or JSON, with a subject under the topic (no wildcard) or a reason; it never throws (property)", () => {
    const router = new SubjectRouter("sensors", { ...RULES, fallback: undefined } as RouteRules);
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.jsonValue().map(json),
      fc.record({ site: fc.oneof(fc.string(), fc.integer(), fc.double()), kind: fc.oneof(fc.string(), fc.constant("temp")), temp: fc.oneof(fc.double(), fc.string()), device: fc.string() }).map(json),
    );
    fc.assert(
      fc.property(input, (data) => {
        const decision = router.route(data);
        if (decision.subject === undefined) expect(decision.reason).toMatch(/^no route: /);
        else {
          expect(patternUnder(decision.subject, "sensors")).toBe(true);
          expect(isPattern(decision.subject)).toBe(false);
          expect(decision.subject.split(".").every((token) => token.length > 0 && !/\s/.test(token))).toBe(true);
          // A template's subject has exactly the template's tokens: a field never adds one.
          if (decision.kind === "template") expect(decision.subject.split(".")).toHaveLength(3);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
