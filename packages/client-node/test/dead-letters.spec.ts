/**
 * Dead letters (PROTOCOL.md §3.4) over real sockets on 127.0.0.1: items a
 * stream refuses (validation, its maxItemBytes, a sink's permanent failure)
 * are rejected to their sender with the reason and land in the stream's
 * dead-letter stream as records a subscriber can read, while every other
 * item is accepted once, in order.
 */
import { SluiceError } from "@sluice/core";
import { SluiceServer, Topic, listen, type IngestItem, type Listening } from "@sluice/server-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSluiceClient, PublishError } from "../src/index.js";
import type { DeadLetterRecord } from "@sluice/server-node";

const payments = new Topic("payments", { historyItems: 10_000 });
const paymentsDlq = new Topic("payments.dlq", { historyItems: 10_000 });
const ledgerDlq = new Topic("ledger.dlq", { historyItems: 10_000 });
/** What the ledger sink took, in order, by publisher. */
const ledger = new Map<string, number[]>();
let ledgerWrites = 0;
const decoder = new TextDecoder();

const sluice = new SluiceServer({
  streams: {
    payments: {
      topic: payments,
      publish: {
        maxItemBytes: 200,
        deadLetterStream: "payments.dlq",
        validate: (data) => {
          const value = JSON.parse(decoder.decode(data)) as { amount?: unknown };
          return typeof value.amount === "number" ? undefined : `amount: expected a number, got ${JSON.stringify(value.amount)}`;
        },
      },
    },
    "payments.dlq": { topic: paymentsDlq },
    ledger: {
      publish: {
        deadLetterStream: "ledger.dlq",
        retries: { attempts: 2, initialMs: 5, maxMs: 10 },
        // Five permanent failures in a row would open it, were they counted.
        breaker: { failureThreshold: 5, openMs: 60_000 },
        // A database-like sink: one bad row fails the whole statement, and names no row.
        sink: {
          write(items: readonly IngestItem[], from) {
            ledgerWrites++;
            const values = items.map((item) => JSON.parse(decoder.decode(item.data)) as { n: number; poison?: boolean });
            if (values.some((value) => value.poison)) throw new SluiceError("source_failed", "check constraint ledger_n_positive violated", { retryable: false });
            const taken = ledger.get(from.publisherId) ?? [];
            ledger.set(from.publisherId, [...taken, ...values.map((value) => value.n)]);
            return items.map(() => ({ accepted: true as const }));
          },
        },
      },
    },
    "ledger.dlq": { topic: ledgerDlq },
  },
});
let server: Listening;
beforeAll(async () => {
  server = await listen(sluice);
});
afterAll(async () => {
  await server.close();
});

/** Every record of a dead-letter stream so far, read by a subscriber from its oldest retained item. */
async function deadLetters(topic: Topic): Promise<DeadLetterRecord[]> {
  const count = topic.stats.published;
  const client = createSluiceClient({ baseUrl: server.url });
  const records: DeadLetterRecord[] = [];
  for await (const event of client.subscribe<DeadLetterRecord>(topic.name, { startAfter: { seq: topic.oldestRetained - 1 } })) {
    if (event.kind !== "item") continue;
    records.push(event.value);
    if (records.length === count) break;
  }
  client.close();
  return records;
}

const TRANSPORTS = {
  http2: { transport: "http" },
  websocket: { transport: "websocket" },
  "HTTP/1.1 half duplex (PublishBatch)": { transport: "http", httpVersion: "1.1" },
} as const;

describe("the dead-letter stream and the server's checks", () => {
  it("refuses the stream's setup when its dead-letter stream is not a topic of the server", () => {
    expect(() => new SluiceServer({ streams: { a: { topic: new Topic("a"), publish: { deadLetterStream: "a.dlq" } } } })).toThrow('streams.a.publish.deadLetterStream: "a.dlq" is not a stream of this server with a topic');
  });
});

describe.each(Object.entries(TRANSPORTS))("dead letters over %s", (transport, connection) => {
  it("dead-letters items that fail validation or exceed the stream's maxItemBytes, with the reason, and takes the rest in order", async () => {
    const client = createSluiceClient({ baseUrl: server.url, ...connection });
    const publisherId = `payments-${transport}`;
    const publisher = client.publish<{ n: number; amount?: unknown; note?: string }>("payments", { publisherId });
    const publishedBefore = payments.stats.published;
    const dlqBefore = paymentsDlq.stats.published;
    const items = Array.from({ length: 30 }, (_, i) => {
      const n = i + 1;
      if (n % 10 === 3) return { n, amount: "12.50" };
      if (n % 10 === 7) return { n, amount: 1, note: "x".repeat(300) };
      return { n, amount: n * 100 };
    });
    const results = await Promise.allSettled(items.map((item) => publisher.send(item)));
    const rejected = results.flatMap((result, i) => (result.status === "rejected" ? [{ n: i + 1, error: result.reason as PublishError }] : []));
    expect(rejected.map(({ n }) => n)).toEqual([3, 7, 13, 17, 23, 27]);
    expect(rejected[0]!.error).toBeInstanceOf(PublishError);
    expect(rejected[0]!.error).toMatchObject({ failure: "dead_lettered", seq: 3, deadLetterTopic: "payments.dlq", message: 'dead-lettered: validation: amount: expected a number, got "12.50"' });
    expect(rejected[1]!.error.message).toMatch(/^dead-lettered: too large: 3\d\d bytes, over the stream's maxItemBytes 200$/);
    expect(publisher.stats).toMatchObject({ acked: 24, deadLettered: 6 });
    // Only the good ones reached the topic; the dead letters went to payments.dlq.
    expect(payments.stats.published - publishedBefore).toBe(24);
    expect(paymentsDlq.stats.published - dlqBefore).toBe(6);
    const records = (await deadLetters(paymentsDlq)).filter((record) => record.publisherId === publisherId);
    expect(records.map((record) => record.seq)).toEqual([3, 7, 13, 17, 23, 27]);
    expect(records[0]).toMatchObject({ stream: "payments", publisherId, seq: 3, reason: 'validation: amount: expected a number, got "12.50"', attempts: 0, value: { n: 3, amount: "12.50" } });
    // `data` holds the exact bytes, for a replay.
    expect(JSON.parse(Buffer.from(records[1]!.data, "base64").toString())).toEqual(items[6]);
    expect(Date.now() - Date.parse(records[0]!.time)).toBeLessThan(60_000);
    await publisher.close();
    client.close();
  });

  it("finds the bad items of a batch that a sink refuses whole (a permanent error) by halving it, dead-letters them alone, and keeps its breaker closed", async () => {
    const client = createSluiceClient({ baseUrl: server.url, ...connection });
    const publisherId = `ledger-${transport}`;
    const publisher = client.publish<{ n: number; poison?: boolean }>("ledger", { publisherId });
    const poisoned = new Set([5, 6, 41, 77, 78, 79, 80, 81, 200]);
    const writesBefore = ledgerWrites;
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => publisher.send(poisoned.has(i + 1) ? { n: i + 1, poison: true } : { n: i + 1 })));
    const rejected = results.flatMap((result, i) => (result.status === "rejected" ? [{ n: i + 1, error: result.reason as PublishError }] : []));
    expect(rejected.map(({ n }) => n)).toEqual([...poisoned]);
    expect(rejected[0]!.error).toMatchObject({ failure: "dead_lettered", deadLetterTopic: "ledger.dlq", message: "dead-lettered: sink: check constraint ledger_n_positive violated" });
    // Every other item once, in order; more than five permanent failures in a row did not open the breaker.
    expect(ledger.get(publisherId)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1).filter((n) => !poisoned.has(n)));
    const records = (await deadLetters(ledgerDlq)).filter((record) => record.publisherId === publisherId);
    expect(records.map((record) => record.seq)).toEqual([...poisoned]);
    // A poison item was tried in its batch and then alone.
    expect(records.every((record) => record.attempts >= 2 && record.reason === "sink: check constraint ledger_n_positive violated")).toBe(true);
    const after = await publisher.send({ n: 201 });
    expect(after.seq).toBe(201);
    // Halving finds 9 bad items of 200 in far fewer writes than one per item.
    const writes = ledgerWrites - writesBefore;
    console.log(`${transport}: ${writes} sink writes for 200 items with 9 bad ones`);
    expect(writes).toBeLessThan(100);
    await publisher.close();
    client.close();
  });
});
