/**
 * What a run produces: the figures, time series and events the JSON file
 * holds and the HTML report draws. One shape for both, so the report never
 * shows a figure the file does not have.
 */

/** Latency percentiles of one histogram, in milliseconds. */
export interface LatencySummary {
  /** Samples recorded. */
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

/** What the verifier found, over every subscriber of the run. */
export interface VerificationTotals {
  /** Items the loadgen's publishers sent. */
  readonly published: number;
  /** Of those, acked by the server. */
  readonly acked: number;
  /** Items subscribers received (each subscriber counts its own). */
  readonly delivered: number;
  /** Acked items a subscriber should have received, did not, and no gap explains: a failure. */
  readonly lost: number;
  /** Items a subscriber received twice (the same publisher id and seq, or the same generator seq): a failure. */
  readonly duplicated: number;
  /** Items a subscriber received before an earlier one of the same publisher: a failure. */
  readonly reordered: number;
  /** Stream seqs out of order or skipped without a gap event (the client's own guarantee broken): a failure. */
  readonly seqErrors: number;
  /** Items received whose content does not match their seq (a generator item's own seq): a failure. */
  readonly contentErrors: number;
  /** Missing items that gap events account for, by gap reason (dropped_oldest, history_expired, …). */
  readonly gappedItems: Readonly<Record<string, number>>;
  /** Gap events by reason. */
  readonly gapsByReason: Readonly<Record<string, number>>;
  /** Sessions lost and reconnected, over all subscribers. */
  readonly reconnects: number;
  /** Sessions that resumed (Opened with a ResumeResult). */
  readonly resumes: number;
  /** Final errors and rejected publishes, by error code. */
  readonly errorsByCode: Readonly<Record<string, number>>;
}

/** A threshold of the scenario and how the run did against it. */
export interface ThresholdResult {
  /** As written in the scenario (`p99 < 20ms`, `lost == 0`, `memorySlope < 1MiB/h`). */
  readonly expression: string;
  /** The measured value in the threshold's unit (ms, items, MiB/h), or null when the run has none. */
  readonly value: number | null;
  readonly passed: boolean;
}

/** Something that happened at a moment of the run: a chaos action, a stage change, a server's exit. */
export interface RunEvent {
  /** Seconds since the run started. */
  readonly t: number;
  readonly kind: "stage" | "cut" | "freeze" | "thaw" | "kill" | "restart" | "drain" | "server-exit" | "note";
  /** What exactly (`cut 37 connections`, `SIGKILL server a (pid 1234)`). */
  readonly detail: string;
}

/**
 * Samples over time, one entry per sample interval, all arrays the length
 * of `t`. A value not measured in a run (no server metrics: an external
 * target without /metrics) is null.
 */
export interface TimeSeries {
  /** Seconds since the run started, at the end of each interval. */
  readonly t: number[];
  /** Items delivered to subscribers per second in the interval. */
  readonly deliveredPerSecond: number[];
  /** Items acked to publishers per second in the interval. */
  readonly ackedPerSecond: number[];
  /** Delivery latency in the interval (publish or source to delivery), ms. */
  readonly p50Ms: (number | null)[];
  readonly p99Ms: (number | null)[];
  readonly maxMs: (number | null)[];
  /** Subscribers with an open session. */
  readonly subscribersOpen: number[];
  /** Reconnects so far (cumulative). */
  readonly reconnects: number[];
  /** Server memory from its /metrics (the first target that answers), MiB. */
  readonly serverRssMiB: (number | null)[];
  readonly serverHeapMiB: (number | null)[];
  /** The server's event-loop lag from its /metrics, ms. */
  readonly serverEventLoopLagMs: (number | null)[];
  /** The loadgen's own process. */
  readonly loadgenRssMiB: number[];
  /** The loadgen's CPU use in the interval, percent of one core. */
  readonly loadgenCpuPercent: number[];
  /** The loadgen's own event-loop lag (how late its timers ran), ms. */
  readonly loadgenEventLoopLagMs: number[];
}

/** The memory trend of a soak run: a least-squares line through the samples after warm-up. */
export interface SoakResult {
  /** Which series: server RSS (or the loadgen's own when the server has no metrics). */
  readonly series: "serverRssMiB" | "loadgenRssMiB";
  /** The fitted slope, MiB per hour. */
  readonly slopeMiBPerHour: number;
  /** Its 95 % confidence interval. */
  readonly ciLowMiBPerHour: number;
  readonly ciHighMiBPerHour: number;
  /** The fit's start (after warm-up) and end, seconds since the run started. */
  readonly fromT: number;
  readonly toT: number;
  /** The fitted line's value at fromT, MiB (with the slope, enough to draw it). */
  readonly interceptMiB: number;
  /** Samples in the fit. */
  readonly samples: number;
  /** The slope allowed (scenario threshold, default 1 MiB/h). */
  readonly thresholdMiBPerHour: number;
  /** Memory still growing after load stopped (the last samples, when the run had a cool-down). */
  readonly growingAfterLoad: boolean | null;
  readonly passed: boolean;
}

/** Everything a run produced (the JSON file; the HTML report draws it). */
export interface RunResult {
  /** The scenario's name and the settings that make the run reproducible. */
  readonly scenario: {
    readonly name: string;
    readonly file: string | null;
    readonly seed: number;
    readonly durationSeconds: number;
    readonly targets: readonly string[];
    readonly subscribers: number;
    readonly publishers: number;
  };
  /** ISO times. */
  readonly startedAt: string;
  readonly endedAt: string;
  /** Whether the run was stopped early (Ctrl-C): the figures cover what ran. */
  readonly interrupted: boolean;
  /** Passed iff no verification failure and every threshold passed. */
  readonly passed: boolean;
  /** Why it failed, one line each (empty when it passed). */
  readonly failures: readonly string[];
  readonly verification: VerificationTotals;
  /** Publish-to-delivery (items the loadgen published) and source-to-delivery (items that carry their source time). */
  readonly latency: {
    readonly publishToDelivery: LatencySummary | null;
    readonly sourceToDelivery: LatencySummary | null;
  };
  readonly thresholds: readonly ThresholdResult[];
  readonly series: TimeSeries;
  readonly events: readonly RunEvent[];
  readonly soak: SoakResult | null;
  /** The loadgen's own load, so a run never blames the server for the loadgen's limit. */
  readonly loadgen: {
    readonly cpuPercentMean: number;
    readonly cpuPercentMax: number;
    /** True when the loadgen used more than 90 % of a core in a fifth of the samples or more: the figures show the loadgen's limit, not the server's. */
    readonly saturated: boolean;
  };
}
