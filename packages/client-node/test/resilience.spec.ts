/**
 * Flow control, liveness and hostile clients, over real HTTP/2 on 127.0.0.1.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import { clientFrameToWire, serverFrameFromWire, SubscribeRequestSchema, SubscribeService } from "@sluice/protocol";
import type { ClientFrame, ServerFrame } from "@sluice/core";
import { FrameQueue, type SessionOutcome } from "@sluice/driver";
import { SluiceServer, Topic, fromIterable, listen, type Listening } from "@sluice/server-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSluiceClient, bytes } from "../src/index.js";

const outcomes: SessionOutcome[] = [];
const idle = new Topic("idle");
const ticks = new Topic("ticks", { historyItems: 5_000, subscriberQueueItems: 1_000, overflow: "drop_oldest" });
const sluice = new SluiceServer({
  limits: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 },
  onSessionEnd: (outcome) => outcomes.push(outcome),
  streams: {
    numbers: { source: fromIterable(function* () { for (let i = 1; i <= 1_000_000; i++) yield i; }) },
    idle: { topic: idle },
    ticks: { topic: ticks },
  },
});
let server: Listening;
beforeAll(async () => {
  server = await listen(sluice);
});
afterAll(async () => {
  await server.close();
});

/** A hand-written client speaking raw frames, to misbehave on purpose. */
function rawCall(url: string) {
  const manager = new Http2SessionManager(url);
  const client = createClient(SubscribeService, createConnectTransport({ baseUrl: url, httpVersion: "2", sessionManager: manager }));
  const out = new FrameQueue<ClientFrame>();
  const responses = client.subscribe(
    (async function* () {
      for await (const f of out) yield create(SubscribeRequestSchema, { frame: clientFrameToWire(f) });
    })(),
  );
  const frames: ServerFrame[] = [];
  // Settles with the call's error (if any) instead of rejecting: a test that
  // closes the call early must not leave an unhandled rejection behind.
  const done: Promise<unknown> = (async () => {
    for await (const r of responses) frames.push(serverFrameFromWire(r.frame!));
  })().catch((error: unknown) => error);
  return { send: (f: ClientFrame) => void out.push(f), frames, done, close: () => manager.abort() };
}

const open = (stream: string, items = 10): ClientFrame => ({ type: "open", stream, params: {}, window: { items, bytes: 1 << 20 }, heartbeatIntervalMs: 0, clientInfo: "raw" });

describe("hostile and broken clients", () => {
  it("answers a credit violation with credit_violation and keeps serving others", async () => {
    const raw = rawCall(server.url);
    raw.send(open("numbers"));
    await until(() => raw.frames.some((f) => f.type === "chunk"));
    raw.send({ type: "credit", maxSeq: 1_000_000, maxBytes: 1 << 20 });
    await raw.done;
    const last = raw.frames.at(-1);
    expect(last?.type).toBe("error");
    expect(last?.type === "error" && last.code).toBe("credit_violation");
    expect(last?.type === "error" && last.message).toMatch(/credit max_seq 1000000 exceeds sent seq 10 \+ window 10/);
    raw.close();
    const client = createSluiceClient({ baseUrl: server.url });
    let n = 0;
    for await (const e of client.subscribe("numbers", { window: { items: 100, bytes: 1 << 16 } })) if (e.kind === "item" && ++n === 1000) break;
    expect(n).toBe(1000);
    client.close();
  });

  it("answers a frame before Open with protocol_violation", async () => {
    const raw = rawCall(server.url);
    raw.send({ type: "ack", seq: 1 });
    await raw.done;
    expect(raw.frames.at(-1)).toMatchObject({ type: "error", code: "protocol_violation" });
    raw.close();
  });

  it("detects a frozen client (sends nothing, reads nothing) within the heartbeat timeout", async () => {
    const raw = rawCall(server.url);
    const before = outcomes.length;
    raw.send(open("idle"));
    const started = performance.now();
    await until(() => outcomes.slice(before).some((o) => o.error?.code === "heartbeat_timeout"), 5_000);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(1_000 + 500);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    raw.close();
  });
});

describe("half-duplex Control calls", () => {
  /** A half-duplex session opened by hand, plus a Control client on HTTP/1.1. */
  async function halfDuplexSession(stream: string) {
    const transport = createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" });
    const client = createClient(SubscribeService, transport);
    const abort = new AbortController();
    const wireOpen = clientFrameToWire(open(stream, 10)).kind.value as never;
    const frames: ServerFrame[] = [];
    const done = (async () => {
      for await (const r of client.subscribeHalfDuplex({ open: wireOpen }, { signal: abort.signal })) frames.push(serverFrameFromWire(r.frame!));
    })().catch((error: unknown) => error);
    await until(() => frames.some((f) => f.type === "chunk"));
    const opened = frames[0]!;
    if (opened.type !== "opened") throw new Error("no Opened first");
    return { client, opened, frames, done, abort };
  }
  const control = (frames: ClientFrame[], id: string, secret: Uint8Array) => ({ sessionId: id, sessionSecret: secret, frames: frames.map(clientFrameToWire) });

  it("applies credit sent with the session secret, and refuses wrong or unknown secrets with permission_denied without touching the session", async () => {
    const { client, opened, frames, abort } = await halfDuplexSession("numbers");
    const items = () => frames.reduce((n, f) => n + (f.type === "chunk" ? f.items.length : 0), 0);
    await until(() => items() === 10);
    const wrong = new Uint8Array(opened.sessionSecret);
    wrong[0]! ^= 1;
    for (const [id, secret] of [
      [opened.sessionId, wrong],
      [opened.sessionId, new Uint8Array(0)],
      ["no-such-session", opened.sessionSecret],
    ] as const) {
      const error = await client.control(control([{ type: "cancel", reason: "hijack" }], id, secret)).then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(error?.code).toBe(Code.PermissionDenied);
      expect(error?.rawMessage).toBe("no session with this id and secret");
    }
    // The session is untouched: still streaming, and the owner's credit works.
    expect(frames.some((f) => f.type === "end" || f.type === "error")).toBe(false);
    await client.control(control([{ type: "credit", maxSeq: 20, maxBytes: 1 << 20 }], opened.sessionId, opened.sessionSecret));
    await until(() => items() === 20);
    abort.abort();
  });

  it("ends the session with protocol_violation when Control carries an Open", async () => {
    const { client, opened, frames, done } = await halfDuplexSession("numbers");
    await client.control(control([open("numbers")], opened.sessionId, opened.sessionSecret));
    await done;
    const last = frames.at(-1);
    expect(last?.type).toBe("error");
    if (last?.type === "error") expect(last.code).toBe("protocol_violation");
    // Ended sessions answer like unknown ones.
    const error = await client.control(control([{ type: "cancel", reason: "late" }], opened.sessionId, opened.sessionSecret)).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(error?.code).toBe(Code.PermissionDenied);
  });

  it("rejects an oversized Control call with resource_exhausted naming the field", async () => {
    const { client, opened, abort } = await halfDuplexSession("numbers");
    const many = Array.from({ length: 300 }, (): ClientFrame => ({ type: "heartbeat", ping: 1, pong: 0 }));
    const error = await client.control(control(many, opened.sessionId, opened.sessionSecret)).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(error?.code).toBe(Code.ResourceExhausted);
    expect(error?.rawMessage).toMatch(/^frames: 300 frames in one Control call/);
    abort.abort();
  });
});

describe("liveness", () => {
  it("keeps an idle stream alive with heartbeats, then delivers when data comes", async () => {
    const client = createSluiceClient({ baseUrl: server.url });
    const stream = client.subscribe<number>("idle");
    let publishedAt = Infinity;
    setTimeout(() => {
      publishedAt = performance.now();
      idle.publish(new TextEncoder().encode("42"));
    }, 2_500); // 2.5 heartbeat timeouts of silence
    for await (const e of stream) {
      expect(e.kind === "item" && e.value).toBe(42);
      // Delivered promptly after the silence (the flush-deadline rule itself is
      // timed with a 10 s heartbeat in live-latency.spec.ts and testing/test/pair.spec.ts).
      expect(performance.now() - publishedAt).toBeLessThan(250);
      break;
    }
    expect(stream.stats.sessions).toBe(1);
    expect(stream.stats.reconnects).toBe(0);
    expect(stream.stats.rttMs).toBeGreaterThanOrEqual(0);
    client.close();
  });
});

describe("topics", () => {
  it("does not hold fast subscribers back for slow ones; slow ones get gaps, memory stays bounded", async () => {
    const client = createSluiceClient({ baseUrl: server.url });
    const total = 2_000;
    const last = ticks.nextSeq - 1 + total;
    let publishing = true;
    const run = async (slow: boolean) => {
      const seqs: number[] = [];
      let skipped = 0;
      const stream = client.subscribe("ticks", { window: { items: slow ? 32 : 256, bytes: 1 << 20 }, codec: bytes() });
      for await (const e of stream) {
        if (e.kind === "gap") {
          skipped += e.count;
          expect(e.reason).toBe("dropped_oldest");
        } else {
          seqs.push(e.seq);
          if (slow && publishing) await new Promise((r) => setTimeout(r, 20));
        }
        if ((seqs.at(-1) ?? 0) >= last || (e.kind === "gap" && e.fromSeq + e.count - 1 >= last)) break;
      }
      return { seqs, skipped };
    };
    // 5 slow and 20 fast: enough fast ones to show the slow ones hold none of
    // them back, few enough that one client process keeps up with all of them
    // on a loaded 2-core machine (with 95 fast ones it fell behind by itself).
    const subscribers = Array.from({ length: 25 }, (_, i) => run(i < 5));
    await new Promise((r) => setTimeout(r, 300)); // let all 25 open
    const first = ticks.nextSeq;
    // 1 000 items/s for 2 s: a slow subscriber (50 items/s) falls far behind its
    // window + queue (32 + 1 000); a fast one never comes near it.
    for (let i = 0; i < total; i += 10) {
      for (let j = 0; j < 10; j++) ticks.publish(new Uint8Array(32));
      await new Promise((r) => setTimeout(r, 10));
    }
    publishing = false;
    const results = await Promise.all(subscribers);
    for (const [i, r] of results.entries()) {
      // Every seq is accounted for: delivered or reported in a gap.
      expect(r.seqs.length + r.skipped).toBe(total);
      expect(r.seqs[0]).toBeGreaterThanOrEqual(first);
      if (i >= 5) expect(r.skipped).toBe(0);
    }
    expect(results.slice(0, 5).every((r) => r.skipped > 0)).toBe(true);
    expect(ticks.stats.dropped).toBeGreaterThan(0);
    // Memory per subscriber is bounded by its queue (one extra entry for a gap marker).
    expect(ticks.stats.maxQueued).toBeLessThanOrEqual(ticks.queueItems + 1);
    client.close();
  }, 60_000);
});

describe("server memory with a slow consumer", () => {
  let child: ChildProcess;
  let url = "";
  beforeAll(async () => {
    const script = fileURLToPath(new URL("./fixtures/heap-server.ts", import.meta.url));
    child = spawn(process.execPath, ["--expose-gc", "--conditions=@sluice/source", "--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
    const [line] = (await once(child.stdout!, "data")) as [Buffer];
    url = line.toString().trim();
  });
  afterAll(() => {
    child.kill("SIGTERM");
  });

  it.each([
    { transport: "http" as const, httpVersion: "2" as const, name: "HTTP/2" },
    { transport: "http" as const, httpVersion: "1.1" as const, name: "HTTP/1.1 half duplex" },
    { transport: "websocket" as const, httpVersion: "2" as const, name: "WebSocket" },
  ])("stays below window + 1 MiB of heap growth while 1 000 000 items wait ($name)", async ({ transport, httpVersion }) => {
    const client = createSluiceClient({ baseUrl: url, transport, httpVersion });
    const heap = async () => {
      for await (const e of client.subscribe<{ heapUsed: number }>("heap")) if (e.kind === "item") return e.value.heapUsed;
      throw new Error("no heap reading");
    };
    await heap();
    const baseline = await heap();
    const window = { items: 10_000, bytes: 1 << 20 };
    const iterator = client.subscribe("million", { window, codec: bytes() })[Symbol.asyncIterator]();
    for (let i = 0; i < 1_000; i++) await iterator.next();
    await new Promise((r) => setTimeout(r, 1_000)); // the consumer stalls; the server must not buffer the rest
    const stalled = await heap();
    const growth = stalled - baseline;
    console.log(`server heap growth while stalled: ${(growth / 1024).toFixed(0)} KiB (bound ${(window.bytes + (1 << 20)) / 1024} KiB)`);
    expect(growth).toBeLessThan(window.bytes + (1 << 20));
    let n = 1_000;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) n++;
    expect(n).toBe(1_000_000);
    client.close();
  }, 120_000);
});

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
