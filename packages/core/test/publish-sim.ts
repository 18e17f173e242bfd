/**
 * A deterministic simulated link between a Publisher (client) and a server
 * that runs one IngestReceiver per connection into an in-memory sink, with
 * the server's deduplication table (publisher id -> last seq accepted).
 * Virtual time, seeded faults: frames lost, duplicated and reordered both
 * ways inside a live connection, and disconnects at any frame. Every Sluice
 * binding is ordered and reliable, so these faults can only mean a broken
 * connection; what the sim proves is that the machines notice and recover
 * instead of deciding a fate wrongly: a chunk lost before later ones is a
 * seq jump, a lost last chunk is caught by the publisher's next heartbeat
 * (its sent_seq, PROTOCOL.md §6), and a lost or overtaken ack — which
 * carried dead letters — by the next ack's after_seq (§3.4 rule 5). Some
 * items are dead-lettered by the sink, some are too big for the server, and
 * the outbound queue may overflow.
 */
import { Backoff, IngestReceiver, Publisher, SluiceError, type DeadLetter, type Priority, type IngestFrame, type OverflowPolicy, type PublishFrame } from "../src/index.js";
import { Pipe, seededRandom } from "./sim.js";

export interface PublishSimOptions {
  readonly seed: number;
  /** Items the app offers, one per `offerEveryMs`. */
  readonly items: number;
  readonly offerEveryMs: number;
  readonly duplicate: number;
  /** Probability, per frame, that it is lost inside a live connection. */
  readonly loss: number;
  /** Probability, per frame, that it is delayed past later ones. */
  readonly reorder: number;
  /** Probability, per delivered frame, that the connection drops. */
  readonly disconnect: number;
  readonly window: { items: number; bytes: number };
  readonly queueCapacity: number;
  readonly overflow: OverflowPolicy;
  /** Every n-th item is dead-lettered by the sink (0: none). */
  readonly deadEvery: number;
  /** Every n-th item is over the server's max item size (0: none). */
  readonly tooBigEvery: number;
  /** Items the sink accepts per millisecond. */
  readonly sinkPerMs: number;
  readonly maxVirtualMs: number;
}

export const DEFAULT_PUBLISH_SIM: PublishSimOptions = {
  seed: 1,
  items: 5_000,
  offerEveryMs: 0,
  duplicate: 0,
  loss: 0,
  reorder: 0,
  disconnect: 0,
  window: { items: 128, bytes: 16 * 1024 },
  queueCapacity: 100_000,
  overflow: "block",
  deadEvery: 0,
  tooBigEvery: 0,
  sinkPerMs: Infinity,
  maxVirtualMs: 600_000,
};

const MAX_ITEM_BYTES = 4_096;

/** The fate of each offered item, by the token (its index). */
export interface PublishSimResult {
  readonly fates: Map<number, string[]>;
  /** What the sink holds: item indexes, in order. */
  readonly sink: number[];
  /** The sink's seqs, in order. */
  readonly sinkSeqs: number[];
  readonly deadLettered: Set<number>;
  readonly sessions: number;
  readonly virtualMs: number;
  readonly finishedError: SluiceError | undefined;
  readonly publisher: Publisher<number>;
}

export function itemOf(index: number, options: PublishSimOptions): Uint8Array {
  const size = options.tooBigEvery > 0 && index % options.tooBigEvery === options.tooBigEvery - 1 ? MAX_ITEM_BYTES + 1 : 8 + (index % 200);
  const data = new Uint8Array(size);
  new DataView(data.buffer).setUint32(0, index);
  return data;
}

export function simulatePublish(partial: Partial<PublishSimOptions> = {}): PublishSimResult {
  const options = { ...DEFAULT_PUBLISH_SIM, ...partial };
  const random = seededRandom(options.seed);
  const publisher = new Publisher<number>({
    stream: "sim",
    publisherId: "p1",
    queue: { capacity: options.queueCapacity, overflow: options.overflow },
    chunk: { maxBytes: 2_048, maxItems: 32, flushDelayMs: 1 },
    heartbeatIntervalMs: 200,
  });
  const backoff = new Backoff({ initialMs: 5, maxMs: 200, random });
  const fates = new Map<number, string[]>();
  const fate = (token: number, what: string) => fates.set(token, [...(fates.get(token) ?? []), what]);
  const sink: number[] = [];
  const sinkSeqs: number[] = [];
  const deadLettered = new Set<number>();
  /** The server's deduplication table: the last seq accepted from the publisher. */
  let doneSeq = 0;
  /** ... and its dead letters, reported again to a publisher that may have missed their ack. */
  const deadLetters: DeadLetter[] = [];
  let now = 0;
  let sessions = 0;
  let offered = 0;
  let blocked = false;
  let up: Pipe<PublishFrame> | undefined;
  let down: Pipe<IngestFrame> | undefined;
  let ingest: IngestReceiver | undefined;
  let reconnectAt: number | undefined = 0;
  let sinkBudget = 0;
  let lastSinkAt = 0;
  let finishedError: SluiceError | undefined;
  let finished = false;
  let closeCalled = false;

  const dropConnection = () => {
    up?.clear();
    down?.clear();
    up = undefined;
    down = undefined;
    ingest = undefined;
  };

  const serverPump = () => {
    if (!ingest) return;
    for (let event = ingest.pollEvent(); event; event = ingest.pollEvent()) {
      if (event.type === "open") {
        const nextSeq = Math.max(doneSeq, event.open.resumeAfterSeq) + 1;
        ingest.accept({ sessionId: `s${sessions}`, nextSeq, deadLetters, limits: { maxItemBytes: MAX_ITEM_BYTES, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 }, window: options.window }, now);
      }
    }
    sinkBudget = options.sinkPerMs === Infinity ? Infinity : Math.min(sinkBudget + (now - lastSinkAt) * options.sinkPerMs, 1_000);
    lastSinkAt = now;
    while (ingest && ingest.state === "streaming" && sinkBudget >= 1) {
      const delivery = ingest.read(now);
      if (!delivery || delivery.kind === "end") break;
      sinkBudget -= 1;
      if (delivery.seq <= doneSeq) throw new Error(`the ingest handed seq ${delivery.seq} again (done ${doneSeq})`);
      const index = new DataView(delivery.data.buffer, delivery.data.byteOffset).getUint32(0);
      if (options.deadEvery > 0 && index % options.deadEvery === 0) {
        deadLettered.add(index);
        const reason = `index ${index} is a multiple of ${options.deadEvery}`;
        deadLetters.push({ seq: delivery.seq, reason, deadLetterTopic: "sim.dlq" });
        ingest.deadLettered(delivery.seq, reason, "sim.dlq", now);
      } else {
        sink.push(index);
        sinkSeqs.push(delivery.seq);
        ingest.accepted(delivery.seq, now);
      }
      doneSeq = delivery.seq;
    }
  };

  const flush = () => {
    if (ingest && down) for (let frame = ingest.pollTransmit(); frame; frame = ingest.pollTransmit()) down.send(frame, now);
    if (up) for (let frame = publisher.pollTransmit(); frame; frame = publisher.pollTransmit()) up.send(frame, now);
  };

  const clientEvents = () => {
    for (let event = publisher.pollEvent(); event; event = publisher.pollEvent()) {
      switch (event.type) {
        case "accepted":
          fate(event.token, "accepted");
          break;
        case "dead_lettered":
          fate(event.token, "dead_lettered");
          break;
        case "rejected":
          fate(event.token, `rejected:${event.error.code}`);
          break;
        case "space":
          blocked = false;
          break;
        case "opened":
          backoff.reset();
          break;
        case "session_lost":
          dropConnection();
          reconnectAt = now + (backoff.next(event.error.retryAfterMs) ?? 0);
          break;
        case "finished":
          finished = true;
          finishedError = event.error;
          break;
      }
    }
  };

  const offer = () => {
    while (offered < options.items && !blocked) {
      if (options.offerEveryMs > 0 && offered * options.offerEveryMs > now) break;
      const priority = (offered % 4) as Priority;
      const result = publisher.offer(itemOf(offered, options), offered, priority, now);
      if (result === "blocked") {
        blocked = true;
        break;
      }
      offered++;
    }
    if (offered === options.items && !closeCalled) {
      closeCalled = true;
      publisher.close(now);
    }
  };

  let steps = 0;
  while (now <= options.maxVirtualMs && !finished) {
    if (++steps > 2_000_000) throw new Error(`publish simulation stuck at virtual ${now} ms (offered ${offered}, sink ${sink.length})`);
    if (reconnectAt !== undefined && now >= reconnectAt) {
      reconnectAt = undefined;
      sessions++;
      up = new Pipe<PublishFrame>(random, options);
      down = new Pipe<IngestFrame>(random, options);
      ingest = new IngestReceiver({ ackEveryItems: 8, ackDelayMs: 2 });
      publisher.connect(now);
    }
    offer();
    if (up && ingest) {
      for (const frame of up.take(now)) {
        if (random() < options.disconnect) {
          publisher.connectionLost(new SluiceError("unavailable", "simulated disconnect"), now);
          break;
        }
        ingest.handleFrame(frame, now);
        // As serveIngest does: the sink takes what arrived after every frame, not after a burst of them.
        serverPump();
        if (!ingest) break;
      }
    }
    if (down) {
      for (const frame of down.take(now)) {
        publisher.handleFrame(frame, now);
        clientEvents();
        if (!down) break;
      }
    }
    clientEvents();
    if (ingest) {
      const deadline = ingest.pollTimeout();
      if (deadline !== undefined && now >= deadline) ingest.handleTimeout(now);
      // The server closes the call once the session is over; the publisher sees its transport end.
      if (ingest.state === "closed" && !ingest.hasTransmit) {
        flush();
      }
    }
    {
      const deadline = publisher.pollTimeout();
      if (deadline !== undefined && now >= deadline) publisher.handleTimeout(now);
      clientEvents();
    }
    serverPump();
    clientEvents();
    offer();
    flush();
    if (ingest?.state === "closed" && down && down.nextAt() === undefined && publisher.session?.state !== "closed") {
      // The server closed the call and every frame it sent has arrived: the publisher's transport ends.
      publisher.connectionLost(new SluiceError("unavailable", "the server closed the call"), now);
      clientEvents();
    }
    const candidates = [up?.nextAt(), down?.nextAt(), ingest?.pollTimeout(), publisher.pollTimeout(), reconnectAt];
    if (options.offerEveryMs > 0 && offered < options.items && !blocked) candidates.push(offered * options.offerEveryMs);
    if (options.sinkPerMs !== Infinity && ingest && ingest.buffered > 0) candidates.push(now + Math.max(1, Math.ceil(1 / options.sinkPerMs)));
    let next: number | undefined;
    for (const c of candidates) if (c !== undefined && (next === undefined || c < next)) next = c;
    if (next === undefined) break;
    now = next > now ? next : now + 1;
  }
  return { fates, sink, sinkSeqs, deadLettered, sessions, virtualMs: now, finishedError, publisher };
}
