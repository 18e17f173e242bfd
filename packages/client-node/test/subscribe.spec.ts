/**
 * The Node client against a real Sluice server on 127.0.0.1, the same suite
 * over every transport: HTTP/2 (full duplex) and HTTP/1.1 (half duplex:
 * SubscribeHalfDuplex + Control), both on the one port `listen` opens.
 */
import { SluiceServer, Topic, fromIterable, invalidParam, listen, type Listening } from "@sluice/server-node";
import { until } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { CancelSchema } from "@sluice/protocol";
import { createSluiceClient, SluiceError, bytes, protobuf } from "../src/index.js";

const encoder = new TextEncoder();
let pulled = 0;
let finallyAt = 0;
let cancelledAt = 0;
const topic = new Topic("ticks", { historyItems: 1_000 });

function* counting(limit: number) {
  for (let i = 1; i <= limit; i++) yield encoder.encode(String(i));
}

const sluice = new SluiceServer({
  limits: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 },
  streams: {
    numbers: {
      source: fromIterable((params: { count: number }) => counting(params.count)),
      params: (p) => {
        const count = p.count ?? 10;
        if (typeof count !== "number" || !Number.isInteger(count) || count < 0) throw invalidParam("count", `must be a non-negative integer, got ${JSON.stringify(count)}`);
        return { count };
      },
      contentType: "text/plain",
    },
    // The numbers with the default heartbeat (5 s / 15 s): 1 000 sessions in
    // this one process, server and clients sharing a core, saturate the event
    // loop past the suite's 1 s heartbeat timeout.
    steady: {
      source: fromIterable((params: { count: number }) => counting(params.count)),
      params: (p) => ({ count: Number(p.count ?? 10) }),
      limits: { heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 15_000 },
    },
    counted: {
      source: {
        async *open() {
          for (let i = 1; ; i++) {
            pulled = i;
            yield { data: encoder.encode(String(i)) };
          }
        },
      },
    },
    endless: {
      source: {
        async *open() {
          try {
            for (let i = 1; ; i++) yield { data: encoder.encode(String(i)) };
          } finally {
            finallyAt = performance.now();
          }
        },
      },
    },
    broken: {
      source: {
        async *open() {
          yield { data: encoder.encode("1") };
          throw new Error("disk on fire");
        },
      },
    },
    ticks: { topic },
    // Items whose value is their seq, with a gap of two seqs in every ten and
    // no cursors: a resume must reopen and skip seqs (not yields).
    gappy: {
      source: {
        async *open() {
          for (let seq = 1; seq <= 2_000; seq++) {
            if (seq % 10 === 3) yield { gap: 2, reason: "dropped_oldest" as const };
            else if (seq % 10 !== 4) yield { data: encoder.encode(String(seq)) };
          }
        },
      },
    },
    messages: {
      contentType: "application/x-protobuf",
      source: fromIterable(() => Array.from({ length: 1_000 }, (_, i) => toBinary(CancelSchema, create(CancelSchema, { reason: `message ${i + 1}` })))),
    },
  },
});
let server: Listening;

beforeAll(async () => {
  server = await listen(sluice);
});
afterAll(async () => {
  await server.close();
});

const TRANSPORTS = [
  { name: "HTTP/2, full duplex", transport: "http" as const, httpVersion: "2" as const, concurrent: 1_000, stats: "http2" },
  // HTTP/1.1 has one call per connection: 1 000 sessions would be 1 000 sockets.
  { name: "HTTP/1.1, half duplex", transport: "http" as const, httpVersion: "1.1" as const, concurrent: 100, stats: "http1.1" },
  { name: "WebSocket (transport-ws), full duplex", transport: "websocket" as const, httpVersion: "2" as const, concurrent: 1_000, stats: "websocket" },
];

describe.each(TRANSPORTS)("subscribe over $name", ({ transport, httpVersion, concurrent, stats }) => {
  const newClient = () => createSluiceClient({ baseUrl: server.url, transport, httpVersion });

  it("delivers 1 000 000 small items complete and in order", async () => {
    const client = newClient();
    let expected = 1;
    const decoder = new TextDecoder();
    for await (const event of client.subscribe("numbers", { params: { count: 1_000_000 }, codec: bytes() })) {
      if (event.kind !== "item") throw new Error("gap");
      if (event.seq !== expected || decoder.decode(event.value) !== String(expected)) throw new Error(`item ${event.seq} out of place, expected ${expected}`);
      expected++;
    }
    expect(expected - 1).toBe(1_000_000);
    client.close();
  }, 120_000);

  it("decodes protobuf items with the message schema's codec", async () => {
    const client = newClient();
    const reasons: string[] = [];
    for await (const event of client.subscribe("messages", { codec: protobuf(CancelSchema) })) if (event.kind === "item") reasons.push(event.value.reason);
    expect(reasons).toEqual(Array.from({ length: 1_000 }, (_, i) => `message ${i + 1}`));
    client.close();
  });

  it("never pulls the source more than the window ahead of a slow consumer", async () => {
    const client = newClient();
    const window = { items: 100, bytes: 1 << 20 };
    let consumed = 0;
    let maxAhead = 0;
    const stream = client.subscribe("counted", { window });
    for await (const event of stream) {
      if (event.kind !== "item") continue;
      consumed++;
      await new Promise((r) => setTimeout(r, 1));
      // The source may be ahead by the window plus what the server holds:
      // one pending item and the chunk being assembled.
      maxAhead = Math.max(maxAhead, pulled - consumed);
      if (consumed === 300) break;
    }
    expect(maxAhead).toBeLessThanOrEqual(window.items + 2);
    expect(maxAhead).toBeGreaterThan(window.items / 2);
    // The stats tell the app it is the bottleneck: the window filled and the server waited.
    expect(stream.stats.creditStalls).toBeGreaterThan(0);
    expect(stream.stats.creditStallMs).toBeGreaterThan(100);
    expect(stream.stats.transport).toBe(stats);
    client.close();
  });

  it("resumes after the server drops the connection, each item exactly once", async () => {
    const client = newClient();
    const seen: number[] = [];
    const stream = client.subscribe<number>("numbers", { params: { count: 50_000 }, window: { items: 500, bytes: 64 * 1024 }, backoff: { initialMs: 10, maxMs: 50 } });
    for await (const event of stream) {
      if (event.kind !== "item") continue;
      seen.push(event.value);
      if (event.seq % 10_000 === 0 && event.seq < 50_000) server.dropConnections();
    }
    expect(seen.length).toBe(50_000);
    expect(seen.every((v, i) => v === i + 1)).toBe(true);
    expect(stream.stats.reconnects).toBeGreaterThanOrEqual(4);
    client.close();
  });

  it("resumes a source that yields gaps at the right seq", async () => {
    const client = newClient();
    const items: number[] = [];
    let gaps = 0;
    let dropped = false;
    const stream = client.subscribe<number>("gappy", { window: { items: 50, bytes: 1 << 16 }, backoff: { initialMs: 10, maxMs: 50 } });
    for await (const event of stream) {
      if (event.kind === "gap") {
        gaps++;
        continue;
      }
      expect(event.value).toBe(event.seq);
      items.push(event.value);
      if (!dropped && event.seq >= 1_000) {
        dropped = true;
        server.dropConnections();
      }
    }
    expect(items).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1).filter((seq) => seq % 10 !== 3 && seq % 10 !== 4));
    expect(gaps).toBe(200);
    expect(stream.stats.reconnects).toBeGreaterThanOrEqual(1);
    client.close();
  });

  it("runs the source's finally within 100 ms of a cancel", async () => {
    const client = newClient();
    finallyAt = 0;
    const stream = client.subscribe("endless", { window: { items: 50, bytes: 1 << 16 } });
    let n = 0;
    for await (const event of stream) {
      if (event.kind === "item" && ++n === 500) {
        cancelledAt = performance.now();
        stream.cancel("enough");
      }
    }
    for (let i = 0; i < 50 && finallyAt === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(finallyAt).toBeGreaterThan(0);
    expect(finallyAt - cancelledAt).toBeLessThan(100);
    client.close();
  });

  it("fails with stream_not_found for an unknown stream, naming it", async () => {
    const client = newClient();
    const error = await drain(client.subscribe("books"));
    expect(error).toBeInstanceOf(SluiceError);
    expect(error?.code).toBe("stream_not_found");
    expect(error?.connectCode).toBe("not_found");
    expect(error?.message).toBe("stream not configured: books");
    client.close();
  });

  it("fails with invalid_argument naming the bad parameter", async () => {
    const client = newClient();
    const error = await drain(client.subscribe("numbers", { params: { count: "many" } }));
    expect(error?.code).toBe("invalid_argument");
    expect(error?.field).toBe("params.count");
    expect(error?.message).toMatch(/params\.count: must be a non-negative integer/);
    client.close();
  });

  it("reports a throwing source as source_failed after the items before it", async () => {
    const client = newClient();
    const stream = client.subscribe("broken", { backoff: { maxAttempts: 1, initialMs: 1 } });
    const values: unknown[] = [];
    let error: SluiceError | undefined;
    try {
      for await (const event of stream) if (event.kind === "item") values.push(event.value);
    } catch (e) {
      error = e as SluiceError;
    }
    expect(values[0]).toBe(1);
    expect(error?.code).toBe("source_failed");
    expect(error?.message).toMatch(/disk on fire/);
    client.close();
  });

  it(`serves ${concurrent} concurrent subscriptions${concurrent === 1_000 ? " over one connection" : ""}`, async () => {
    const client = newClient();
    let http2Connections = 0;
    const countConnection = () => http2Connections++;
    server.http2Server.on("session", countConnection);
    const socketsBefore = server.websocket!.accepted;
    const counts = await Promise.all(
      Array.from({ length: concurrent }, async () => {
        let n = 0;
        const stream = client.subscribe("steady", { params: { count: 200 }, window: { items: 64, bytes: 8192 } });
        for await (const event of stream) if (event.kind === "item") n++;
        return { n, reconnects: stream.stats.reconnects };
      }),
    );
    expect(counts.every(({ n }) => n === 200)).toBe(true);
    // Served side by side, not by resuming sessions that fell over.
    expect(counts.reduce((sum, { reconnects }) => sum + reconnects, 0)).toBe(0);
    server.http2Server.off("session", countConnection);
    if (stats === "http2") expect(http2Connections).toBe(1);
    if (stats === "websocket") expect(server.websocket!.accepted - socketsBefore).toBe(1);
    client.close();
  }, 120_000);

  it("keeps serving other streams after errors", async () => {
    const client = newClient();
    let n = 0;
    for await (const event of client.subscribe("numbers", { params: { count: 10 } })) if (event.kind === "item") n++;
    expect(n).toBe(10);
    client.close();
  });

  it("close() ends 30 open subscriptions, refuses new ones and leaves no connection open", async () => {
    await until(() => server.connections === 0, 5_000, "the earlier tests' connections to close");
    const client = newClient();
    const streams = Array.from({ length: 30 }, () => client.subscribe("steady", { params: { count: 1_000_000 }, window: { items: 10, bytes: 4_096 }, codec: bytes() }));
    const iterators = streams.map((stream) => stream[Symbol.asyncIterator]());
    await Promise.all(iterators.map((iterator) => iterator.next()));
    expect(client.openSubscriptions).toBe(30);
    expect(server.connections).toBeGreaterThan(0);
    client.close();
    expect(() => client.subscribe("steady")).toThrow(/subscribe\("steady"\): the client is closed/);
    // Every iteration ends (items already buffered may come first).
    await Promise.all(
      iterators.map(async (iterator) => {
        for (let r = await iterator.next(); !r.done; r = await iterator.next()) void r;
      }),
    );
    expect(client.openSubscriptions).toBe(0);
    // Nothing dials after close: no connection is left (a Control call racing close() used to leave a keep-alive socket).
    await until(() => server.connections === 0, 3_000, `the client's connections to close (${server.connections} open)`);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(server.connections).toBe(0);
  });
});

async function drain(stream: AsyncIterable<unknown>): Promise<SluiceError | undefined> {
  try {
    for await (const _ of stream) void _;
  } catch (error) {
    return error as SluiceError;
  }
  return undefined;
}
