/**
 * Topics on NATS JetStream (`topics.engine: nats`) across reference-server
 * instances, through the built CLI, on the real nats-server
 * (SLUICE_NATS_URL, default 127.0.0.1:4222): published on one instance,
 * read on the others, resumed on another instance when one is killed, and
 * still there when every instance restarted. Publishers fail over too:
 * the (stream, publisher id, seq) Nats-Msg-Id makes their resend land once.
 *
 * Skips loudly when NATS is unreachable; `.ci/run` starts it, so CI never skips.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createSluiceClient } from "@sluice/client-node";
import { freePort, startTcpProxy, until, waitForPort } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCli } from "./start-cli.js";

const NATS_URL = process.env.SLUICE_NATS_URL ?? "127.0.0.1:4222";
const nats: NatsConnection | undefined = await connect({ servers: NATS_URL, timeout: 2_000 }).catch((error: unknown) => {
  console.warn(`\n!!! NATS topic engine tests SKIPPED: NATS at ${NATS_URL} unreachable (${(error as Error).message}); .ci/run starts it !!!\n`);
  return undefined;
});
const PREFIX = `T${process.pid}_${Date.now() % 100_000}_`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!nats)("topics on NATS JetStream across instances (topics.engine: nats)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-nats-"));
  const config = join(dir, "nats.yaml");
  const children: ChildProcess[] = [];
  const start = async () => {
    const started = await startCli(["--config", config]);
    children.push(started.child);
    return { ...started, port: Number(new URL(started.url).port) };
  };
  beforeAll(() => {
    writeFileSync(
      config,
      [
        "topics: { engine: nats }",
        `nats: { servers: "${NATS_URL}", streamPrefix: ${PREFIX} }`,
        "streams:",
        "  feed:",
        "    source: { type: topic, historyItems: 100000 }",
        "    publish: {}",
        "",
      ].join("\n"),
    );
  });
  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    const jsm = await jetstreamManager(nats!);
    for await (const stream of jsm.streams.list()) if (stream.config.name.startsWith(PREFIX)) await jsm.streams.delete(stream.config.name);
    await nats!.close();
  });

  it("publishes on A, delivers on B and C; B is killed mid-stream and its subscriber resumes on C: every item once, in order; a restart keeps the history", async () => {
    const [a, b, c] = [await start(), await start(), await start()];
    // The subscriber's load balancer: on B now, on C once B is gone.
    const balancer = await startTcpProxy({ port: b.port });
    const total = 3_000;
    const readers = { moving: [] as number[], onC: [] as number[] };
    const seqs: number[] = [];
    const read = (url: string, into: number[], onSeq?: (seq: number) => void) => {
      const client = createSluiceClient({ baseUrl: url });
      let opened!: () => void;
      const open = new Promise<void>((resolve) => (opened = resolve));
      const done = (async () => {
        for await (const event of client.subscribe<{ n: number }>("feed", { onState: (s) => s.state === "open" && opened() })) {
          if (event.kind === "gap") throw new Error(`gap of ${event.count}`);
          into.push(event.value.n);
          onSeq?.(event.seq);
          if (into.length === total) break;
        }
        client.close();
      })();
      return { open, done };
    };
    const moving = read(balancer.url, readers.moving, (seq) => seqs.push(seq));
    const onC = read(c.url, readers.onC);
    await Promise.all([moving.open, onC.open]);
    const publisherClient = createSluiceClient({ baseUrl: a.url });
    const publisher = publisherClient.publish<{ n: number }>("feed", { publisherId: "feeder" });
    const sends: Promise<unknown>[] = [];
    for (let n = 0; n < total; n++) {
      sends.push(publisher.send({ n }));
      if (n % 100 === 99) await sleep(10);
      if (n === 1_000) {
        await until(() => readers.moving.length >= 500, 30_000, "the moving subscriber read 500 items");
        balancer.retarget({ port: c.port });
        b.child.kill("SIGKILL");
      }
    }
    await Promise.all(sends);
    await Promise.all([moving.done, onC.done]);
    const expected = Array.from({ length: total }, (_, n) => n);
    expect(readers.moving).toEqual(expected);
    expect(readers.onC).toEqual(expected);
    // The cursor is the JetStream stream sequence: contiguous across the move.
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
    await publisher.close();
    publisherClient.close();

    // Every instance stops; a new one serves the same items under the same seqs.
    for (const child of [a.child, c.child]) child.kill("SIGTERM");
    await balancer.close();
    const d = await start();
    const again: number[] = [];
    const client = createSluiceClient({ baseUrl: d.url });
    for await (const event of client.subscribe<{ n: number }>("feed", { startAfter: { seq: seqs[0]! - 1 } })) {
      if (event.kind === "item") {
        expect(event.seq).toBe(seqs[again.length]);
        again.push(event.value.n);
      }
      if (again.length === total) break;
    }
    expect(again).toEqual(expected);
    client.close();
  }, 120_000);

  it("lands a publisher's items once when it fails over to another instance mid-publish: the resend is deduplicated by Nats-Msg-Id", async () => {
    const [a, b] = [await start(), await start()];
    const balancer = await startTcpProxy({ port: a.port });
    const before = (await (await fetch(`${b.url}/streams`)).json()) as { streams: { name: string; history?: { nextSeq: number } }[] };
    const from = before.streams.find((s) => s.name === "feed")!.history!.nextSeq;
    const client = createSluiceClient({ baseUrl: balancer.url });
    const publisher = client.publish<{ n: number }>("feed", { publisherId: "failover" });
    const total = 4_000;
    const sends: Promise<unknown>[] = [];
    for (let n = 0; n < total; n++) {
      sends.push(publisher.send({ n }));
      if (n === 2_000) {
        await until(() => publisher.stats.acked >= 1_000, 30_000, "1 000 items acked");
        balancer.retarget({ port: b.port });
        a.child.kill("SIGKILL");
      }
    }
    await Promise.all(sends);
    expect(publisher.stats.reconnects).toBeGreaterThanOrEqual(1);
    await publisher.close();
    client.close();
    // What the stream holds: each item once, in order.
    const reader = createSluiceClient({ baseUrl: b.url });
    const got: number[] = [];
    for await (const event of reader.subscribe<{ n: number }>("feed", { startAfter: { seq: from - 1 } })) {
      if (event.kind === "item") got.push(event.value.n);
      if (got.length === total) break;
    }
    // Nothing beyond them either: the stream's newest seq is the last of them.
    const after = (await (await fetch(`${b.url}/streams`)).json()) as typeof before;
    expect(after.streams.find((s) => s.name === "feed")!.history!.nextSeq - from).toBe(total);
    expect(got).toEqual(Array.from({ length: total }, (_, n) => n));
    reader.close();
    await balancer.close();
  }, 120_000);

  it("drains an instance with 200 subscribers over HTTP/2, WebSocket and half duplex: every one moves to the next endpoint of its list and resumes, nothing lost, nothing twice", async () => {
    const [a, b, c] = [await start(), await start(), await start()];
    const modes = [
      ["HTTP/2", { transport: "http" }],
      ["WebSocket", { transport: "websocket" }],
      ["HTTP/1.1 half duplex", { transport: "http", httpVersion: "1.1" }],
    ] as const;
    const clients = modes.map(([, connection]) => createSluiceClient({ baseUrl: [b.url, c.url], ...connection }));
    const publisherClient = createSluiceClient({ baseUrl: a.url });
    const publisher = publisherClient.publish<{ n: number }>("feed", { publisherId: "drain-feeder" });
    // Where the topic is now (its seqs, not the publisher's): every subscriber starts after it.
    const listed = (await (await fetch(`${c.url}/streams`)).json()) as { streams: { name: string; history?: { nextSeq: number } }[] };
    const before = listed.streams.find((s) => s.name === "feed")!.history!.nextSeq - 1;
    const total = 1_000;
    const counts = { subscribers: 200, resumedAt: [] as number[] };
    let drainedAt = 0;
    const readers = Array.from({ length: counts.subscribers }, (_, i) => {
      const client = clients[i % 3]!;
      const got: number[] = [];
      let opened!: () => void;
      const open = new Promise<void>((resolve) => (opened = resolve));
      const done = (async () => {
        const stream = client.subscribe<{ n: number }>("feed", {
          startAfter: { seq: before },
          onState: (s) => {
            if (s.state === "open") opened();
            if (s.state === "resumed") counts.resumedAt.push(performance.now() - drainedAt);
          },
        });
        for await (const event of stream) {
          if (event.kind === "gap") throw new Error(`subscriber ${i} (${modes[i % 3]![0]}): gap of ${event.count} (${event.reason}) from seq ${event.fromSeq}, after ${got.length} items; started after ${before}`);
          got.push(event.value.n);
          if (got.length === total) break;
        }
        return got;
      })();
      return { open, done, mode: modes[i % 3]![0] };
    });
    await Promise.all(readers.map((r) => r.open));
    const sends: Promise<unknown>[] = [];
    for (let n = 0; n < total; n++) {
      sends.push(publisher.send({ n }));
      if (n % 20 === 19) await sleep(20);
      if (n === 300) {
        drainedAt = performance.now();
        b.child.kill("SIGTERM");
      }
    }
    await Promise.all(sends);
    const results = await Promise.all(readers.map((r) => r.done));
    const expected = Array.from({ length: total }, (_, n) => n);
    for (const [i, got] of results.entries()) expect(got, `subscriber ${i} (${readers[i]!.mode})`).toEqual(expected);
    expect(counts.resumedAt.length).toBeGreaterThanOrEqual(counts.subscribers);
    const sorted = [...counts.resumedAt].sort((x, y) => x - y);
    console.log(`drain: ${counts.subscribers} subscribers resumed on the next endpoint; from SIGTERM, p50 ${Math.round(sorted[sorted.length >> 1]!)} ms, last ${Math.round(sorted.at(-1)!)} ms`);
    // The drained instance ended cleanly (it may have exited already).
    expect(b.child.exitCode ?? (await new Promise((resolve) => b.child.once("exit", resolve)))).toBe(0);
    await publisher.close();
    publisherClient.close();
    for (const client of clients) client.close();
  }, 120_000);

  it("reports NATS in /readyz (503 while it is down, 200 once it is back), and refuses to start when NATS cannot be reached, naming it", async () => {
    // A private nats-server, stopped and started again under the instance.
    const port = await freePort();
    const store = mkdtempSync(join(tmpdir(), "sluice-nats-store-"));
    let natsServer = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store], { stdio: "ignore" });
    children.push(natsServer);
    await waitForPort(port, 10_000);
    const own = join(dir, "own-nats.yaml");
    writeFileSync(own, ["topics: { engine: nats }", `nats: { servers: "127.0.0.1:${port}" }`, "streams:", "  feed: { source: { type: topic }, publish: {} }", ""].join("\n"));
    const { child, url } = await startCli(["--config", own]);
    children.push(child);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    // /metrics: JetStream publish latency, and what a stalled subscriber has not been delivered yet.
    const client = createSluiceClient({ baseUrl: url });
    const stalled = client.subscribe<{ n: number }>("feed", { window: { items: 10, bytes: 1 << 20 } });
    const first = stalled[Symbol.asyncIterator]();
    const publisher = client.publish<{ n: number }>("feed");
    await Promise.all(Array.from({ length: 2_000 }, (_, n) => publisher.send({ n })));
    await first.next();
    const metric = async (name: string) => Number(/ (\S+)$/.exec((await (await fetch(`${url}/metrics`)).text()).split("\n").find((line) => line.startsWith(name))!)![1]);
    expect(await metric('sluice_nats_publish_seconds_count{topic="feed"}')).toBe(2_000);
    await until(async () => (await metric('sluice_nats_consumer_pending{topic="feed"}')) >= 1_000, 10_000, "the stalled subscriber's pending in /metrics");
    await publisher.close();
    client.close();
    natsServer.kill("SIGKILL");
    await new Promise((resolve) => natsServer.once("exit", resolve));
    const down = await fetch(`${url}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.text()).toMatch(new RegExp(`^nats 127\\.0\\.0\\.1:${port}: not connected \\(reconnecting\\)`));
    natsServer = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store], { stdio: "ignore" });
    children.push(natsServer);
    await until(async () => (await fetch(`${url}/readyz`)).status === 200, 20_000, "ready again once NATS is back");
    const unreachable = join(dir, "unreachable.yaml");
    writeFileSync(unreachable, ["topics: { engine: nats }", 'nats: { servers: "127.0.0.1:1" }', "streams:", "  feed: { source: { type: topic } }", ""].join("\n"));
    const failed = await startCli(["--config", unreachable]).then(
      () => "started",
      (error: unknown) => (error as Error).message,
    );
    expect(failed).toMatch(/exited with 1: sluice-server: nats: cannot connect to 127\.0\.0\.1:1 \(topics\.engine is nats\)/);
  }, 60_000);
});
