/**
 * One run of a scenario: start the servers it names (if any) and a chaos
 * proxy in front of each target, ramp subscribers and publishers through
 * the stages, apply the chaos on schedule, sample every interval, then stop
 * the publishers, let the subscribers receive what was acked, verify, and
 * answer the RunResult. Every run is bounded: the load's length, then at
 * most the drain timeout, then the soak's cool-down.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { bytes, createSluiceClient, type NodeClientOptions, type SluiceClient, type SluicePublisher, type SluiceStream } from "@sluice/client-node";
import { SluiceError, type SubscriptionStats } from "@sluice/client-node";
import { ChaosProxy, seededRandom, type Random } from "./chaos-proxy.js";
import { LatencyRecorder, summarize } from "./latency.js";
import type { LatencySummary, RunEvent, RunResult, SoakResult, ThresholdResult, TimeSeries, VerificationTotals } from "./results.js";
import { compare, parseSlope, parseThreshold, type ChaosSpec, type PublisherGroup, type Scenario, type SubscriberGroup, type Transport } from "./scenario.js";
import { ManagedServer } from "./servers.js";
import { fitLine } from "./soak.js";
import { PublishLedger, SubscriberVerifier, failuresOf, verify, type ContentKind } from "./verifier.js";

/** What the live view shows, once per sample. */
export interface Progress {
  /** Seconds since the run started, and the load's length. */
  readonly t: number;
  readonly loadSeconds: number;
  /** "load", "drain" (waiting for subscribers to receive what was acked) or "cooldown" (soak). */
  readonly phase: "load" | "drain" | "cooldown";
  /** Which stage (1-based) of how many, when the scenario has stages. */
  readonly stage: { readonly index: number; readonly of: number } | null;
  readonly deliveredPerSecond: number;
  readonly ackedPerSecond: number;
  readonly p99Ms: number | null;
  readonly subscribersOpen: number;
  readonly subscribers: number;
  readonly publishers: number;
  readonly reconnects: number;
  /** Duplicated, reordered, seq and content errors seen so far (loss is counted at the end). */
  readonly faultsSoFar: number;
  readonly lastEvent: RunEvent | null;
  readonly loadgenCpuPercent: number;
}

/** How a run is watched and stopped. */
export interface RunOptions {
  /** Called after every sample. */
  readonly onProgress?: (progress: Progress) => void;
  /** Aborting ends the load now (Ctrl-C): the run drains briefly, verifies what ran and reports it as interrupted. */
  readonly signal?: AbortSignal;
  /** Called for each event as it happens (logs). */
  readonly onEvent?: (event: RunEvent) => void;
}

const TRANSPORT_OPTIONS: Record<Transport, Pick<NodeClientOptions, "transport" | "httpVersion">> = {
  http2: { transport: "http" },
  "http1.1": { transport: "http", httpVersion: "1.1" },
  websocket: { transport: "websocket" },
};

/** The transport of member `index` of a group: the weights spread evenly over the members (deterministic). */
function transportOf(weights: Partial<Record<Transport, number>>, index: number, count: number): Transport {
  const entries = Object.entries(weights).filter(([, w]) => (w ?? 0) > 0) as [Transport, number][];
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  const position = ((index + 0.5) / count) * total;
  let at = 0;
  for (const [transport, weight] of entries) {
    at += weight;
    if (position < at) return transport;
  }
  return entries.at(-1)![0];
}

/** A payload size from the group's distribution. */
function sizeOf(spec: PublisherGroup["size"], random: Random): number {
  if (typeof spec === "number") return spec;
  if (!Array.isArray(spec)) return spec.min + Math.floor(random() * (spec.max - spec.min + 1));
  const total = spec.reduce((sum, s) => sum + s.weight, 0);
  let pick = random() * total;
  for (const s of spec) if ((pick -= s.weight) < 0) return s.size;
  return spec.at(-1)!.size;
}

/** A priority from the group's weights. */
function priorityOf(weights: PublisherGroup["priority"], random: Random): "critical" | "high" | "normal" | "low" {
  const entries = Object.entries(weights).filter(([, w]) => (w ?? 0) > 0) as ["critical" | "high" | "normal" | "low", number][];
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let pick = random() * total;
  for (const [name, weight] of entries) if ((pick -= weight) < 0) return name;
  return entries.at(-1)![0];
}

/** Resolves after `ms`, or at once when `signal` aborts (its listener removed either way: loops sleep often). */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** One subscriber of the run. */
class RunSubscriber {
  readonly verifier: SubscriberVerifier;
  stream: SluiceStream<Uint8Array> | undefined;
  open = false;
  /** Items received (for the drain's idle check and the throughput series). */
  delivered = 0;
  lastItemAt = 0;
  /** Retired by a ramp-down or the end of the load: it reads on until drained, then stops. */
  retired = false;
  done: Promise<void> | undefined;
  stats: SubscriptionStats | undefined;

  constructor(
    readonly id: string,
    readonly group: SubscriberGroup,
    readonly client: SluiceClient,
    content: ContentKind,
  ) {
    this.verifier = new SubscriberVerifier({ id, content, stream: group.stream });
  }
}

/** One publisher of the run. */
class RunPublisher {
  active = false;
  stopped = false;
  /** Seqs per priority: a publisher's order holds within a priority (a higher one may overtake), so each level is its own sequence for the verifier. */
  readonly seqs = new Map<string, number>();
  inFlight = 0;
  loop: Promise<void> | undefined;
  /** Wakes the send loop when an ack makes room. */
  wake: (() => void) | undefined;

  constructor(
    readonly id: string,
    readonly group: PublisherGroup,
    readonly client: SluiceClient,
    readonly publisher: SluicePublisher<Uint8Array>,
  ) {}
}

/** Runs `scenario` to the end (or until `options.signal` aborts) and answers everything it measured. */
export async function runScenario(scenario: Scenario, options: RunOptions = {}): Promise<RunResult> {
  const random = seededRandom(scenario.seed);
  const started = performance.now();
  const startedAt = new Date();
  const elapsed = () => (performance.now() - started) / 1_000;
  const events: RunEvent[] = [];
  const event = (kind: RunEvent["kind"], detail: string) => {
    const e: RunEvent = { t: Math.round(elapsed() * 1_000) / 1_000, kind, detail };
    events.push(e);
    options.onEvent?.(e);
  };
  const stopLoad = new AbortController();
  options.signal?.addEventListener("abort", () => stopLoad.abort(), { once: true });

  // Servers the loadgen starts itself, and the proxies in front of every target.
  const servers: ManagedServer[] = [];
  const proxies: ChaosProxy[] = [];
  const clients: SluiceClient[] = [];
  const subscribers: RunSubscriber[] = [];
  const publishers: RunPublisher[] = [];
  const ledgers = new Map<string, PublishLedger>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const publishLatency = new LatencyRecorder();
  const sourceLatency = new LatencyRecorder();
  try {
    for (const spec of scenario.servers ?? []) {
      const server = await ManagedServer.start(spec, scenario.baseDir);
      server.onUnexpectedExit = (detail) => event("server-exit", detail);
      servers.push(server);
      event("note", `server ${spec.name} listening on ${server.url} (pid ${server.pid})`);
    }
    const targets = servers.length > 0 ? servers.map((s) => s.url) : typeof scenario.targets === "string" ? [scenario.targets] : [...(scenario.targets ?? [])];
    const useProxy = scenario.proxy ?? scenario.chaos.some((c) => c.action === "cut" || c.action === "freeze");
    if (useProxy) {
      for (const target of targets) {
        const url = new URL(target);
        proxies.push(await ChaosProxy.start({ host: url.hostname, port: Number(url.port || 80) }));
      }
    }
    const clientTargets = useProxy ? proxies.map((p) => p.url) : targets;
    const credentials = {
      ...(scenario.auth?.token ? { token: scenario.auth.token } : scenario.auth?.tokenEnv ? { token: process.env[scenario.auth.tokenEnv] ?? "" } : {}),
      ...(scenario.auth?.apiKey ? { apiKey: scenario.auth.apiKey } : scenario.auth?.apiKeyEnv ? { apiKey: process.env[scenario.auth.apiKeyEnv] ?? "" } : {}),
    };
    /** A client for member `index`: its endpoint list starts at a different target for each, so the load spreads and fails over. */
    const clientFor = (transport: Transport, index: number) => {
      const rotated = clientTargets.map((_, i) => clientTargets[(i + index) % clientTargets.length]!);
      const client = createSluiceClient({ baseUrl: rotated.length === 1 ? rotated[0]! : rotated, ...TRANSPORT_OPTIONS[transport], ...credentials });
      clients.push(client);
      return client;
    };

    // Subscribers and publishers, built now, started by the stage clock.
    for (const [g, group] of scenario.subscribers.entries()) {
      const name = group.name ?? `sub${g}`;
      const content: ContentKind = group.content ?? (scenario.publishers.some((p) => p.stream === group.stream) ? "published" : "opaque");
      let client: SluiceClient | undefined;
      for (let i = 0; i < group.count; i++) {
        if (i % group.perConnection === 0) client = clientFor(transportOf(group.transports, i, group.count), subscribers.length);
        subscribers.push(new RunSubscriber(`${name}-${i}`, group, client!, content));
      }
    }
    for (const [g, group] of scenario.publishers.entries()) {
      const name = group.name ?? `pub${g}`;
      if (!ledgers.has(group.stream)) ledgers.set(group.stream, new PublishLedger());
      for (let i = 0; i < group.count; i++) {
        const client = clientFor(transportOf(group.transports, i, group.count), i);
        const id = `${name}-${i}-${startedAt.getTime().toString(36)}`;
        publishers.push(new RunPublisher(id, group, client, client.publish(group.stream, { codec: bytes(), publisherId: id, backoff: { initialMs: 50, maxMs: 1_000 } })));
      }
    }

    const startSubscriber = (sub: RunSubscriber) => {
      const group = sub.group;
      const stream = sub.client.subscribe(group.stream, {
        codec: bytes(),
        ...(group.params ? { params: group.params as never } : {}),
        ...(group.window ? { window: group.window } : {}),
        autoAck: group.ack === "auto",
        backoff: { initialMs: 50, maxMs: 1_000 },
        onState: (state) => {
          if (state.state === "open") {
            if (!sub.open) sub.verifier.opened(Date.now());
            sub.open = true;
          } else if (state.state === "resumed") {
            sub.open = true;
            sub.verifier.resumed();
          } else if (state.state === "reconnecting") {
            sub.open = false;
            sub.verifier.reconnected();
          } else if (state.state === "failed" || state.state === "closed") sub.open = false;
        },
      });
      sub.stream = stream;
      sub.stats = stream.stats;
      sub.done = (async () => {
        const consume = group.consume;
        const ratePerSecond = typeof consume === "number" ? consume : typeof consume === "object" && typeof consume.rate === "number" ? consume.rate : undefined;
        const stall = typeof consume === "object" ? consume.stall : undefined;
        let nextAt = performance.now();
        let stallAt = stall ? performance.now() + stall.every : Infinity;
        // Latency is the fast consumers': a slow or stalling one's backlog is its own choice, not the system's delay.
        const measured = consume === "fast";
        try {
          for await (const e of stream) {
            const now = Date.now();
            if (e.kind === "item") {
              const latency = sub.verifier.item(e.seq, e.data, now);
              if (measured && latency.publishToDeliveryMs !== undefined) publishLatency.record(latency.publishToDeliveryMs);
              if (measured && latency.sourceToDeliveryMs !== undefined) sourceLatency.record(latency.sourceToDeliveryMs);
              sub.delivered++;
              sub.lastItemAt = performance.now();
              if (group.ack === "manual") e.ack();
            } else sub.verifier.gap(e.fromSeq, e.count, e.reason);
            // A slow consumer: paced to its rate, and stalls on schedule (the window fills, the server holds).
            if (ratePerSecond !== undefined) {
              nextAt += 1_000 / ratePerSecond;
              // Sleeps in steps of 50 ms or more (a timer per item would cost the loadgen more than the items).
              const wait = nextAt - performance.now();
              if (wait > 50) await sleep(wait);
              else if (wait < -1_000) nextAt = performance.now();
            }
            if (performance.now() >= stallAt && !sub.retired) {
              await sleep(stall!.for);
              stallAt = performance.now() + stall!.every;
              nextAt = performance.now();
            }
          }
        } catch (error) {
          sub.verifier.error(error instanceof SluiceError ? error.code : "internal");
        }
      })();
    };

    const runPublisher = (pub: RunPublisher) => {
      const group = pub.group;
      const ledger = ledgers.get(group.stream)!;
      const padCache = new Map<number, string>();
      const pad = (n: number) => {
        let text = padCache.get(n);
        if (text === undefined) padCache.set(n, (text = "x".repeat(Math.max(0, n))));
        return text;
      };
      const encoder = new TextEncoder();
      const sendOne = () => {
        const priority = priorityOf(group.priority, random);
        // One sequence per priority level (see seqs): the verifier's publisher is the pair.
        const key = `${pub.id}/${priority}`;
        const s = (pub.seqs.get(priority) ?? 0) + 1;
        pub.seqs.set(priority, s);
        const sentAt = Date.now();
        const head = `{"p":"${key}","s":${s},"t":${sentAt},"pad":"`;
        const data = encoder.encode(head + pad(sizeOf(group.size, random) - head.length - 2) + `"}`);
        ledger.sent(key, s, sentAt);
        pub.inFlight++;
        return pub.publisher.send(data, { priority }).then(
          () => {
            pub.inFlight--;
            ledger.acked(key, s);
            pub.wake?.();
          },
          (error: unknown) => {
            pub.inFlight--;
            ledger.rejected(key, s, error instanceof SluiceError ? error.code : "internal");
            pub.wake?.();
          },
        );
      };
      pub.loop = (async () => {
        const perSecond = group.rate === "fast" ? undefined : group.rate;
        let nextAt = performance.now();
        while (!pub.stopped) {
          if (!pub.active) {
            await sleep(50, stopLoad.signal);
            nextAt = performance.now();
            continue;
          }
          if (perSecond === undefined) {
            // As fast as credit allows: at most inFlight sends waiting for their ack; an ack wakes the loop.
            while (pub.inFlight < group.inFlight && !pub.stopped && pub.active) void sendOne();
            await Promise.race([new Promise<void>((resolve) => (pub.wake = resolve)), sleep(100, stopLoad.signal)]);
            pub.wake = undefined;
          } else {
            const now = performance.now();
            // Paced in 10 ms steps: every send due by now goes out, then the loop sleeps to the next.
            while (nextAt <= now && !pub.stopped) {
              void sendOne();
              nextAt += 1_000 / perSecond;
            }
            if (now - nextAt > 1_000) nextAt = now; // far behind (the process stalled): no burst to catch up
            await sleep(Math.max(1, Math.min(10, nextAt - performance.now())), stopLoad.signal);
          }
        }
      })();
    };

    // The stage clock: how many of each group are active at time t.
    const loadMs = scenario.loadMs;
    const shareAt = (ms: number): { share: number; stage: { index: number; of: number } | null } => {
      const stages = scenario.stages;
      if (!stages) return { share: 1, stage: null };
      let from = 0;
      let previous = 0;
      for (const [i, s] of stages.entries()) {
        if (ms < from + s.duration) return { share: previous + ((s.target - previous) * (ms - from)) / Math.max(1, s.duration), stage: { index: i + 1, of: stages.length } };
        from += s.duration;
        previous = s.target;
      }
      return { share: previous, stage: { index: stages.length, of: stages.length } };
    };
    const rampShare = (rampUp: number, index: number, count: number, ms: number) => (rampUp <= 0 ? true : ms >= (rampUp * index) / count);
    let currentStage = 0;
    const applyStages = () => {
      const ms = performance.now() - started;
      const { share, stage } = shareAt(ms);
      if (stage && stage.index !== currentStage) {
        currentStage = stage.index;
        event("stage", `stage ${stage.index} of ${stage.of}`);
      }
      const byGroup = new Map<SubscriberGroup, RunSubscriber[]>();
      for (const sub of subscribers) byGroup.set(sub.group, [...(byGroup.get(sub.group) ?? []), sub]);
      for (const [group, members] of byGroup) {
        const active = Math.round(share * group.count);
        members.forEach((sub, i) => {
          const wanted = i < active && rampShare(group.rampUp, i, group.count, ms);
          if (wanted && !sub.stream && !sub.retired) startSubscriber(sub);
          // A ramp-down retires the last members; a retired subscriber does not come back.
          else if (!wanted && sub.stream && !sub.retired && i >= active) retire(sub);
        });
      }
      const pubGroups = new Map<PublisherGroup, RunPublisher[]>();
      for (const pub of publishers) pubGroups.set(pub.group, [...(pubGroups.get(pub.group) ?? []), pub]);
      for (const [group, members] of pubGroups) {
        const active = Math.round(share * group.count);
        members.forEach((pub, i) => {
          pub.active = i < active && rampShare(group.rampUp, i, group.count, ms);
          if (pub.active && !pub.loop) runPublisher(pub);
        });
      }
    };
    /** A subscriber leaves: everything acked up to now must still reach it, so it reads on until drained. */
    const retire = (sub: RunSubscriber) => {
      sub.retired = true;
      sub.verifier.expectUntil(Date.now());
      void (async () => {
        await drained([sub], scenario.drainTimeout);
        sub.stream?.cancel();
      })();
    };
    /** Resolves when each of `subs` has had no item for a second, or after `timeoutMs`. */
    const drained = async (subs: readonly RunSubscriber[], timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (performance.now() < deadline) {
        const now = performance.now();
        const inFlight = publishers.some((p) => p.inFlight > 0);
        if (!inFlight && subs.every((s) => now - s.lastItemAt > 1_000)) return;
        await sleep(100);
      }
    };

    // Chaos on schedule.
    let killTurn = 0;
    const act = async (spec: ChaosSpec) => {
      if (stopLoad.signal.aborted) return;
      switch (spec.action) {
        case "cut": {
          const count = proxies.reduce((sum, p) => sum + p.cut(spec.fraction, random), 0);
          event("cut", `cut ${count} connection${count === 1 ? "" : "s"}${spec.fraction < 1 ? ` (${Math.round(spec.fraction * 100)} %)` : ""}`);
          break;
        }
        case "freeze": {
          const frozen = proxies.map((p) => p.freeze(spec.fraction, random));
          const count = frozen.reduce((sum, f) => sum + f.count, 0);
          event("freeze", `froze ${count} connection${count === 1 ? "" : "s"} for ${spec.for} ms`);
          later(spec.for, () => {
            for (const f of frozen) f.thaw();
            event("thaw", `thawed ${count} connection${count === 1 ? "" : "s"}`);
          });
          break;
        }
        case "kill":
        case "drain": {
          const server = spec.server !== undefined ? servers.find((s) => s.spec.name === spec.server)! : servers[killTurn++ % servers.length]!;
          if (!server.running) return;
          const pid = server.pid;
          event(spec.action, `${spec.action === "kill" ? "SIGKILL" : "SIGTERM (drain)"} server ${server.spec.name} (pid ${pid})`);
          await server.stop(spec.action === "kill" ? "SIGKILL" : "SIGTERM");
          if (spec.restartAfter !== undefined) {
            later(spec.restartAfter, async () => {
              await server.restart();
              event("restart", `server ${server.spec.name} listening again (pid ${server.pid})`);
            });
          }
          break;
        }
      }
    };
    const later = (ms: number, f: () => void | Promise<void>) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        void Promise.resolve(f()).catch((error: unknown) => event("note", `chaos: ${(error as Error).message}`));
      }, ms);
      timers.add(timer);
    };
    for (const spec of scenario.chaos) {
      if (spec.at !== undefined) later(spec.at, () => act(spec));
      else {
        const every = spec.every!;
        for (let at = every; at < loadMs; at += every) later(at, () => act(spec));
      }
    }

    // Sampling.
    const series: { -readonly [K in keyof TimeSeries]: TimeSeries[K] } = {
      t: [],
      deliveredPerSecond: [],
      ackedPerSecond: [],
      p50Ms: [],
      p99Ms: [],
      maxMs: [],
      subscribersOpen: [],
      reconnects: [],
      serverRssMiB: [],
      serverHeapMiB: [],
      serverEventLoopLagMs: [],
      loadgenRssMiB: [],
      loadgenCpuPercent: [],
      loadgenEventLoopLagMs: [],
    };
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    let lastSample = performance.now();
    let lastCpu = process.cpuUsage();
    let lastDelivered = 0;
    let lastAcked = 0;
    let serverMetrics: { rss: number | null; heap: number | null; lag: number | null } = { rss: null, heap: null, lag: null };
    const metricsUrl = targets[0] ? new URL("/metrics", targets[0]).toString() : undefined;
    const scrape = async () => {
      if (!metricsUrl) return;
      try {
        const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(1_000) })).text();
        const value = (name: string) => {
          const match = new RegExp(`^${name} ([0-9.e+-]+)`, "m").exec(text);
          return match ? Number(match[1]) : null;
        };
        const rss = value("process_resident_memory_bytes");
        const heap = value("nodejs_heap_size_used_bytes");
        const lag = value("nodejs_eventloop_lag_p99_seconds") ?? value("nodejs_eventloop_lag_seconds");
        serverMetrics = { rss: rss === null ? null : rss / 1024 ** 2, heap: heap === null ? null : heap / 1024 ** 2, lag: lag === null ? null : lag * 1_000 };
      } catch {
        serverMetrics = { rss: null, heap: null, lag: null };
      }
    };
    let phase: Progress["phase"] = "load";
    const totalReconnects = () => subscribers.reduce((sum, s) => sum + (s.stats?.reconnects ?? 0), 0);
    const sample = async () => {
      await scrape();
      const now = performance.now();
      const seconds = (now - lastSample) / 1_000;
      lastSample = now;
      const cpu = process.cpuUsage(lastCpu);
      lastCpu = process.cpuUsage();
      const delivered = subscribers.reduce((sum, s) => sum + s.delivered, 0);
      let acked = 0;
      for (const ledger of ledgers.values()) acked += ledger.ackedCount;
      const publishInterval = publishLatency.takeInterval();
      const sourceInterval = sourceLatency.takeInterval();
      const interval = publishInterval ?? sourceInterval;
      const cpuPercent = ((cpu.user + cpu.system) / 1_000 / (seconds * 1_000)) * 100;
      series.t.push(Math.round(elapsed() * 1_000) / 1_000);
      series.deliveredPerSecond.push(Math.round((delivered - lastDelivered) / seconds));
      series.ackedPerSecond.push(Math.round((acked - lastAcked) / seconds));
      series.p50Ms.push(interval?.p50 ?? null);
      series.p99Ms.push(interval?.p99 ?? null);
      series.maxMs.push(interval?.max ?? null);
      series.subscribersOpen.push(subscribers.filter((s) => s.open).length);
      series.reconnects.push(totalReconnects());
      series.serverRssMiB.push(serverMetrics.rss);
      series.serverHeapMiB.push(serverMetrics.heap);
      series.serverEventLoopLagMs.push(serverMetrics.lag);
      series.loadgenRssMiB.push(Math.round((process.memoryUsage.rss() / 1024 ** 2) * 10) / 10);
      series.loadgenCpuPercent.push(Math.round(cpuPercent));
      series.loadgenEventLoopLagMs.push(Math.round((loop.mean / 1e6) * 10) / 10);
      loop.reset();
      lastDelivered = delivered;
      lastAcked = acked;
      options.onProgress?.({
        t: elapsed(),
        loadSeconds: loadMs / 1_000,
        phase,
        stage: shareAt(now - started).stage,
        deliveredPerSecond: series.deliveredPerSecond.at(-1)!,
        ackedPerSecond: series.ackedPerSecond.at(-1)!,
        p99Ms: interval?.p99 ?? null,
        subscribersOpen: series.subscribersOpen.at(-1)!,
        subscribers: subscribers.length,
        publishers: publishers.length,
        reconnects: series.reconnects.at(-1)!,
        faultsSoFar: subscribers.reduce((sum, s) => sum + s.verifier.faultsSoFar, 0),
        lastEvent: events.at(-1) ?? null,
        loadgenCpuPercent: series.loadgenCpuPercent.at(-1)!,
      });
    };
    let sampling = Promise.resolve();
    const sampler = setInterval(() => {
      sampling = sampling.then(sample);
    }, scenario.sampleEvery);
    const stager = setInterval(applyStages, 100);
    applyStages();

    // The load runs for its length, or until aborted.
    await sleep(loadMs, stopLoad.signal);
    const interrupted = options.signal?.aborted ?? false;
    clearInterval(stager);
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    phase = "drain";
    event("stage", interrupted ? "interrupted: draining" : "load done: draining");
    for (const pub of publishers) pub.stopped = true;
    await Promise.all(publishers.map((p) => p.loop));
    // Every send settles (acked or rejected) before the subscribers' window closes.
    await Promise.race([Promise.all(publishers.map((p) => p.publisher.flush().catch(() => undefined))), sleep(scenario.drainTimeout)]);
    const drainEnd = Date.now();
    for (const sub of subscribers) if (!sub.retired) sub.verifier.expectUntil(drainEnd);
    await drained(
      subscribers.filter((s) => s.stream),
      interrupted ? 2_000 : scenario.drainTimeout,
    );
    for (const sub of subscribers) sub.stream?.cancel();
    await Promise.race([Promise.all(subscribers.map((s) => s.done)), sleep(5_000)]);
    await Promise.all(publishers.map((p) => p.publisher.close().catch(() => undefined)));
    for (const client of clients) client.close();
    const loadEndT = elapsed();
    if (scenario.soak && scenario.soak.cooldown > 0 && !interrupted) {
      phase = "cooldown";
      event("stage", "load stopped: cool-down");
      await sleep(scenario.soak.cooldown, options.signal);
    }
    clearInterval(sampler);
    await sampling;
    await sample();
    loop.disable();

    const totals = verify(subscribers.map((s) => s.verifier), ledgers);
    const latency = { publishToDelivery: summarize(publishLatency.overall), sourceToDelivery: summarize(sourceLatency.overall) };
    const soak = scenario.soak ? soakResult(series, scenario.soak, loadEndT) : null;
    const cpuSamples = series.loadgenCpuPercent;
    const loadgen = {
      cpuPercentMean: Math.round(cpuSamples.reduce((a, b) => a + b, 0) / Math.max(1, cpuSamples.length)),
      cpuPercentMax: Math.max(0, ...cpuSamples),
      saturated: cpuSamples.filter((c) => c > 90).length >= cpuSamples.length / 5 && cpuSamples.length > 0,
    };
    const thresholds = scenario.thresholds.map((expression) => evaluate(expression, totals, latency.publishToDelivery ?? latency.sourceToDelivery, soak, series));
    const failures = [...failuresOf(totals, subscribers.map((s) => s.verifier)), ...thresholds.filter((t) => !t.passed).map((t) => `threshold ${t.expression} failed (value ${t.value ?? "none"})`)];
    if (soak && !soak.passed) failures.push(`memory grows ${soak.slopeMiBPerHour.toFixed(2)} MiB/h (95 % CI ${soak.ciLowMiBPerHour.toFixed(2)}–${soak.ciHighMiBPerHour.toFixed(2)}), over ${soak.thresholdMiBPerHour} MiB/h`);
    return {
      scenario: {
        name: scenario.name ?? (scenario.file ? scenario.file.replace(/^.*\//, "").replace(/\.ya?ml$/, "") : "flags"),
        file: scenario.file,
        seed: scenario.seed,
        durationSeconds: Math.round(elapsed()),
        targets,
        subscribers: subscribers.length,
        publishers: publishers.length,
      },
      startedAt: startedAt.toISOString(),
      endedAt: new Date().toISOString(),
      interrupted,
      passed: failures.length === 0,
      failures,
      verification: totals,
      latency,
      thresholds,
      series,
      events,
      soak,
      loadgen,
    };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    for (const client of clients) client.close();
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(servers.map((s) => s.stop("SIGTERM")));
  }
}

/** The memory trend after warm-up (server RSS, or the loadgen's own without server metrics). */
function soakResult(series: TimeSeries, soak: NonNullable<Scenario["soak"]>, loadEndT: number): SoakResult {
  const useServer = series.serverRssMiB.some((v) => v !== null);
  const values = useServer ? series.serverRssMiB : series.loadgenRssMiB;
  const warm = soak.warmup / 1_000;
  const during: [number, number][] = [];
  const after: [number, number][] = [];
  series.t.forEach((t, i) => {
    const v = values[i];
    if (v === null || v === undefined || t < warm) return;
    (t <= loadEndT ? during : after).push([t, v]);
  });
  const threshold = parseSlope(soak.maxSlope)!;
  const fit = fitLine(during);
  const perHour = (x: number) => x * 3_600;
  const afterFit = fitLine(after);
  const growingAfterLoad = afterFit ? perHour(afterFit.slope - afterFit.slopeHalfWidth) > threshold : null;
  if (!fit) {
    return { series: useServer ? "serverRssMiB" : "loadgenRssMiB", slopeMiBPerHour: 0, ciLowMiBPerHour: 0, ciHighMiBPerHour: 0, fromT: warm, toT: loadEndT, interceptMiB: 0, samples: during.length, thresholdMiBPerHour: threshold, growingAfterLoad, passed: false };
  }
  const slope = perHour(fit.slope);
  return {
    series: useServer ? "serverRssMiB" : "loadgenRssMiB",
    slopeMiBPerHour: slope,
    ciLowMiBPerHour: slope - perHour(fit.slopeHalfWidth),
    ciHighMiBPerHour: slope + perHour(fit.slopeHalfWidth),
    fromT: during[0]![0],
    toT: during.at(-1)![0],
    interceptMiB: fit.intercept + fit.slope * during[0]![0],
    samples: fit.samples,
    thresholdMiBPerHour: threshold,
    growingAfterLoad,
    // The slope must be below the threshold; growth after the load stopped fails too.
    passed: slope < threshold && growingAfterLoad !== true,
  };
}

function evaluate(expression: string, totals: VerificationTotals, latency: LatencySummary | null, soak: SoakResult | null, series: TimeSeries): ThresholdResult {
  const threshold = parseThreshold(expression);
  if (typeof threshold === "string") return { expression, value: null, passed: false };
  const loadRates = series.deliveredPerSecond.filter((v) => v > 0);
  const value = ((): number | null => {
    switch (threshold.metric) {
      case "p50":
        return latency?.p50 ?? null;
      case "p90":
        return latency?.p90 ?? null;
      case "p99":
        return latency?.p99 ?? null;
      case "p99.9":
        return latency?.p999 ?? null;
      case "max":
        return latency?.max ?? null;
      case "lost":
        return totals.lost;
      case "duplicated":
        return totals.duplicated;
      case "reordered":
        return totals.reordered;
      case "seqErrors":
        return totals.seqErrors;
      case "errors":
        return Object.values(totals.errorsByCode).reduce((a, b) => a + b, 0);
      case "reconnects":
        return totals.reconnects;
      case "deliveredPerSecond":
        return loadRates.length ? Math.round(loadRates.reduce((a, b) => a + b, 0) / loadRates.length) : 0;
      case "memorySlope":
        return soak ? Math.round(soak.slopeMiBPerHour * 1_000) / 1_000 : null;
      case "serverRssMax": {
        const samples = series.serverRssMiB.filter((v): v is number => v !== null);
        return samples.length ? Math.round(Math.max(...samples) * 10) / 10 : null;
      }
    }
  })();
  return { expression: threshold.expression, value, passed: value !== null && compare(value, threshold.op, threshold.bound) };
}
