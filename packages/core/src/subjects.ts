/**
 * Subjects and subject patterns (PROTOCOL.md §7.10), with NATS's rules: a
 * subject is tokens separated by ".", a pattern may use "*" for exactly one
 * token and ">" for one or more tokens at its end. One implementation, for
 * every engine and the server's stream resolution, so that the in-memory
 * topic and JetStream agree on what matches.
 */

/** The longest subject or pattern, in UTF-16 code units (the stream name limit). */
export const MAX_SUBJECT_LENGTH = 256;

/** Characters no token may hold: the separator, whitespace and control characters. */
const FORBIDDEN = /[\s\p{Cc}]/u;

/**
 * Why `text` is not a subject pattern (undefined: it is one): empty tokens,
 * whitespace, a wildcard inside a token, ">" before the last token.
 */
export function patternProblem(text: string): string | undefined {
  if (text.length === 0) return "is empty";
  if (text.length > MAX_SUBJECT_LENGTH) return `is ${text.length} characters long, over the limit of ${MAX_SUBJECT_LENGTH}`;
  const tokens = text.split(".");
  for (const [i, token] of tokens.entries()) {
    if (token.length === 0) return `token ${i + 1} is empty (a subject is tokens separated by single dots)`;
    if (FORBIDDEN.test(token)) return `token ${i + 1} (${JSON.stringify(token)}) holds whitespace or a control character`;
    if (token === ">" && i !== tokens.length - 1) return `">" may only be the last token`;
    if (token.length > 1 && (token.includes("*") || token.includes(">"))) return `token ${i + 1} (${JSON.stringify(token)}) mixes a wildcard with other characters: a wildcard is a whole token`;
  }
  return undefined;
}

/** Why `text` is not a subject (a pattern without wildcards); undefined: it is one. */
export function subjectProblem(text: string): string | undefined {
  const problem = patternProblem(text);
  if (problem) return problem;
  if (isPattern(text)) return `holds a wildcard ("*" or ">"): a subject names one place to publish to`;
  return undefined;
}

/** Whether `pattern` has a wildcard token (it may match more than one subject). */
export function isPattern(pattern: string): boolean {
  return pattern.split(".").some((token) => token === "*" || token === ">");
}

/**
 * Whether `subject` matches `pattern` (both valid): tokens equal one by one,
 * "*" takes any one token, a final ">" any one or more.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const token = p[i]!;
    if (token === ">") return s.length > i;
    if (i >= s.length) return false;
    if (token !== "*" && token !== s[i]) return false;
  }
  return p.length === s.length;
}

/**
 * A compiled pattern for hot paths (a topic tests every published item
 * against each subscriber's pattern): the split is done once.
 */
export class SubjectFilter {
  readonly #tokens: readonly string[];
  readonly #exact: boolean;

  constructor(
    /** The pattern (valid: see patternProblem). */
    readonly pattern: string,
  ) {
    this.#tokens = pattern.split(".");
    this.#exact = !isPattern(pattern);
  }

  /** Whether `subject` matches the pattern. */
  matches(subject: string): boolean {
    if (this.#exact) return subject === this.pattern;
    const p = this.#tokens;
    let start = 0;
    for (let i = 0; i < p.length; i++) {
      const token = p[i]!;
      if (start > subject.length) return false;
      if (token === ">") return start < subject.length;
      let end = subject.indexOf(".", start);
      if (end === -1) end = subject.length;
      if (token !== "*" && (end - start !== token.length || !subject.startsWith(token, start))) return false;
      if (token === "*" && end === start) return false;
      start = end + 1;
    }
    return start === subject.length + 1;
  }
}

/**
 * Whether every subject `pattern` matches lies under `root`: the root
 * itself or any subject below it (`root.>`). Which topic a subscription
 * to a pattern reads.
 */
export function patternUnder(pattern: string, root: string): boolean {
  return pattern === root || (pattern.startsWith(root + ".") && pattern.length > root.length + 1);
}
