/**
 * Prometheus metrics (prom-client). Totals are ended sessions plus the live
 * counters of open ones, read at scrape time, so a long-lived stream shows
 * progress without per-item work on the hot path.
 */
import type { LagThrottle, Priority } from "@sluice/core";
import type { IngestOutcome, SessionOutcome, SinkQueue, SluiceServer, SubjectRouter, TopicEngine } from "@sluice/server";
import { NatsTopic } from "@sluice/topic-nats";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

interface Totals {
  items: number;
  bytes: number;
  creditStallMs: number;
  resumes: number;
}

export interface Metrics {
  readonly registry: Registry;
  /** Wire to SluiceServerOptions.onSessionEnd. */
  sessionEnded(outcome: SessionOutcome): void;
  /** Wire to SluiceServerOptions.onRtt. */
  rtt(stream: string, rttMs: number): void;
  /** Wire to SluiceServerOptions.onItemLatency. */
  itemLatency(stream: string, stage: "sent" | "acked", latencyMs: number): void;
  /** Wire to NatsTopicOptions.onPublishLatency. */
  natsPublished(topic: string, ms: number): void;
  /** Wire to SluiceServerOptions.onPublished (topics accept every item: dead letters come with a sink that refuses). */
  published(stream: string, accepted: number, deadLettered: number): void;
  /** Wire to SluiceServerOptions.onPublishEnd. */
  publishEnded(outcome: IngestOutcome): void;
  /** Call once the SluiceServer exists. */
  /** The server, its topics and the configured stream names (the only stream labels; anything else is "(unknown)"). */
  attach(server: SluiceServer, topics: ReadonlyMap<string, TopicEngine>, streams: Iterable<string>): void;
}

/** What the log destination reports (log-destination.ts). */
export interface LogCounts {
  readonly written: number;
  readonly dropped: number;
}

export function createMetrics(logCounts?: LogCounts): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  if (logCounts) {
    new Counter({
      name: "sluice_log_lines_dropped_total",
      help: "Log lines dropped because the log reader did not keep up, or is gone (the server keeps serving).",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(logCounts.dropped);
      },
    });
  }
  const ended = new Map<string, Totals>();
  let server: SluiceServer | undefined;
  /**
   * Stream labels are the configured names only: a client asking for
   * streams that do not exist must not create series (each name cost six),
   * so every other name, and a session that ended before naming one, is
   * "(unknown)".
   */
  let configured: ReadonlySet<string> = new Set();
  const label = (stream: string) => (configured.has(stream) ? stream : "(unknown)");
  let topics: ReadonlyMap<string, TopicEngine> = new Map();

  /** Ended totals plus the open sessions' live counters, per stream. */
  const totals = (): Map<string, Totals> => {
    const out = new Map<string, Totals>();
    for (const [stream, t] of ended) out.set(stream, { ...t });
    for (const view of server?.sessions() ?? []) {
      if (!configured.has(view.stream)) continue;
      const t = out.get(view.stream) ?? { items: 0, bytes: 0, creditStallMs: 0, resumes: 0 };
      t.items += view.counters.itemsSent;
      t.bytes += view.counters.bytesSent;
      t.creditStallMs += view.counters.creditStallMs;
      t.resumes += view.counters.resumes;
      out.set(view.stream, t);
    }
    return out;
  };

  new Gauge({
    name: "sluice_active_streams",
    help: "Open subscription sessions, by stream.",
    labelNames: ["stream"],
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const view of server?.sessions() ?? []) if (configured.has(view.stream)) counts.set(view.stream, (counts.get(view.stream) ?? 0) + 1);
      for (const [stream, n] of counts) this.set({ stream }, n);
    },
  });
  const fromTotals = (name: string, help: string, pick: (t: Totals) => number) =>
    new Counter({
      name,
      help,
      labelNames: ["stream"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [stream, t] of totals()) this.inc({ stream }, pick(t));
      },
    });
  fromTotals("sluice_items_sent_total", "Items sent to subscribers, by stream.", (t) => t.items);
  fromTotals("sluice_bytes_sent_total", "Item payload bytes sent, by stream.", (t) => t.bytes);
  fromTotals("sluice_credit_stall_seconds_total", "Time senders waited for client credit (slow consumers), by stream.", (t) => t.creditStallMs / 1000);
  fromTotals("sluice_resumes_total", "Sessions opened with a resume position, by stream.", (t) => t.resumes);
  const sessions = new Counter({ name: "sluice_sessions_ended_total", help: "Ended sessions, by stream and outcome (end, cancelled, disconnected, or the error code).", labelNames: ["stream", "outcome"], registers: [registry] });
  const errors = new Counter({ name: "sluice_errors_total", help: "Sessions that ended with an error, by stream and Sluice error code.", labelNames: ["stream", "code"], registers: [registry] });
  const rtt = new Histogram({ name: "sluice_heartbeat_rtt_seconds", help: "Heartbeat round-trip time to clients.", labelNames: ["stream"], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] });
  const itemLatency = new Histogram({
    name: "sluice_item_latency_seconds",
    help: "Time from the source yielding an item until its chunk went to the transport (stage=sent: flush delay, credit waits, backpressure) and until the client acked it (stage=acked: plus network, the client's queue and its ack delay, <= 50 ms by default). Sampled: at most one item per 10 ms per session and stage.",
    labelNames: ["stream", "stage"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  new Counter({
    name: "sluice_topic_dropped_total",
    help: "Items dropped for slow subscribers (reported to them as gaps), by topic.",
    labelNames: ["topic"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, topic] of topics) this.inc({ topic: name }, topic.stats.dropped);
    },
  });
  new Gauge({
    name: "sluice_topic_queue_utilisation",
    help: "Largest subscriber queue seen as a fraction of its capacity, by topic.",
    labelNames: ["topic"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, topic] of topics) this.set({ topic: name }, topic.stats.maxQueued / topic.queueItems);
    },
  });

  new Gauge({
    name: "sluice_nats_consumer_pending",
    help: "Messages of a NATS JetStream topic after the positions of this instance's subscribers (what their sessions took), summed over them, up to the newest seq this instance knows of, by topic (topics.engine: nats).",
    labelNames: ["topic"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, topic] of topics) if (topic instanceof NatsTopic) this.set({ topic: name }, topic.consumerPending);
    },
  });

  for (const [name, pick, help] of [
    ["sluice_nats_redelivered_total", (t: NatsTopic) => t.stats.redelivered, "Messages JetStream delivered again to this instance's subscribers after their ordered consumer was reset, skipped because they were handed on already, by topic (topics.engine: nats)."],
    ["sluice_nats_consumer_resets_total", (t: NatsTopic) => t.stats.consumerResets, "Times a subscriber's ordered JetStream consumer was recreated (missed heartbeats, a reconnect to NATS), by topic (topics.engine: nats)."],
  ] as const) {
    new Counter({
      name,
      help,
      labelNames: ["topic"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [topicName, topic] of topics) if (topic instanceof NatsTopic) this.inc({ topic: topicName }, pick(topic));
      },
    });
  }
  new Counter({
    name: "sluice_route_decisions_total",
    help: "Published items routed to a subject of a topic stream, by stream and the step that chose it: custom (the mapping table), content (a rule), template, fallback; unrouted ones were dead-lettered.",
    labelNames: ["stream", "kind"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [stream, router] of server?.publishRouters ?? new Map<string, SubjectRouter>()) {
        for (const kind of ["custom", "content", "template", "fallback", "unrouted"] as const) this.inc({ stream: label(stream), kind }, router.stats[kind]);
      }
    },
  });

  const publishedItems = new Counter({
    name: "sluice_published_items_total",
    help: "Items clients published that the stream accepted (each acked to its publisher once), by stream.",
    labelNames: ["stream"],
    registers: [registry],
  });
  const deadLetteredItems = new Counter({
    name: "sluice_dead_lettered_items_total",
    help: "Items clients published that the stream refused into its dead-letter stream (validation, maxItemBytes, the sink), each reported to its publisher once, by stream.",
    labelNames: ["stream"],
    registers: [registry],
  });
  new Gauge({
    name: "sluice_active_publishers",
    help: "Open streaming publish sessions (half-duplex batches are calls, not sessions).",
    registers: [registry],
    collect() {
      this.set(server?.activePublishSessions ?? 0);
    },
  });
  const throttles = (): ReadonlyMap<string, LagThrottle> => server?.publishThrottles ?? new Map();
  const fromThrottles = (name: string, help: string, kind: "gauge" | "counter", pick: (t: LagThrottle) => number) => {
    const Metric = kind === "gauge" ? Gauge : Counter;
    new Metric({
      name,
      help,
      labelNames: ["stream"],
      registers: [registry],
      collect(this: Gauge | Counter) {
        this.reset();
        for (const [stream, throttle] of throttles()) {
          if (this instanceof Gauge) this.set({ stream: label(stream) }, pick(throttle));
          else this.inc({ stream: label(stream) }, pick(throttle));
        }
      },
    });
  };
  const STATE_NUMBER = { normal: 0, throttled: 1, backoff: 2 } as const;
  fromThrottles("sluice_publish_throttle_state", "Lag throttle of a stream's publishers: 0 normal, 1 throttled (a fixed delay per batch), 2 backoff (exponential delays), by stream.", "gauge", (t) => STATE_NUMBER[t.state]);
  fromThrottles("sluice_publish_throttle_level", "Backoff level of a stream's lag throttle (0: none), by stream.", "gauge", (t) => t.level);
  fromThrottles("sluice_publish_consumer_lag", "Consumer lag at the last throttle check: items between the newest and the slowest subscriber's position, by stream.", "gauge", (t) => t.lag);
  fromThrottles("sluice_publish_throttle_adjustments_total", "Changes of a lag throttle's state or backoff level, by stream.", "counter", (t) => t.counters.adjustments);
  fromThrottles("sluice_publish_throttled_batches_total", "Publish batches that waited for the lag throttle, by stream.", "counter", (t) => t.counters.throttledBatches);
  const LEVELS = ["critical", "high", "normal", "low"] as const;
  const fromQueues = (name: string, help: string, kind: "gauge" | "counter", pick: (q: SinkQueue, level: number) => number) => {
    const Metric = kind === "gauge" ? Gauge : Counter;
    new Metric({
      name,
      help,
      labelNames: ["stream", "priority"],
      registers: [registry],
      collect(this: Gauge | Counter) {
        this.reset();
        for (const [stream, queue] of server?.publishQueues ?? new Map<string, SinkQueue>()) {
          LEVELS.forEach((priority, level) => {
            const labels = { stream: label(stream), priority };
            if (this instanceof Gauge) this.set(labels, pick(queue, level));
            else this.inc(labels, pick(queue, level));
          });
        }
      },
    });
  };
  fromQueues("sluice_ingest_queue_waiting_batches", "Publish batches waiting in a stream's ingest queue for its sink, by stream and priority.", "gauge", (q, level) => q.waitingAt(level as Priority));
  fromQueues("sluice_ingest_queue_dropped_items_total", "Published items the ingest queue's overflow policy dropped (each reported to its publisher), by stream and priority.", "counter", (q, level) => q.droppedItems[level]!);
  const publishSessions = new Counter({ name: "sluice_publish_sessions_ended_total", help: "Ended publish sessions, by stream and outcome (end, disconnected, or the error code).", labelNames: ["stream", "outcome"], registers: [registry] });

  // Read from the server at scrape time, as the session totals are.
  new Counter({
    name: "sluice_control_forwarded_total",
    help: "Half-duplex Control calls that reached this instance for a session another instance owns, and were forwarded to it over NATS (topics.engine: nats), whatever the answer.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(server?.controlStats.forwarded ?? 0);
    },
  });
  new Counter({
    name: "sluice_control_forward_unanswered_total",
    help: "Of the forwarded Control calls, those the owning instance did not answer in time (it is gone, or too slow); the client got unavailable.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(server?.controlStats.forwardUnanswered ?? 0);
    },
  });
  new Counter({
    name: "sluice_control_served_total",
    help: "Half-duplex Control calls other instances forwarded to this one, the owner of their session, and that it answered, whatever the answer.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(server?.controlStats.served ?? 0);
    },
  });

  const natsPublish = new Histogram({
    name: "sluice_nats_publish_seconds",
    help: "Time from a JetStream publish to its PubAck, by topic (topics.engine: nats).",
    labelNames: ["topic"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });

  return {
    registry,
    natsPublished(topic, ms) {
      // Topic names come from the config, never from a request: a bounded set.
      natsPublish.observe({ topic }, ms / 1000);
    },
    published(stream, accepted, deadLettered) {
      if (accepted > 0) publishedItems.inc({ stream: label(stream) }, accepted);
      if (deadLettered > 0) deadLetteredItems.inc({ stream: label(stream) }, deadLettered);
    },
    publishEnded(outcome) {
      publishSessions.inc({ stream: label(outcome.stream), outcome: outcome.error ? outcome.error.code : outcome.disconnected ? "disconnected" : "end" });
    },
    sessionEnded(outcome) {
      const t = ended.get(outcome.stream) ?? { items: 0, bytes: 0, creditStallMs: 0, resumes: 0 };
      t.items += outcome.counters.itemsSent;
      t.bytes += outcome.counters.bytesSent;
      t.creditStallMs += outcome.counters.creditStallMs;
      t.resumes += outcome.counters.resumes;
      if (configured.has(outcome.stream)) ended.set(outcome.stream, t);
      const kind = outcome.error ? outcome.error.code : outcome.cancelled ? "cancelled" : outcome.disconnected ? "disconnected" : "end";
      sessions.inc({ stream: label(outcome.stream), outcome: kind });
      if (outcome.error) errors.inc({ stream: label(outcome.stream), code: outcome.error.code });
    },
    rtt(stream, rttMs) {
      rtt.observe({ stream: label(stream) }, rttMs / 1000);
    },
    itemLatency(stream, stage, latencyMs) {
      itemLatency.observe({ stream: label(stream), stage }, latencyMs / 1000);
    },
    attach(s, t, streams) {
      server = s;
      topics = t;
      configured = new Set(streams);
    },
  };
}
