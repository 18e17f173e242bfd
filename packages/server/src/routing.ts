/**
 * Publish routing (PROTOCOL.md §7.10): which subject of a topic a published
 * item goes to, decided per item from its JSON content, in a fixed order:
 *
 * 1. custom: a mapping table from one field's value to a subject;
 * 2. content: rules on fields (`==`, `!=`, `in`, `<`, `<=`, `>`, `>=`), the first that matches wins;
 * 3. template: a subject built from fields (`sensors.{site}.{kind}`), when every field is there and is a valid token;
 * 4. fallback: a fixed subject.
 *
 * An item none of them routes is refused (a dead letter naming why). Rules
 * are checked when the router is built, each problem as `path: reason`, so
 * a config that cannot route is refused before the server starts.
 */
import { SluiceError, type JsonValue } from "@sluice/core";
import { checkTopicSubject } from "./topic.js";

/** How a routing rule compares a field with its value. */
export type RouteOperator = "==" | "!=" | "in" | "<" | "<=" | ">" | ">=";

/** One content rule: when the item's `field` compares true with `value`, it goes to `subject`. */
export interface ContentRule {
  /** A dot path into the item's JSON (`site`, `meta.kind`). */
  readonly field: string;
  /** The comparison; numeric ones need a number on both sides, `in` a list as `value`. */
  readonly op: RouteOperator;
  /** What the field is compared with. */
  readonly value: JsonValue;
  /** Where a matching item goes. */
  readonly subject: string;
}

/** A mapping table: the item's `field` value (as text) names its subject. */
export interface RouteMapping {
  /** A dot path into the item's JSON. */
  readonly field: string;
  /** Field value → subject. */
  readonly subjects: Readonly<Record<string, string>>;
}

/** How a stream's published items find their subject (see the module comment for the order). */
export interface RouteRules {
  /** Step 1: a mapping table. */
  readonly map?: RouteMapping;
  /** Step 2: content rules, first match wins. */
  readonly rules?: readonly ContentRule[];
  /** Step 3: a subject template with `{field}` placeholders (dot paths). */
  readonly template?: string;
  /** Step 4: the subject for everything else. */
  readonly fallback?: string;
}

/** Which step routed an item. */
export type RouteKind = "custom" | "content" | "template" | "fallback";

/** Items routed by each step, and refused for having no route. */
export interface RouteStats {
  /** By the mapping table. */
  custom: number;
  /** By a content rule. */
  content: number;
  /** By the template. */
  template: number;
  /** By the fallback subject. */
  fallback: number;
  /** By nothing: refused. */
  unrouted: number;
}

/** An item's subject, and the step that chose it. */
export interface Routed {
  /** The subject under the topic. */
  readonly subject: string;
  /** Which step chose it. */
  readonly kind: RouteKind;
}

/** Why an item has nowhere to go (it becomes a dead letter with this reason). */
export interface Unrouted {
  /** Never set: tells the two decisions apart. */
  readonly subject?: undefined;
  /** `no route: …`. */
  readonly reason: string;
}

/** Where an item goes, and which step decided it; or why it has nowhere to go. */
export type RouteDecision = Routed | Unrouted;

const OPERATORS: readonly RouteOperator[] = ["==", "!=", "in", "<", "<=", ">", ">="];
const decoder = new TextDecoder();

/** A field of an object by dot path (undefined when any step is missing). */
function fieldOf(value: unknown, path: readonly string[]): unknown {
  let at = value;
  for (const key of path) {
    if (at === null || typeof at !== "object" || Array.isArray(at) || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

function equal(a: unknown, b: JsonValue): boolean {
  return (typeof a === "string" || typeof a === "number" || typeof a === "boolean" || a === null) && a === b;
}

function compare(op: RouteOperator, field: unknown, value: JsonValue): boolean {
  switch (op) {
    case "==":
      return equal(field, value);
    case "!=":
      return field !== undefined && !equal(field, value);
    case "in":
      return (value as JsonValue[]).some((v) => equal(field, v));
    default: {
      if (typeof field !== "number" || typeof value !== "number") return false;
      if (op === "<") return field < value;
      if (op === "<=") return field <= value;
      if (op === ">") return field > value;
      return field >= value;
    }
  }
}

/** A template cut into literal text and field paths. */
type TemplatePart = { readonly text: string } | { readonly path: readonly string[] };

/** A field value usable as a subject token: a string or number with no dot, wildcard or whitespace. */
function tokenOf(value: unknown): string | undefined {
  // A number is its text: 1.5 has a dot and is no token (it would be two).
  const text = typeof value === "number" && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== "string" || text.length === 0 || /[.*>\s\p{Cc}]/u.test(text)) return undefined;
  return text;
}

/**
 * The routing of one topic stream's published items: built from
 * {@link RouteRules} (refused with invalid_argument naming the rule's path),
 * then asked per item.
 */
export class SubjectRouter {
  /** Items routed by each step. */
  readonly stats: RouteStats = { custom: 0, content: 0, template: 0, fallback: 0, unrouted: 0 };
  readonly #map: { readonly path: readonly string[]; readonly subjects: ReadonlyMap<string, string> } | undefined;
  readonly #rules: readonly (ContentRule & { readonly path: readonly string[] })[];
  readonly #template: readonly TemplatePart[] | undefined;
  readonly #fallback: string | undefined;
  /** Whether any step reads the item's fields (otherwise the JSON is not parsed). */
  readonly #readsFields: boolean;

  constructor(
    /** The topic the subjects lie under. */
    readonly topic: string,
    rules: RouteRules,
    /** Where the rules sit in the config, for errors (`streams.sensors.publish.route`). */
    at = "route",
  ) {
    const fail = (path: string, reason: string) => {
      const field = path ? `${at}.${path}` : at;
      return new SluiceError("invalid_argument", `${field}: ${reason}`, { field });
    };
    const subject = (path: string, text: unknown) => {
      if (typeof text !== "string") throw fail(path, `must be a subject (text), got ${JSON.stringify(text)}`);
      try {
        checkTopicSubject(topic, text);
      } catch (error) {
        throw fail(path, (error as Error).message);
      }
      return text;
    };
    const path = (where: string, field: unknown) => {
      if (typeof field !== "string" || field.length === 0 || field.split(".").some((key) => key.length === 0)) throw fail(where, `must be a dot path of field names, got ${JSON.stringify(field)}`);
      return field.split(".");
    };
    if (rules.map) {
      const subjects = new Map<string, string>();
      if (rules.map.subjects === null || typeof rules.map.subjects !== "object") throw fail("map.subjects", "must be a table of field value → subject");
      for (const [value, target] of Object.entries(rules.map.subjects)) subjects.set(value, subject(`map.subjects.${value}`, target));
      this.#map = { path: path("map.field", rules.map.field), subjects };
    }
    this.#rules = (rules.rules ?? []).map((rule, i) => {
      if (!OPERATORS.includes(rule.op)) throw fail(`rules[${i}].op`, `must be one of ${OPERATORS.join(" ")}, got ${JSON.stringify(rule.op)}`);
      if (rule.op === "in" && !Array.isArray(rule.value)) throw fail(`rules[${i}].value`, `"in" needs a list of values`);
      if (["<", "<=", ">", ">="].includes(rule.op) && typeof rule.value !== "number") throw fail(`rules[${i}].value`, `"${rule.op}" needs a number, got ${JSON.stringify(rule.value)}`);
      if (rule.value === undefined) throw fail(`rules[${i}].value`, "is required");
      return { ...rule, path: path(`rules[${i}].field`, rule.field), subject: subject(`rules[${i}].subject`, rule.subject) };
    });
    if (rules.template !== undefined) this.#template = this.#parseTemplate(rules.template, fail);
    if (rules.fallback !== undefined) this.#fallback = subject("fallback", rules.fallback);
    if (!this.#map && this.#rules.length === 0 && !this.#template && this.#fallback === undefined) throw fail("", "routes nothing: give a map, rules, a template or a fallback");
    this.#readsFields = this.#map !== undefined || this.#rules.length > 0 || this.#template !== undefined;
  }

  /** The subject for one item (and counts the step that chose it), or why there is none. */
  route(data: Uint8Array): RouteDecision {
    let item: unknown;
    if (this.#readsFields) {
      try {
        item = JSON.parse(decoder.decode(data));
      } catch {
        item = undefined;
      }
    }
    if (item !== undefined) {
      if (this.#map) {
        const value = fieldOf(item, this.#map.path);
        const target = typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? this.#map.subjects.get(String(value)) : undefined;
        if (target !== undefined) return this.#decided(target, "custom");
      }
      for (const rule of this.#rules) if (compare(rule.op, fieldOf(item, rule.path), rule.value)) return this.#decided(rule.subject, "content");
      if (this.#template) {
        const built = this.#fill(this.#template, item);
        if (built !== undefined) return this.#decided(built, "template");
      }
    }
    if (this.#fallback !== undefined) return this.#decided(this.#fallback, "fallback");
    this.stats.unrouted++;
    return { reason: item === undefined && this.#readsFields ? `no route: the item is not JSON and stream ${this.topic} has no fallback subject` : `no route: no mapping, rule or template matched the item and stream ${this.topic} has no fallback subject` };
  }

  #decided(subject: string, kind: RouteKind): RouteDecision {
    this.stats[kind]++;
    return { subject, kind };
  }

  #parseTemplate(template: string, fail: (path: string, reason: string) => SluiceError): TemplatePart[] {
    const parts: TemplatePart[] = [];
    const pattern = /\{([^{}]*)\}/g;
    let last = 0;
    for (const match of template.matchAll(pattern)) {
      if (match.index > last) parts.push({ text: template.slice(last, match.index) });
      const field = match[1]!;
      if (field.length === 0 || field.split(".").some((key) => key.length === 0)) throw fail("template", `placeholder {${field}} must name a field (a dot path)`);
      parts.push({ path: field.split(".") });
      last = match.index + match[0].length;
    }
    if (last < template.length) parts.push({ text: template.slice(last) });
    if (/[{}]/.test(parts.map((p) => ("text" in p ? p.text : "")).join(""))) throw fail("template", `unbalanced braces in ${JSON.stringify(template)}`);
    if (!parts.some((p) => "path" in p)) throw fail("template", `has no {field} placeholder: use fallback for a fixed subject`);
    // Checked with sample tokens: the literal parts must make a subject under the topic.
    const sample = parts.map((p) => ("text" in p ? p.text : "x")).join("");
    try {
      checkTopicSubject(this.topic, sample);
    } catch (error) {
      throw fail("template", `${JSON.stringify(template)} does not make a subject under topic ${this.topic}: ${(error as Error).message}`);
    }
    return parts;
  }

  /** The template filled from the item, or undefined when a field is missing or is no valid token. */
  #fill(parts: readonly TemplatePart[], item: unknown): string | undefined {
    let subject = "";
    for (const part of parts) {
      if ("text" in part) subject += part.text;
      else {
        const token = tokenOf(fieldOf(item, part.path));
        if (token === undefined) return undefined;
        subject += token;
      }
    }
    return subject;
  }
}
