/**
 * The server side of fanout-bench.ts, in its own process so that the
 * subscribers and the server each get a core. It serves two Sluice streams
 * on one `listen` (protocols "h2c": HTTP/2 only, natively) and publishes the
 * items of every contender, so that all three are fed from the same place:
 *
 * - "memory": an in-memory Topic from @sluice/server, published to with
 *             topic.publish(bytes), in batches of 256 a turn of the event loop;
 * - "nats":   a NatsTopic from @sluice/topic-nats on a memory-storage
 *             JetStream stream (BENCH_STREAM, created here, deleted by the
 *             bench), published to with topic.publish(bytes), which waits for
 *             each PubAck, up to BENCH_PUBLISH_INFLIGHT (1 024) in flight;
 * - "natsjs": no Sluice stream: js.publish(subject, bytes) into the same
 *             JetStream stream, as many in flight, read by the bench's own
 *             nats.js consumers.
 *
 * Each item is BENCH_SIZE bytes: a float64 of its publish time
 * (performance.timeOrigin + performance.now(), taken as it is made), a
 * uint32 index (0xffffffff for warm-up items), then JSON-like filler.
 *
 * Both topics bound what a subscriber may fall behind to
 * BENCH_QUEUE_ITEMS (subscriberQueueItems; the bench keeps every subscriber
 * within its lead of the publisher, below that), and keep 100 000 items of
 * history (the stream's max_msgs too).
 *
 * The bench talks to it over the IPC channel: "clock" (a timestamp, to
 * estimate the clock offset), "warm" (one warm-up item into an engine), "run"
 * (publish `count` items while the index is below the credit the bench
 * grants) and "credit" (more); it answers "published" when the run's
 * last publish was done (acked, for JetStream). Prints one JSON line: { url }.
 */
import { jetstream } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { SluiceServer, Topic, listen } from "@sluice/server-node";
import { NatsTopic } from "@sluice/topic-nats";
import { payload } from "./bench-common.js";

const env = process.env;
const NATS_URL = env.SLUICE_NATS_URL ?? "127.0.0.1:4222";
const STREAM = env.BENCH_STREAM ?? `sluice_fanout_bench_${process.pid}`;
const SUBJECT = env.BENCH_SUBJECT ?? `${STREAM}.items`;
const SIZE = Number(env.BENCH_SIZE ?? 256);
const QUEUE_ITEMS = Number(env.BENCH_QUEUE_ITEMS ?? 16_384);
const PUBLISH_INFLIGHT = Number(env.BENCH_PUBLISH_INFLIGHT ?? 1024);
const HISTORY_ITEMS = 100_000;
const WARM_INDEX = 0xffffffff;
/** Memory-topic publishes per turn of the event loop. */
const BATCH = 256;

const wallClock = () => performance.timeOrigin + performance.now();
const template = payload(SIZE);
function item(index: number): Uint8Array {
  const data = new Uint8Array(SIZE);
  data.set(template);
  const view = new DataView(data.buffer);
  view.setUint32(8, index);
  view.setFloat64(0, wallClock());
  return data;
}

const nc = await natsConnect({ servers: NATS_URL, name: "fanout-bench-server" });
const js = jetstream(nc);
const memory = new Topic("memory", { historyItems: HISTORY_ITEMS, subscriberQueueItems: QUEUE_ITEMS });
// One NatsTopic per pull-ahead the bench asks for (BENCH_PULLS), all on the
// same JetStream stream and subject, as server instances sharing a topic are.
const PULLS = [...new Set((env.BENCH_PULLS ?? "256").split(",").map(Number))];
const natsTopics = new Map<string, NatsTopic>();
for (const pullAhead of PULLS) {
  natsTopics.set(`nats_${pullAhead}`, await NatsTopic.open("nats", { connection: nc, stream: STREAM, subject: SUBJECT, storage: "memory", historyItems: HISTORY_ITEMS, subscriberQueueItems: QUEUE_ITEMS, pullAhead }));
}

const connectionBudget = env.BENCH_CONNECTION_BUDGET_MIB ? Number(env.BENCH_CONNECTION_BUDGET_MIB) * 2 ** 20 : undefined;
const sluice = new SluiceServer({
  streams: { memory: { topic: memory }, ...Object.fromEntries([...natsTopics].map(([name, topic]) => [name, { topic }])) },
  ...(connectionBudget ? { maxConnectionBufferedBytes: connectionBudget, maxBufferedBytes: Math.max(512 * 2 ** 20, connectionBudget) } : {}),
});
const server = await listen(sluice, { protocols: "h2c" });

/** "memory", a NATS engine stream ("nats_256": its pull-ahead), or "natsjs". */
type Engine = string;
type Message = { type: "clock"; id: number } | { type: "warm"; engine: Engine } | { type: "run"; engine: Engine; count: number; credit: number } | { type: "credit"; upTo: number } | { type: "abort" };

const asyncPublish = (engine: Engine): ((data: Uint8Array) => Promise<unknown>) => {
  if (engine === "natsjs") return (data) => js.publish(SUBJECT, data);
  const topic = natsTopics.get(engine);
  if (!topic) throw new Error(`fanout-bench-server: no engine ${engine}`);
  return (data) => topic.publish(data);
};

/** The run in progress: publishes index < min(count, credit). */
let run: { engine: Engine; count: number; credit: number; issued: number; done: number; failed: number; startedAt: number; aborted: boolean; pump: () => void } | undefined;

function startRun(engine: Engine, count: number, credit: number): void {
  const startedAt = wallClock();
  const r = { engine, count, credit, issued: 0, done: 0, failed: 0, startedAt, aborted: false, pump: () => undefined as void };
  const finish = () => {
    if (r.aborted) return;
    process.send!({ type: "published", startedAt, ms: wallClock() - startedAt, failed: r.failed, stats: { memory: { ...memory.stats }, ...Object.fromEntries([...natsTopics].map(([name, topic]) => [name, { ...topic.stats }])) } });
    run = undefined;
  };
  if (engine === "memory") {
    let scheduled = false;
    const turn = () => {
      scheduled = false;
      let batch = 0;
      if (r.aborted) return;
      while (r.issued < r.count && r.issued < r.credit && batch++ < BATCH) memory.publish(item(r.issued++));
      r.done = r.issued;
      if (r.done === r.count) return finish();
      if (r.issued < r.credit) schedule();
    };
    const schedule = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(turn);
    };
    r.pump = schedule;
  } else {
    const send = asyncPublish(engine);
    const settled = () => {
      r.done++;
      if (r.done === r.count) finish();
      else r.pump();
    };
    const failed = () => {
      r.failed++;
      settled();
    };
    r.pump = () => {
      while (!r.aborted && r.issued < r.count && r.issued < r.credit && r.issued - r.done < PUBLISH_INFLIGHT) send(item(r.issued++)).then(settled, failed);
    };
  }
  run = r;
  r.pump();
}

process.on("message", (message: Message) => {
  switch (message.type) {
    case "clock":
      process.send!({ type: "clock", id: message.id, at: wallClock() });
      break;
    case "warm": {
      const data = item(WARM_INDEX);
      if (message.engine === "memory") memory.publish(data);
      else void asyncPublish(message.engine)(data).catch((error: unknown) => process.stderr.write(`[fanout-bench-server] warm-up publish failed: ${String(error)}\n`));
      break;
    }
    case "run":
      if (run) throw new Error("fanout-bench-server: a run is in progress");
      startRun(message.engine, message.count, message.credit);
      break;
    case "abort":
      // The bench gave up on the run: publish no more of it.
      if (run) run.aborted = true;
      run = undefined;
      break;
    case "credit":
      if (run && message.upTo > run.credit) {
        run.credit = message.upTo;
        run.pump();
      }
      break;
  }
});

console.log(JSON.stringify({ url: server.url, stream: STREAM, subject: SUBJECT }));
const stop = () => void nc.close().finally(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("disconnect", stop);
// The bench died without killing us (we were reparented): do not linger.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1_000).unref();
