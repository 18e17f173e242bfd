/**
 * Item latency in HDR histograms (microsecond resolution, up to an hour):
 * one for the whole run and one per sample interval, per kind
 * (publish-to-delivery, source-to-delivery).
 */
import hdr from "hdr-histogram-js";
import type { LatencySummary } from "./results.js";

/** The most a latency can be, in µs: anything above is recorded as this. */
const HIGHEST_US = 3_600_000_000;

function histogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3 });
}

/** A histogram's percentiles in ms (null when empty). */
export function summarize(h: hdr.Histogram): LatencySummary | null {
  if (h.totalCount === 0) return null;
  const ms = (us: number) => Math.round(us) / 1_000;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

/** Overall and per-interval latency of one kind. */
export class LatencyRecorder {
  readonly overall = histogram();
  readonly interval = histogram();

  /** Records one item's latency, in ms (negative clock skew counts as 0). */
  record(ms: number): void {
    const us = Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1_000)));
    this.overall.recordValue(us);
    this.interval.recordValue(us);
  }

  /** The interval's summary, and a fresh interval. */
  takeInterval(): LatencySummary | null {
    const summary = summarize(this.interval);
    this.interval.reset();
    return summary;
  }
}
