import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isPattern, patternProblem, patternUnder, SubjectFilter, subjectMatches, subjectProblem } from "./subjects.js";

const token = fc.stringMatching(/^[a-z0-9_-]{1,4}$/);
const subject = fc.array(token, { minLength: 1, maxLength: 5 }).map((tokens) => tokens.join("."));
/** A pattern made from a subject: some tokens become "*", maybe its tail ">". */
const patternOf = (s: string) =>
  fc.tuple(fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), fc.nat({ max: 5 })).map(([stars, cut]) => {
    const tokens = s.split(".").map((t, i) => (stars[i] ? "*" : t));
    return cut > 0 && cut <= tokens.length ? [...tokens.slice(0, cut - 1), ">"].join(".") : tokens.join(".");
  });

/** The rules written out plainly, to check the two matchers against. */
function reference(pattern: string, s: string): boolean {
  const p = pattern.split(".");
  const t = s.split(".");
  if (p.at(-1) === ">") return t.length >= p.length && p.slice(0, -1).every((x, i) => x === "*" || x === t[i]);
  return p.length === t.length && p.every((x, i) => x === "*" || x === t[i]);
}

describe("subjects", () => {
  it("matches NATS's wildcard rules", () => {
    expect(subjectMatches("sensors.*.temp", "sensors.a.temp")).toBe(true);
    expect(subjectMatches("sensors.*.temp", "sensors.a.b.temp")).toBe(false);
    expect(subjectMatches("sensors.*.temp", "sensors.a.hum")).toBe(false);
    expect(subjectMatches("sensors.>", "sensors.a")).toBe(true);
    expect(subjectMatches("sensors.>", "sensors.a.b.c")).toBe(true);
    expect(subjectMatches("sensors.>", "sensors")).toBe(false);
    expect(subjectMatches("sensors", "sensors")).toBe(true);
    expect(subjectMatches("*", "a.b")).toBe(false);
  });

  it("agrees with the plain rules, compiled or not, on random subjects and patterns", () => {
    const cases = fc.tuple(subject, subject).chain(([a, b]) => fc.tuple(fc.constant(a), fc.constant(b), patternOf(a)));
    fc.assert(
      fc.property(cases, ([a, b, pattern]) => {
        expect(patternProblem(pattern)).toBeUndefined();
        const filter = new SubjectFilter(pattern);
        for (const s of [a, b]) {
          expect(subjectMatches(pattern, s)).toBe(reference(pattern, s));
          expect(filter.matches(s)).toBe(reference(pattern, s));
        }
        // A pattern made from a subject always matches it.
        expect(filter.matches(a)).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it("names what is wrong with a bad subject or pattern", () => {
    expect(patternProblem("")).toBe("is empty");
    expect(patternProblem("a..b")).toMatch(/token 2 is empty/);
    expect(patternProblem("a.>.b")).toMatch(/">" may only be the last token/);
    expect(patternProblem("a.b*")).toMatch(/token 2 .* mixes a wildcard/);
    expect(patternProblem("a b")).toMatch(/whitespace/);
    expect(patternProblem("x".repeat(257))).toMatch(/over the limit of 256/);
    expect(subjectProblem("a.*")).toMatch(/holds a wildcard/);
    expect(subjectProblem("a.b")).toBeUndefined();
    expect(isPattern("a.*.b")).toBe(true);
    expect(isPattern("a.b")).toBe(false);
  });

  it("refuses any text with an empty token or a misplaced wildcard, and accepts what it matches against", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (text) => {
        const problem = patternProblem(text);
        const tokens = text.split(".");
        const bad = text.length === 0 || tokens.some((t, i) => t.length === 0 || /[\s\p{Cc}]/u.test(t) || (t === ">" && i < tokens.length - 1) || (t.length > 1 && /[*>]/.test(t)));
        expect(problem !== undefined).toBe(bad);
      }),
    );
  });

  it("tells which patterns lie under a topic", () => {
    expect(patternUnder("sensors", "sensors")).toBe(true);
    expect(patternUnder("sensors.>", "sensors")).toBe(true);
    expect(patternUnder("sensors.*.temp", "sensors")).toBe(true);
    expect(patternUnder("sensorsx.a", "sensors")).toBe(false);
    expect(patternUnder("*.temp", "sensors")).toBe(false);
  });
});
