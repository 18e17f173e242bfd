/**
 * Where a Node process's time went during a run of latency-load-bench.ts:
 * its GC pauses by kind (perf_hooks "gc" entries) and its event-loop delay
 * (monitorEventLoopDelay, 1 ms resolution). Used by the server and by the
 * bench process (the Node clients).
 */
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";

/** One kind of GC pause over a run: how many, their total and the longest, ms. */
export interface Pauses {
  count: number;
  ms: number;
  maxMs: number;
}

/** A process's pauses over a run. */
export interface ProcessStats {
  /** By kind: scavenge (minor), mark-compact (major), incremental marking, weak callbacks. */
  readonly gc: Record<"minor" | "major" | "incremental" | "weakcb", Pauses>;
  /** Event-loop delay p99 and max, ms. */
  readonly loopDelay: { readonly p99: number; readonly max: number };
}

/** perf_hooks' NODE_PERFORMANCE_GC_* kinds. */
const KINDS: Record<number, keyof ProcessStats["gc"]> = { 1: "minor", 4: "major", 8: "incremental", 16: "weakcb" };

/** Starts watching this process; stop() answers what happened since. */
export function watchProcess(): { stop(): ProcessStats } {
  const gc: ProcessStats["gc"] = { minor: { count: 0, ms: 0, maxMs: 0 }, major: { count: 0, ms: 0, maxMs: 0 }, incremental: { count: 0, ms: 0, maxMs: 0 }, weakcb: { count: 0, ms: 0, maxMs: 0 } };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const pauses = gc[KINDS[(entry as { detail?: { kind?: number } }).detail?.kind ?? 1] ?? "minor"];
      pauses.count++;
      pauses.ms += entry.duration;
      pauses.maxMs = Math.max(pauses.maxMs, entry.duration);
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  return {
    stop: () => {
      loopDelay.disable();
      observer.disconnect();
      return { gc, loopDelay: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 } };
    },
  };
}

/** One line: "GC minor 40× 120 ms (max 4.1), major 3× 30 ms (max 15.2), …; loop delay p99 6.1 max 28.0 ms". */
export function describe(stats: ProcessStats): string {
  const kinds = Object.entries(stats.gc)
    .filter(([, p]) => p.count > 0)
    .map(([kind, p]) => `${kind} ${p.count}× ${p.ms.toFixed(0)} ms (max ${p.maxMs.toFixed(1)})`);
  return `GC ${kinds.join(", ") || "none"}; loop delay p99 ${stats.loopDelay.p99.toFixed(1)} max ${stats.loopDelay.max.toFixed(1)} ms`;
}
