/**
 * Runs the check catalogue against one server: every session check in every
 * mode and codec it applies to, the binding checks once (or in their modes),
 * one line per check as it finishes.
 */
import type { Check } from "./check.js";
import { BINDING_CHECKS } from "./checks/binding-checks.js";
import { SESSION_CHECKS } from "./checks/session-checks.js";
import { CODECS, MODES, type Mode, type Target } from "./wire/raw-session.js";
import type { Codec } from "./wire/codec.js";

/** The whole catalogue: the session checks, then the binding checks. */
export const CHECKS: readonly Check[] = [...SESSION_CHECKS, ...BINDING_CHECKS];

/** What {@link runConformance} checks: the server, and which modes, codecs and checks. */
export interface RunOptions {
  /** The server under test. */
  readonly target: Target;
  /** Modes to run (default: all three). */
  readonly modes?: readonly Mode[];
  /** Codecs to run (default: both). */
  readonly codecs?: readonly Codec[];
  /** Only checks whose title matches. */
  readonly only?: RegExp;
  /** Each check's time limit (default 30 s). */
  readonly checkTimeoutMs?: number;
  /** Called with each result as it is known. */
  readonly onResult?: (result: CheckResult) => void;
}

/** How one run of one check went. */
export interface CheckResult {
  /** The check's title. */
  readonly title: string;
  /** The PROTOCOL.md sections it checks. */
  readonly spec: string;
  /** "any" for checks run once. */
  readonly mode: Mode | "any";
  /** The codec it ran with; "any" for checks run once. */
  readonly codec: Codec | "any";
  /** Whether the server passed. */
  readonly ok: boolean;
  /** How long the run took, in milliseconds. */
  readonly ms: number;
  /** Why it failed (the violation or error), when it did. */
  readonly reason?: string;
}

/** The outcome of a whole run. */
export interface RunSummary {
  /** Every result, in the order they ran. */
  readonly results: readonly CheckResult[];
  /** Runs that passed. */
  readonly passed: number;
  /** Runs that failed. */
  readonly failed: number;
}

/**
 * Runs every check that applies against `options.target`, one after another,
 * and summarizes. Never throws for a failing server: failures are results.
 */
export async function runConformance(options: RunOptions): Promise<RunSummary> {
  const modes = options.modes ?? MODES;
  const codecs = options.codecs ?? CODECS;
  const results: CheckResult[] = [];
  for (const check of CHECKS) {
    if (options.only && !options.only.test(check.title)) continue;
    const runs: { mode: Mode | "any"; codec: Codec | "any" }[] = [];
    if (check.modes === "once") runs.push({ mode: "any", codec: "any" });
    else for (const mode of check.modes ?? MODES) if (modes.includes(mode)) for (const codec of check.codecs ?? CODECS) if (codecs.includes(codec)) runs.push({ mode, codec });
    for (const { mode, codec } of runs) {
      const start = performance.now();
      let reason: string | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          check.run({ target: options.target, mode: mode === "any" ? "http2" : mode, codec: codec === "any" ? "binary" : codec }),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no result within ${options.checkTimeoutMs ?? 30_000} ms`)), options.checkTimeoutMs ?? 30_000);
          }),
        ]);
      } catch (error) {
        reason = error instanceof Error ? `${error.name === "Violation" ? "" : `${error.name}: `}${error.message}` : String(error);
      } finally {
        clearTimeout(timer);
      }
      const result: CheckResult = { title: check.title, spec: check.spec, mode, codec, ok: reason === undefined, ms: performance.now() - start, ...(reason ? { reason } : {}) };
      results.push(result);
      options.onResult?.(result);
    }
  }
  const failed = results.filter((r) => !r.ok).length;
  return { results, passed: results.length - failed, failed };
}

/** One printed line per result: `ok   http2    binary  title (§…)  12 ms`, and the reason under a failure. */
export function formatResult(result: CheckResult): string {
  const head = `${result.ok ? "ok  " : "FAIL"}  ${result.mode.padEnd(9)} ${result.codec.padEnd(6)} ${result.title} (${result.spec})  ${Math.round(result.ms)} ms`;
  return result.ok ? head : `${head}\n        ${result.reason}`;
}
