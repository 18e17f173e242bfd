/**
 * The driver under a virtual clock (createPair): deadlines are checked at
 * exact times. The first test is the live-latency rule of issue 13: with a
 * 10 s heartbeat, an item of an idle live source must leave at the 5 ms
 * flush deadline; before the one pump it left with the next heartbeat.
 */
import type { SubscriptionEvent } from "@sluice/driver";
import { describe, expect, it } from "vitest";
import { createPair, pushSource, type Pair } from "../src/index.js";

const item = (n: number) => new Uint8Array([n]);
const seqOf = (event: SubscriptionEvent<Uint8Array>) => (event.kind === "item" ? event.seq : -1);

/** Consumes the subscription in the background, noting each event's virtual arrival time. */
function consume<T>(pair: Pair<T>) {
  const arrived: { at: number; seq: number; kind: string }[] = [];
  const done = (async () => {
    for await (const event of pair.subscription) arrived.push({ at: pair.clock.now(), seq: event.kind === "item" ? event.seq : -1, kind: event.kind });
  })();
  return { arrived, done };
}

describe("createPair: the driver on a virtual clock", () => {
  it("sends an item of an idle live source at the flush deadline, not with the next heartbeat", async () => {
    const live = pushSource();
    const pair = createPair({ source: () => live.items, chunk: { flushDelayMs: 5 }, subscription: { heartbeatIntervalMs: 10_000 } });
    const { arrived } = consume(pair);
    await pair.clock.advance(100); // opened, idle
    for (let n = 1; n <= 3; n++) {
      const pushedAt = pair.clock.now();
      live.push(item(n));
      await pair.clock.advance(4);
      expect(arrived.filter((a) => a.kind === "item"), `item ${n} still in its chunk 4 ms after it was made`).toHaveLength(n - 1);
      await pair.clock.advance(1);
      expect(arrived.at(-1)).toEqual({ at: pushedAt + 5, seq: n, kind: "item" });
      const chunk = pair.sent.server.filter((s) => s.frame.type === "chunk").at(-1)!;
      expect(chunk.at).toBe(pushedAt + 5);
      await pair.clock.advance(995);
    }
    // No heartbeat was needed to carry them: the first one is due at 10 s.
    expect(pair.sent.server.some((s) => s.frame.type === "heartbeat" && s.at < 10_000)).toBe(false);
    live.end();
  });

  it("pings at the negotiated interval on an idle session, and answers the client's pings with its next ones", async () => {
    const live = pushSource();
    const pair = createPair({ source: () => live.items, subscription: { heartbeatIntervalMs: 1_000 } });
    consume(pair);
    await pair.clock.advance(10_500);
    const beats = pair.sent.server.flatMap((s) => (s.frame.type === "heartbeat" ? [{ at: s.at, ...s.frame }] : []));
    const pings = beats.filter((b) => b.ping !== 0).map((b) => b.at);
    expect(pings).toHaveLength(10);
    for (let i = 1; i < pings.length; i++) expect(pings[i]! - pings[i - 1]!).toBe(1_000);
    // The client's pings ride on its pongs (PROTOCOL.md §6), and each got its pong in the server's next ping,
    // but for the last, which waits for the server's ping after the 10.5 s.
    const clientBeats = pair.sent.client.flatMap((s) => (s.frame.type === "heartbeat" && s.frame.ping !== 0 ? [s.frame] : []));
    expect(clientBeats.length).toBeGreaterThanOrEqual(9);
    for (const beat of clientBeats) expect(beat.pong).not.toBe(0);
    for (const beat of clientBeats.slice(0, -1)) expect(beats.some((b) => b.pong === beat.ping && b.ping !== 0 && (b.pongDelayUs ?? 0) > 0)).toBe(true);
    expect(beats.some((b) => b.pong === clientBeats.at(-1)!.ping)).toBe(false);
    expect(pair.sessions).toHaveLength(1);
    live.end();
  });

  it("resumes after the link breaks, on the virtual clock's backoff, without loss or duplicates", async () => {
    const pair = createPair({
      source: (open) =>
        (async function* () {
          for (let n = (open.resume?.seq ?? 0) + 1; n <= 300; n++) yield { data: item(n % 256) };
        })(),
      subscription: { window: { items: 16, bytes: 1 << 16 }, backoff: { initialMs: 100, maxMs: 100 } },
    });
    const events = pair.subscription[Symbol.asyncIterator]();
    const seqs: number[] = [];
    for (let i = 0; i < 40; i++) seqs.push(seqOf((await events.next()).value!));
    pair.break();
    await pair.clock.advance(0);
    const brokenAt = pair.sessions.length;
    expect(brokenAt).toBe(1); // backing off: no new session before virtual time passes
    const rest = (async () => {
      for (let r = await events.next(); !r.done; r = await events.next()) seqs.push(seqOf(r.value));
    })();
    await pair.clock.advance(1_000);
    await rest;
    expect(pair.sessions).toHaveLength(2);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(pair.subscription.stats.reconnects).toBe(1);
  });
});
