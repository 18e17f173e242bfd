/**
 * A deterministic simulated link between a StreamReceiver (client) and a
 * server that runs one StreamSender per connection over a cursor-addressable
 * source. Virtual time, seeded faults: loss, duplication and reordering of
 * whole frames, and disconnects. No ports, no sleeps.
 *
 * It steps the machines itself instead of through the driver's Pump: core
 * imports no other package, and what it tests is the machines' rules under
 * faults the driver never injects (a frame lost or duplicated inside a live
 * session). The driver's own loop is tested on a virtual clock in
 * packages/testing (createPair), and the demo (tools/demo) runs it.
 */
import { Backoff, SluiceError, StreamReceiver, StreamSender, type ClientFrame, type Delivery, type ServerFrame } from "../src/index.js";

/** mulberry32: tiny, fast, good enough for fault injection. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Item `seq` of the test source: its size varies, a few are big enough to fragment. */
export function itemFor(seq: number, bigEvery: number, bigSize: number): Uint8Array {
  const size = bigEvery > 0 && seq % bigEvery === 0 ? bigSize : 8 + ((seq * 2654435761) >>> 0) % 120;
  const data = new Uint8Array(size);
  const view = new DataView(data.buffer);
  view.setUint32(0, seq >>> 0);
  for (let i = 4; i < size; i++) data[i] = (seq + i) & 0xff;
  return data;
}

export function seqOf(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
}

function cursorOf(seq: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, seq);
  return bytes;
}

function seqOfCursor(cursor: Uint8Array): number {
  return cursor.byteLength === 8 ? new DataView(cursor.buffer, cursor.byteOffset, 8).getFloat64(0) : 0;
}

export interface SimOptions {
  readonly seed: number;
  readonly items: number;
  readonly loss: number;
  readonly duplicate: number;
  readonly reorder: number;
  /** Probability, per delivered frame, that the connection drops. */
  readonly disconnect: number;
  readonly window: { items: number; bytes: number };
  readonly chunkMaxBytes: number;
  readonly bigEvery: number;
  readonly bigSize: number;
  /** Items the app reads per millisecond of virtual time (Infinity: as fast as they come). */
  readonly readPerMs: number;
  /** Ack every item after reading it (true) or only every N-th. */
  readonly ackEvery: number;
  readonly maxVirtualMs: number;
}

export const DEFAULT_SIM: SimOptions = {
  seed: 1,
  items: 10_000,
  loss: 0,
  duplicate: 0,
  reorder: 0,
  disconnect: 0,
  window: { items: 256, bytes: 16 * 1024 },
  chunkMaxBytes: 4 * 1024,
  bigEvery: 997,
  bigSize: 20_000,
  readPerMs: Infinity,
  ackEvery: 1,
  maxVirtualMs: 10_000_000,
};

export interface SimResult {
  readonly deliveries: Delivery[];
  readonly delivered: number[];
  readonly sessions: number;
  readonly virtualMs: number;
  /** Highest bytes ever buffered by the receiver, and the most it was allowed. */
  readonly maxBufferedBytes: number;
  readonly bufferBound: number;
  readonly receiver: StreamReceiver;
}

interface InFlight<F> {
  at: number;
  order: number;
  frame: F;
}

/** One direction of a simulated connection: frames lost, duplicated or delayed (reordered) by the seeded faults. */
export class Pipe<F> {
  #frames: InFlight<F>[] = [];
  #order = 0;
  constructor(
    private readonly random: () => number,
    private readonly options: Pick<SimOptions, "loss" | "duplicate" | "reorder">,
  ) {}
  send(frame: F, now: number): void {
    if (this.random() < this.options.loss) {
      if (process.env.SIM_TRACE) console.log(now, "LOST", (frame as { type?: string }).type);
      return;
    }
    // Open is never duplicated: it is sent once per connection, and a second
    // Open on one connection is a protocol violation (PROTOCOL.md §3.1).
    const type = (frame as { type?: string }).type;
    const copies = this.random() < this.options.duplicate && type !== "open" && type !== "publish_open" ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = 1 + (this.random() < this.options.reorder ? Math.floor(this.random() * 20) : 0);
      this.#frames.push({ at: now + delay, order: this.#order++, frame });
    }
  }
  nextAt(): number | undefined {
    let min: number | undefined;
    for (const f of this.#frames) if (min === undefined || f.at < min) min = f.at;
    return min;
  }
  /** Frames due by `now`, in (time, send order). */
  take(now: number): F[] {
    const due = this.#frames.filter((f) => f.at <= now).sort((a, b) => a.at - b.at || a.order - b.order);
    this.#frames = this.#frames.filter((f) => f.at > now);
    return due.map((f) => f.frame);
  }
  clear(): void {
    this.#frames = [];
  }
}

/** Runs the simulation to the end of the stream (or maxVirtualMs) and returns what the app saw. */
export function simulate(partial: Partial<SimOptions> = {}): SimResult {
  const options = { ...DEFAULT_SIM, ...partial };
  const random = seededRandom(options.seed);
  const receiver = new StreamReceiver({
    stream: "sim",
    window: options.window,
    heartbeat: { intervalMs: 200, timeoutMs: 1_000 },
    ackEveryItems: 1,
  });
  const backoff = new Backoff({ initialMs: 5, maxMs: 200, random });
  const deliveries: Delivery[] = [];
  const delivered: number[] = [];
  let now = 0;
  let sessions = 0;
  let up: Pipe<ClientFrame> | undefined;
  let down: Pipe<ServerFrame> | undefined;
  let sender: StreamSender | undefined;
  let reconnectAt: number | undefined = 0;
  let readBudget = 0;
  let lastReadAt = 0;
  let maxBufferedBytes = 0;
  let sourceNext = 1;

  const dropConnection = () => {
    up?.clear();
    down?.clear();
    up = undefined;
    down = undefined;
    sender = undefined;
  };

  const serverPump = () => {
    if (!sender) return;
    for (let event = sender.pollEvent(); event; event = sender.pollEvent()) {
      if (event.type === "open") {
        const resume = event.open.resume;
        // Reopen the source at the cursor, then skip to the resume seq.
        const cursorSeq = resume ? seqOfCursor(resume.cursor) : 0;
        const nextSeq = resume ? resume.seq + 1 : 1;
        sourceNext = nextSeq;
        sender.accept(
          { sessionId: `s${sessions}`, sessionSecret: new Uint8Array(0), nextSeq, contentType: "application/octet-stream", resume: resume ? { requestedSeq: resume.seq, nextSeq, replayed: resume.seq - cursorSeq } : undefined },
          now,
        );
      }
    }
    if (process.env.SIM_TRACE) console.log(now, "pump", sender.state, "demand", sender.demand, "next", sourceNext);
    while (sender.demand > 0 && sourceNext <= options.items) {
      const seq = sourceNext++;
      sender.push(itemFor(seq, options.bigEvery, options.bigSize), cursorOf(seq), now);
    }
    if (sender.state === "streaming" && sourceNext > options.items) sender.end(cursorOf(options.items), now);
  };

  const flush = () => {
    if (sender && down) {
      for (let frame = sender.pollTransmit(); frame; frame = sender.pollTransmit()) {
        if (process.env.SIM_TRACE) console.log(now, "send-down", frame.type, frame.type === "chunk" ? `${frame.firstSeq} items=${frame.items.length} frag=${frame.fragment?.offset}` : "");
        down.send(frame, now);
      }
    }
    if (up) {
      for (let frame = receiver.pollTransmit(); frame; frame = receiver.pollTransmit()) up.send(frame, now);
    }
  };

  const clientEvents = () => {
    for (let event = receiver.pollEvent(); event; event = receiver.pollEvent()) {
      if (event.type === "session_lost") {
        if (process.env.SIM_TRACE) console.log(now, "SESSION_LOST", event.error.code, event.error.message);
        dropConnection();
        const delay = backoff.next(event.error.retryAfterMs) ?? 0;
        reconnectAt = now + delay;
      } else if (event.type === "opened") {
        backoff.reset();
      }
    }
  };

  let steps = 0;
  while (now <= options.maxVirtualMs) {
    // A livelock (time creeping forward by 1 ms with nothing happening) must
    // fail the property with its counterexample, not hang the test run.
    if (++steps > 2_000_000) throw new Error(`simulation stuck at virtual ${now} ms after ${steps} steps (delivered ${delivered.length}, sender ${sender?.state}, receiver ${receiver.state})`);
    if (reconnectAt !== undefined && now >= reconnectAt) {
      reconnectAt = undefined;
      sessions++;
      up = new Pipe<ClientFrame>(random, options);
      down = new Pipe<ServerFrame>(random, options);
      sender = new StreamSender({
        limits: { maxFrameBytes: 1 << 22, maxItemBytes: 1 << 20, maxWindowItems: 1 << 20, maxWindowBytes: 1 << 26, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 },
        chunk: { maxBytes: options.chunkMaxBytes, maxItems: 64, flushDelayMs: 2 },
        stallTimeoutMs: 1_500,
      });
      receiver.connect(now);
    }
    // Deliver due frames.
    if (up && sender) {
      for (const frame of up.take(now)) {
        if (random() < options.disconnect) {
          receiver.connectionLost(new SluiceError("unavailable", "simulated disconnect"), now);
          break;
        }
        if (process.env.SIM_TRACE) console.log(now, 'up', JSON.stringify(frame, (k, v) => v instanceof Uint8Array ? v.length : v));
        sender.handleFrame(frame, now);
      }
    }
    if (down) {
      for (const frame of down.take(now)) {
        if (process.env.SIM_TRACE) console.log(now, 'down', JSON.stringify(frame, (k, v) => v instanceof Uint8Array ? v.length : v));
        receiver.handleFrame(frame, now);
        if (!down) break;
        clientEvents();
        if (!down) break;
      }
    }
    clientEvents();
    if (sender) {
      const deadline = sender.pollTimeout();
      if (deadline !== undefined && now >= deadline) sender.handleTimeout(now);
    }
    {
      const deadline = receiver.pollTimeout();
      if (deadline !== undefined && now >= deadline) receiver.handleTimeout(now);
      clientEvents();
    }
    serverPump();
    maxBufferedBytes = Math.max(maxBufferedBytes, receiver.bufferedBytes);
    // The app reads.
    readBudget = options.readPerMs === Infinity ? Infinity : Math.min(readBudget + (now - lastReadAt) * options.readPerMs, 1_000);
    lastReadAt = now;
    let finished = false;
    while (readBudget >= 1) {
      const delivery = receiver.read(now);
      if (!delivery) break;
      readBudget -= 1;
      deliveries.push(delivery);
      if (delivery.kind === "item") {
        delivered.push(delivery.seq);
        if (delivery.seq % options.ackEvery === 0) receiver.ack(delivery.seq, now);
      } else if (delivery.kind === "end" || delivery.kind === "error") {
        finished = true;
        break;
      }
    }
    clientEvents();
    serverPump();
    flush();
    if (finished) break;
    // Advance virtual time to the next thing that can happen.
    const candidates = [up?.nextAt(), down?.nextAt(), sender?.pollTimeout(), receiver.pollTimeout(), reconnectAt];
    if (options.readPerMs !== Infinity && receiver.buffered > 0) candidates.push(now + Math.max(1, Math.ceil(1 / options.readPerMs)));
    let next: number | undefined;
    for (const c of candidates) if (c !== undefined && (next === undefined || c < next)) next = c;
    if (next === undefined) break;
    // At least 1 ms on: a deadline already due (a timer that did nothing) must not stall virtual time.
    now = next > now ? next : now + 1;
  }
  return {
    deliveries,
    delivered,
    sessions,
    virtualMs: now,
    maxBufferedBytes,
    bufferBound: Math.max(options.window.bytes, options.bigSize),
    receiver,
  };
}
