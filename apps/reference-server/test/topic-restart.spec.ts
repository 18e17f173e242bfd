/**
 * A topic restart is told to its subscribers (issue 14): the built server
 * with two in-memory topics published at 500 items/s is killed (SIGKILL) and
 * started again on the same port while subscribers on HTTP/2, HTTP/1.1 and
 * WebSocket are a few items in. The restarted topics number from a later
 * clock-based seq, so the subscribers' positions are from before the
 * restart: under `resumeExpired: fail` the app gets resume_position_lost
 * naming the restart, under `gap` a "restarted" gap and then new items, and
 * no subscriber ever gets a seq again. Before the fix the new topics
 * numbered from 1 and passed the subscribers' positions before they
 * reconnected, so they continued silently with the new topics' items.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSluiceClient } from "@sluice/client-node";
import { afterAll, expect, it } from "vitest";
import { startCli, type StartedCli } from "./start-cli.js";

const RATE = 500;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const dir = mkdtempSync(join(tmpdir(), "sluice-restart-"));
const config = join(dir, "topics.yaml");
writeFileSync(
  config,
  [
    "streams:",
    `  strict: { source: { type: topic, historyItems: 10000, demoPublisherPerSecond: ${RATE}, resumeExpired: fail } }`,
    `  lenient: { source: { type: topic, historyItems: 10000, demoPublisherPerSecond: ${RATE}, resumeExpired: gap } }`,
  ].join("\n"),
);

let server: StartedCli | undefined;
afterAll(() => {
  server?.child.kill("SIGKILL");
});

type Event = { kind: "item"; seq: number } | { kind: "gap"; fromSeq: number; count: number; reason: string };

const transports = [
  { name: "HTTP/2", options: { transport: "http" } },
  { name: "HTTP/1.1", options: { transport: "http", httpVersion: "1.1" } },
  { name: "WebSocket", options: { transport: "websocket" } },
] as const;

it("tells subscribers on every transport that the topic restarted: resume_position_lost (fail) or a restarted gap (gap), never reused seqs", async () => {
  const port = await freePort();
  const env = { SLUICE_PORT: String(port) };
  server = await startCli(["--config", config], env);
  const baseUrl = server.url;
  // Reconnects wait 1 s: by then the restarted topics (numbering from 1 before the fix) are past every position.
  const clients = transports.map((t) => ({ ...t, client: createSluiceClient({ baseUrl, ...t.options }) }));
  const subscriptions = clients.flatMap(({ name, client }) =>
    (["strict", "lenient"] as const).map((stream) => {
      const subscription = client.subscribe(stream, { backoff: { initialMs: 1_000, maxMs: 1_000, maxAttempts: 20 } });
      return { name, stream, subscription, iterator: subscription[Symbol.asyncIterator](), events: [] as Event[] };
    }),
  );
  try {
    // A few items each, then the server dies.
    await Promise.all(
      subscriptions.map(async (s) => {
        while (s.events.length < 5) {
          const r = await s.iterator.next();
          if (r.value?.kind === "item") s.events.push({ kind: "item", seq: r.value.seq });
        }
      }),
    );
    const before = new Map(subscriptions.map((s) => [s, (s.events.at(-1) as { seq: number }).seq]));
    server.child.kill("SIGKILL");
    await new Promise((resolve) => server!.child.once("exit", resolve));
    server = await startCli(["--config", config], env);

    await Promise.all(
      subscriptions.map(async (s) => {
        const last = before.get(s)!;
        if (s.stream === "strict") {
          // Items still in flight before the kill may arrive first; then the terminal error.
          const error = await (async () => {
            for (;;) {
              const r = await s.iterator.next();
              if (r.done) return undefined;
              if (r.value.kind === "item") expect(r.value.seq, `${s.name} strict`).toBeLessThanOrEqual(last + RATE);
            }
          })().then(
            () => undefined,
            (e: { code?: string; message?: string }) => e,
          );
          expect(error, `${s.name} strict`).toMatchObject({ code: "resume_position_lost", message: expect.stringMatching(/topic strict restarted: resume after seq \d+ is from before the restart/) });
          return;
        }
        let gap: Event | undefined;
        let seen = last;
        while (!gap || s.events.filter((e) => e.kind === "item" && e.seq > (gap as { fromSeq: number }).fromSeq).length < 5) {
          const r = await s.iterator.next();
          if (r.done) throw new Error(`${s.name} lenient ended`);
          const e: Event = r.value.kind === "item" ? { kind: "item", seq: r.value.seq } : { kind: "gap", fromSeq: r.value.fromSeq, count: r.value.count, reason: r.value.reason };
          s.events.push(e);
          if (e.kind === "gap" && e.reason === "restarted") gap = e;
          else if (e.kind === "item") {
            // Seqs only ever grow: nothing is delivered twice or out of order.
            expect(e.seq, `${s.name} lenient`).toBeGreaterThan(seen);
            seen = e.seq;
          }
        }
        const restartGap = gap as { fromSeq: number; count: number };
        expect(restartGap.fromSeq, `${s.name} lenient`).toBeLessThanOrEqual(seen);
        expect(s.subscription.stats.lastResume?.gap).toMatchObject({ reason: "restarted" });
      }),
    );
  } finally {
    for (const s of subscriptions) s.subscription.cancel();
    for (const { client } of clients) client.close();
  }
}, 60_000);
