/**
 * The subscribers of memory-bench.ts, in a process of their own (forked,
 * with IPC), so that the bench process only samples and the subscribers can
 * be stopped (SIGSTOP) as a whole: a client that reads nothing off its
 * sockets at all. Its memory is not measured.
 *
 * MEM_CLIENTS (JSON): { url, transport: "http2" | "websocket" | "http1.1",
 * subs, perClient, readMs, windowItems, windowBytes, size, heartbeatMs? }.
 * `subs` subscriptions to the server's "items" stream, `perClient` of them
 * per createSluiceClient (one connection each over HTTP/2 and WebSocket;
 * over HTTP/1.1 each long call has a socket of its own). Each subscriber
 * takes an item, then waits `readMs` before asking for the next one (0: it
 * takes the first and then nothing more).
 *
 * Messages to the parent: { type: "first", subs } once every subscriber has
 * had an item; { type: "closed", ... } after a { type: "close" } from it.
 */
import { bytes, createSluiceClient, type NodeClientOptions } from "@sluice/client-node";

interface Config {
  url: string;
  transport: "http2" | "websocket" | "http1.1";
  subs: number;
  perClient: number;
  readMs: number;
  windowItems: number;
  windowBytes: number;
  size: number;
  heartbeatMs?: number;
}

const config = JSON.parse(process.env.MEM_CLIENTS ?? "{}") as Config;
const send = (message: object) => process.send!(message);

const transportOptions: Record<Config["transport"], NodeClientOptions> = {
  http2: { baseUrl: config.url, transport: "http" },
  websocket: { baseUrl: config.url, transport: "websocket" },
  "http1.1": { baseUrl: config.url, transport: "http", httpVersion: "1.1" },
};

let closing = false;
let release!: () => void;
const closed = new Promise<void>((resolve) => (release = resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const clients: ReturnType<typeof createSluiceClient>[] = [];
const streams: ReturnType<ReturnType<typeof createSluiceClient>["subscribe"]>[] = [];
for (let i = 0; i < config.subs; i++) {
  if (i % config.perClient === 0) clients.push(createSluiceClient(transportOptions[config.transport]));
  streams.push(
    clients.at(-1)!.subscribe("items", {
      params: { size: config.size },
      codec: bytes(),
      window: { items: config.windowItems, bytes: config.windowBytes },
      ...(config.heartbeatMs ? { heartbeatIntervalMs: config.heartbeatMs } : {}),
    }),
  );
}

let firsts = 0;
let items = 0;
const failures: string[] = [];
const readers = streams.map(async (stream) => {
  let n = 0;
  try {
    for await (const event of stream) {
      if (event.kind !== "item") continue;
      items++;
      if (n++ === 0 && ++firsts === config.subs) send({ type: "first", subs: firsts });
      if (closing) break;
      await (config.readMs > 0 ? sleep(config.readMs) : closed);
      if (closing) break;
    }
  } catch (error) {
    if (!closing) failures.push(error instanceof Error ? error.message : String(error));
  }
});

process.on("message", (message: { type: string }) => {
  if (message.type !== "close") return;
  closing = true;
  release();
  const reconnects = streams.reduce((sum, s) => sum + s.stats.reconnects, 0);
  const errors = [...new Set([...failures, ...streams.map((s) => s.stats.lastError).filter((e) => e !== undefined)])];
  for (const stream of streams) stream.cancel();
  for (const client of clients) client.close();
  void Promise.race([Promise.allSettled(readers), sleep(5_000)]).then(() => {
    send({ type: "closed", items, reconnects, errors, clients: clients.length });
    process.exit(0);
  });
});
