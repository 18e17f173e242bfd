/**
 * The PostgreSQL sink against the real database (SLUICE_PG_URL, default
 * postgres://postgres@127.0.0.1:5432/test), behind a real server on
 * 127.0.0.1 and real publishers (HTTP/2, WebSocket): 10 000 items land once
 * with their values; connections cut mid-publish, and a server lost with an
 * ack, duplicate nothing; a row the database refuses is dead-lettered to its
 * sender with the database's reason while the items around it land; and a
 * database stopped for 3 s (a private cluster of this test, never the shared
 * one) holds the publisher back without failing it, and every item lands once.
 *
 * Skips loudly when the database is unreachable; `.ci/run` starts it, so CI
 * never skips. Every test has its own randomly named table, dropped after.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSluiceClient, PublishError } from "@sluice/client-node";
import { SluiceError } from "@sluice/core";
import { SluiceServer, Topic, listen, type IngestOutcome, type Listening, type PublishSink, type SluiceServerOptions, type StreamDefinition } from "@sluice/server-node";
import { freePort, startTcpProxy, until } from "@sluice/testing";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { postgresSink, postgresSinkError } from "../src/postgres-sink.js";
import { PG_URL, pgReachable } from "./pg-reachable.js";

const reachable = await pgReachable("PostgreSQL sink tests");

/** The newest local PostgreSQL's bin directory (for the private cluster of the outage test), or undefined. */
function postgresBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb")) && existsSync(join(root, v, "bin", "pg_ctl")));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}
const PG_BIN = postgresBin();
const canRunCluster = PG_BIN !== undefined && process.getuid?.() === 0;
if (reachable && !canRunCluster) console.warn(`\n!!! PostgreSQL sink outage test SKIPPED: it needs root and initdb/pg_ctl under /usr/lib/postgresql/*/bin (found ${PG_BIN ?? "none"}) !!!\n`);

const TRANSPORTS = { http2: { transport: "http" }, websocket: { transport: "websocket" } } as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const encode = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

/** A server of `streams` on 127.0.0.1 (a random port unless `port`). */
function serve(streams: Record<string, StreamDefinition>, options: Partial<SluiceServerOptions> = {}, port = 0): Promise<Listening> {
  return listen(new SluiceServer({ limits: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 }, ...options, streams }), { port });
}

/** Tables made by a test, dropped after it. */
/**
 * A pool on the shared database for one describe block, ended after it, and
 * its tables, dropped after each test. (A pool connects only when used, so
 * making it while the block is collected costs nothing when it is skipped.)
 */
function suitePool(): { pool: pg.Pool; tables: ReturnType<typeof tableMaker> } {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  pool.on("error", () => undefined);
  const tables = tableMaker(() => pool);
  afterEach(() => tables.dropAll());
  afterAll(async () => {
    await pool.end();
  });
  return { pool, tables };
}

function tableMaker(pool: () => pg.Pool) {
  const made: string[] = [];
  return {
    /** Creates a table of a random name with `columns` ($T in them stands for the name) and returns the name. */
    async create(columns: string): Promise<string> {
      const name = `sluice_sink_${randomBytes(6).toString("hex")}`;
      await pool().query(`CREATE TABLE ${name} (${columns.replaceAll("$T", name)})`);
      made.push(name);
      return name;
    },
    async dropAll(): Promise<void> {
      for (const name of made.splice(0)) await pool().query(`DROP TABLE IF EXISTS ${name}`);
    },
  };
}

/** count, distinct seqs, the seq range and how many rows hold item seq - 1 intact ({ n: seq - 1, ... } from `publisherId`). */
async function landed(pool: pg.Pool, table: string, publisherId: string): Promise<{ rows: number; seqs: number; first: number; last: number; intact: number }> {
  const { rows } = await pool.query<{ rows: number; seqs: number; first: number; last: number; intact: number }>(
    `SELECT count(*)::int AS rows, count(DISTINCT seq)::int AS seqs, coalesce(min(seq), 0)::int AS first, coalesce(max(seq), 0)::int AS last,
       count(*) FILTER (WHERE publisher_id = $1 AND data = jsonb_build_object('n', seq - 1))::int AS intact FROM ${table}`,
    [publisherId],
  );
  return rows[0]!;
}

describe("postgresSink without a database", () => {
  const pool = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:1/test", connectionTimeoutMillis: 1_000 });
  pool.on("error", () => undefined);
  afterAll(async () => {
    await pool.end();
  });

  it("refuses names that are not plain identifiers, and a column given twice, up front and naming the option", () => {
    expect(() => postgresSink({ pool, stream: "s", table: 'orders"; DROP TABLE x; --' })).toThrow(/^postgresSink: table must be an identifier of letters, digits and _/);
    expect(() => postgresSink({ pool, stream: "s", table: "a.b.c" })).toThrow("postgresSink: table must be name or schema.name, got \"a.b.c\"");
    expect(() => postgresSink({ pool, stream: "s", table: "t", seqColumn: "seq number" })).toThrow(/^postgresSink: seqColumn must be an identifier/);
    expect(() => postgresSink({ pool, stream: "s", table: "t", columns: { 'x"y': "x" } })).toThrow(/^postgresSink: columns key must be an identifier/);
    expect(() => postgresSink({ pool, stream: "s", table: "t".repeat(64) })).toThrow(/at most 63 characters/);
    expect(() => postgresSink({ pool, stream: "s", table: "t", columns: { data: "payload" } })).toThrow('postgresSink: column "data" is given twice');
  });

  it("throws unavailable (retryable) naming host and port when the database refuses connections: an outage, never a dead letter", async () => {
    const sink = postgresSink({ pool, stream: "s", table: "t" });
    const error = await sink.write([{ seq: 1, data: encode({ n: 0 }) }], { stream: "s", publisherId: "p" }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ code: "unavailable", retryable: true, message: "postgres 127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1" });
    expect(sink.stats.failed).toBe(1);
  });

  it("sorts PostgreSQL's failures into outages (retryable) and refused rows (permanent, the database's reason)", () => {
    const pgError = (code: string, message: string, detail?: string) => Object.assign(new Error(message), { code, detail, severity: "ERROR" });
    const sorted = (error: unknown) => {
      const e = postgresSinkError("db:5432", error);
      return [e.code, e.retryable, e.message];
    };
    expect(sorted(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }))).toEqual(["unavailable", true, "postgres db:5432: read ECONNRESET"]);
    expect(sorted(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }))).toEqual(["unavailable", true, "postgres db:5432: write EPIPE"]);
    expect(sorted(new Error("Connection terminated unexpectedly"))).toEqual(["unavailable", true, "postgres db:5432: Connection terminated unexpectedly"]);
    expect(sorted(new Error("timeout exceeded when trying to connect"))).toEqual(["unavailable", true, "postgres db:5432: timeout exceeded when trying to connect"]);
    expect(sorted(pgError("57P01", "terminating connection due to administrator command"))).toEqual(["unavailable", true, "postgres db:5432: terminating connection due to administrator command (SQLSTATE 57P01)"]);
    expect(sorted(pgError("57P03", "the database system is starting up"))[0]).toBe("unavailable");
    expect(sorted(pgError("08006", "connection failure"))[0]).toBe("unavailable");
    expect(sorted(pgError("53300", "sorry, too many clients already"))[0]).toBe("unavailable");
    expect(sorted(pgError("23514", 'new row for relation "t" violates check constraint "t_amount_check"', "Failing row contains (1, p, -5)."))).toEqual(["source_failed", false, 'new row for relation "t" violates check constraint "t_amount_check" (SQLSTATE 23514)']);
    expect(sorted(pgError("23503", 'insert or update on table "t" violates foreign key constraint "t_c_fkey"', 'Key (c)=(42) is not present in table "c".'))).toEqual(["source_failed", false, 'insert or update on table "t" violates foreign key constraint "t_c_fkey": Key (c)=(42) is not present in table "c". (SQLSTATE 23503)']);
    expect(sorted(pgError("22P02", 'invalid input syntax for type integer: "abc"'))).toEqual(["source_failed", false, 'invalid input syntax for type integer: "abc" (SQLSTATE 22P02)']);
    expect(sorted(pgError("23502", 'null value in column "c" of relation "t" violates not-null constraint'))[1]).toBe(false);
    // Neither an outage nor the row's fault: retried, never dead-lettered.
    expect(sorted(pgError("40001", "could not serialize access"))).toEqual(["source_failed", true, "postgres db:5432: could not serialize access (SQLSTATE 40001)"]);
    expect(sorted(pgError("42501", "permission denied for table t"))).toEqual(["source_failed", true, "postgres db:5432: permission denied for table t (SQLSTATE 42501)"]);
    expect(sorted(new TypeError("something else"))).toEqual(["source_failed", true, "postgres db:5432: something else"]);
  });
});

describe.skipIf(!reachable)("postgresSink on its own", () => {
  const { pool, tables } = suitePool();
  const from = { stream: "orders", publisherId: "p-1" };

  it("takes a batch written twice once: the second time every item is acked and nothing is inserted", async () => {
    const table = await tables.create("publisher_id text, seq bigint, data jsonb, PRIMARY KEY (publisher_id, seq)");
    const sink = postgresSink({ pool, stream: "orders", table });
    const batch = Array.from({ length: 300 }, (_, i) => ({ seq: i + 1, data: encode({ n: i }) }));
    expect((await sink.write(batch, from)).every((fate) => fate.accepted)).toBe(true);
    expect((await sink.write(batch.slice(100), from)).every((fate) => fate.accepted)).toBe(true);
    expect(await landed(pool, table, "p-1")).toEqual({ rows: 300, seqs: 300, first: 1, last: 300, intact: 300 });
    expect(sink.stats).toMatchObject({ writes: 2, inserted: 300, duplicates: 200, refused: 0, failed: 0 });
  });

  it("refuses items the data column cannot take one by one, and writes the rest of the batch in the same INSERT", async () => {
    const jsonTable = await tables.create("publisher_id text, seq bigint, data json, UNIQUE (publisher_id, seq)");
    const json = postgresSink({ pool, stream: "orders", table: jsonTable });
    const fates = await json.write([{ seq: 1, data: encode('{"a": 1,  "b": [true]}') }, { seq: 2, data: encode("{not json") }, { seq: 3, data: new Uint8Array([0xff, 0xfe]) }, { seq: 4, data: encode("42") }], from);
    expect(fates).toEqual([
      { accepted: true },
      { accepted: false, reason: "sink: the item is not JSON (Expected property name or '}' in JSON at position 1)" },
      { accepted: false, reason: "sink: the item is not UTF-8 text (column data is json)" },
      { accepted: true },
    ]);
    expect(json.stats).toMatchObject({ writes: 1, inserted: 2, refused: 2 });
    // json keeps the item's text as it was sent.
    expect((await pool.query(`SELECT seq::int, data::text FROM ${jsonTable} ORDER BY seq`)).rows).toEqual([
      { seq: 1, data: '{"a": 1,  "b": [true]}' },
      { seq: 4, data: "42" },
    ]);

    const textTable = await tables.create("publisher_id varchar(300), seq integer, body text, UNIQUE (seq, publisher_id)");
    const text = postgresSink({ pool, stream: "orders", table: textTable, dataColumn: "body" });
    expect(await text.write([{ seq: 1, data: encode("plain 'text' \\ \"é\"") }, { seq: 2, data: encode("nul\u0000here") }], from)).toEqual([
      { accepted: true },
      { accepted: false, reason: "sink: the item holds a NUL character, which column body (text) cannot" },
    ]);
    expect((await pool.query(`SELECT body FROM ${textTable}`)).rows).toEqual([{ body: "plain 'text' \\ \"é\"" }]);

    const bytesTable = await tables.create("publisher_id text, seq bigint, data bytea NOT NULL, PRIMARY KEY (publisher_id, seq)");
    const bytes = postgresSink({ pool, stream: "orders", table: `public.${bytesTable}` });
    const raw = new Uint8Array([0, 255, 92, 34, 123, 10, 0x80]);
    expect(await bytes.write([{ seq: 1, data: raw }], from)).toEqual([{ accepted: true }]);
    expect(new Uint8Array((await pool.query<{ data: Buffer }>(`SELECT data FROM ${bytesTable}`)).rows[0]!.data)).toEqual(raw);
  });

  it("fills mapped columns from the item's fields (cast by PostgreSQL): a missing field is NULL, or refuses the item when its column is NOT NULL", async () => {
    const table = await tables.create("publisher_id text, seq bigint, data jsonb, amount numeric(10,2) NOT NULL, placed timestamptz, tags jsonb, note text, UNIQUE (publisher_id, seq)");
    const sink = postgresSink({ pool, stream: "orders", table, columns: { amount: "total", placed: "at", tags: "tags", note: "note" } });
    const fates = await sink.write(
      [
        { seq: 1, data: encode({ total: 12.5, at: "2024-05-01T10:00:00Z", tags: ["a", "b"], note: "first" }) },
        { seq: 2, data: encode({ total: "7", note: null }) },
        { seq: 3, data: encode({ note: "no total" }) },
        { seq: 4, data: encode([1, 2]) },
      ],
      from,
    );
    expect(fates).toEqual([
      { accepted: true },
      { accepted: true },
      { accepted: false, reason: 'sink: the item has no "total" (or it is null), and column amount is NOT NULL' },
      { accepted: false, reason: "sink: the item is not a JSON object, and columns are mapped from its fields" },
    ]);
    const { rows } = await pool.query(`SELECT seq::int, amount::text, placed = '2024-05-01T10:00:00Z' AS placed, tags, note FROM ${table} ORDER BY seq`);
    expect(rows).toEqual([
      { seq: 1, amount: "12.50", placed: true, tags: ["a", "b"], note: "first" },
      { seq: 2, amount: "7.00", placed: null, tags: null, note: null },
    ]);
    // A value the column cannot take is the database's to refuse, as bad data (the server then isolates the item), and never cut to fit.
    const short = await tables.create("publisher_id varchar(256), seq bigint, data jsonb, code varchar(5), qty integer, UNIQUE (publisher_id, seq)");
    const strict = postgresSink({ pool, stream: "orders", table: short, columns: { code: "code", qty: "qty" } });
    const refusal = (data: unknown) => strict.write([{ seq: 1, data: encode(data) }], from).then(() => undefined, (e: unknown) => e as SluiceError);
    expect(await refusal({ code: "toolong" })).toMatchObject({ code: "source_failed", retryable: false, message: "value too long for type character varying(5) (SQLSTATE 22001)" });
    expect(await refusal({ code: "ok", qty: "many" })).toMatchObject({ code: "source_failed", retryable: false, message: 'invalid input syntax for type integer: "many" (SQLSTATE 22P02)' });
    expect(Number((await pool.query(`SELECT count(*) FROM ${short}`)).rows[0].count)).toBe(0);
  });

  it("keeps streams apart with streamColumn: the same publisher id and seq from two streams are two rows", async () => {
    const table = await tables.create("stream text, publisher_id text, seq bigint, data jsonb, PRIMARY KEY (stream, publisher_id, seq)");
    const sink = postgresSink({ pool, stream: "orders", table, streamColumn: "stream" });
    await sink.write([{ seq: 1, data: encode({ n: 0 }) }], { stream: "a", publisherId: "p" });
    await sink.write([{ seq: 1, data: encode({ n: 0 }) }], { stream: "b", publisherId: "p" });
    await sink.write([{ seq: 1, data: encode({ n: 0 }) }], { stream: "b", publisherId: "p" });
    expect((await pool.query(`SELECT stream FROM ${table} ORDER BY stream`)).rows).toEqual([{ stream: "a" }, { stream: "b" }]);
    expect(sink.stats).toMatchObject({ inserted: 2, duplicates: 1 });
  });

  it("names the table and what is missing: ready() rejects (not retryable); a write throws retryable, so nothing is dead-lettered for a table that does not fit", async () => {
    const noKey = await tables.create("publisher_id text, seq bigint, data jsonb, id bigserial PRIMARY KEY");
    const missing = await tables.create("publisher_id text, seq bigint, payload jsonb, UNIQUE (publisher_id, seq)");
    const partial = await tables.create("publisher_id text, seq bigint, data jsonb");
    await pool.query(`CREATE UNIQUE INDEX ${partial}_key ON ${partial} (publisher_id, seq) WHERE seq > 0`);
    const wrongType = await tables.create("publisher_id text, seq bigint, data integer, UNIQUE (publisher_id, seq)");
    const shortIds = await tables.create("publisher_id varchar(32), seq bigint, data jsonb, UNIQUE (publisher_id, seq)");
    const reasons = async (table: string) => {
      const sink = postgresSink({ pool, stream: "orders", table });
      const ready = await sink.ready().then(() => undefined, (e: unknown) => e as SluiceError);
      const write = await sink.write([{ seq: 1, data: encode({ n: 0 }) }], from).then(() => undefined, (e: unknown) => e as SluiceError);
      return { ready: ready && [ready.retryable, ready.message], write: write && [write.code, write.retryable, write.retryAfterMs] };
    };
    expect(await reasons(noKey)).toEqual({
      ready: [false, `stream orders: postgres table ${noKey}: has no unique key on exactly (publisher_id, seq), which makes a resent batch land once; it has ${noKey}_pkey (id). Add one: ALTER TABLE "${noKey}" ADD UNIQUE ("publisher_id", "seq")`],
      write: ["source_failed", true, 5_000],
    });
    expect((await reasons(missing)).ready).toEqual([false, `stream orders: postgres table ${missing}: has no column "data" (it has publisher_id, seq, payload)`]);
    expect((await reasons(partial)).ready![1]).toContain(`it has ${partial}_key (publisher_id, seq) (partial, expression, deferrable or invalid)`);
    expect((await reasons(wrongType)).ready![1]).toBe(`stream orders: postgres table ${wrongType}: column "data" is integer; the item column must be jsonb, json, text, varchar or bytea`);
    expect((await reasons(shortIds)).ready![1]).toBe(`stream orders: postgres table ${shortIds}: column "publisher_id" is character varying(32); publisher ids have up to 256 characters`);
    expect((await reasons("sluice_sink_no_such_table")).ready).toEqual([false, 'stream orders: postgres table sluice_sink_no_such_table: there is no such table (looked up as "sluice_sink_no_such_table")']);
  });
});

describe.skipIf(!reachable)("the PostgreSQL sink behind a server", () => {
  const { pool, tables } = suitePool();

  it.each(Object.entries(TRANSPORTS))("lands 10 000 JSON items from one publisher once each, with their values (%s)", async (name, connection) => {
    const table = await tables.create("id bigserial PRIMARY KEY, publisher_id text NOT NULL, seq bigint NOT NULL, data jsonb NOT NULL, n integer NOT NULL, label text, UNIQUE (publisher_id, seq)");
    const sink = postgresSink({ pool, stream: "orders", table, columns: { n: "n", label: "label" } });
    const running = await serve({ orders: { publish: { sink } } });
    try {
      const client = createSluiceClient({ baseUrl: running.url, ...connection });
      const publisher = client.publish<{ n: number; label: string; tags: string[] }>("orders");
      const total = 10_000;
      const started = performance.now();
      const receipts = await Promise.all(Array.from({ length: total }, (_, n) => publisher.send({ n, label: `item ${n}`, tags: ["a", `t${n % 7}`] })));
      const seconds = (performance.now() - started) / 1000;
      expect(receipts.map((r) => r.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(publisher.stats).toMatchObject({ acked: total, deadLettered: 0, inFlight: 0 });
      await publisher.close();
      client.close();
      const { rows } = await pool.query(
        `SELECT count(*)::int AS rows, count(DISTINCT seq)::int AS seqs, min(seq)::int AS first, max(seq)::int AS last,
           count(*) FILTER (WHERE publisher_id = $1 AND n = seq - 1 AND label = 'item ' || (seq - 1)
             AND data = jsonb_build_object('n', seq - 1, 'label', 'item ' || (seq - 1), 'tags', jsonb_build_array('a', 't' || ((seq - 1) % 7))))::int AS intact
         FROM ${table}`,
        [publisher.publisherId],
      );
      expect(rows[0]).toEqual({ rows: total, seqs: total, first: 1, last: total, intact: total });
      expect(sink.stats).toMatchObject({ inserted: total, duplicates: 0, refused: 0, failed: 0 });
      console.log(`postgres sink (${name}): ${total} items acked in ${seconds.toFixed(2)} s, ${sink.stats.writes} INSERTs`);
    } finally {
      await running.close();
    }
  });

  it.each(Object.entries(TRANSPORTS))("loses and duplicates nothing when the connection is cut 5 times mid-publish (%s)", async (name, connection) => {
    const table = await tables.create("publisher_id text, seq bigint, data jsonb NOT NULL, PRIMARY KEY (publisher_id, seq)");
    const sink = postgresSink({ pool, stream: "cut", table });
    const running = await serve({ cut: { publish: { sink } } });
    const cutting = await startTcpProxy({ port: running.port });
    try {
      const client = createSluiceClient({ baseUrl: cutting.url, ...connection });
      const publisher = client.publish<{ n: number }>("cut", { backoff: { initialMs: 10, maxMs: 100 } });
      const total = 20_000;
      // Cut at points of progress, not of time: five cuts while items are in flight, however fast the database is.
      const cutAt = [2_000, 5_000, 8_000, 11_000, 14_000];
      let cuts = 0;
      const cutter = setInterval(() => {
        if (cuts < cutAt.length && publisher.stats.acked >= cutAt[cuts]!) {
          cuts++;
          cutting.cutAll();
        }
      }, 2);
      const sends: Promise<unknown>[] = [];
      for (let n = 0; n < total; n++) sends.push(publisher.send({ n }));
      await Promise.all(sends);
      clearInterval(cutter);
      expect(cuts).toBe(5);
      expect(publisher.stats.sessions).toBeGreaterThanOrEqual(6);
      expect(publisher.stats.reconnects).toBeGreaterThanOrEqual(5);
      expect(publisher.stats.deadLettered).toBe(0);
      expect(await landed(pool, table, publisher.publisherId)).toEqual({ rows: total, seqs: total, first: 1, last: total, intact: total });
      console.log(`postgres sink, 5 cuts (${name}): ${publisher.stats.sessions} sessions, ${publisher.stats.retries} items resent, ${sink.stats.duplicates} skipped by the table's key, ${sink.stats.writes} INSERTs`);
      await publisher.close();
      client.close();
    } finally {
      await cutting.close();
      await running.close();
    }
  });

  it("takes a batch once when its ack is lost with the server: a fresh server (which forgot the publisher) gets it again, and the table's key skips it", async () => {
    const table = await tables.create("publisher_id text, seq bigint, data jsonb NOT NULL, PRIMARY KEY (publisher_id, seq)");
    const sink = postgresSink({ pool, stream: "orders", table });
    let running!: Listening;
    let restarted: Promise<void> | undefined;
    // The write commits, then the server goes (connections and all) before its ack is sent: the ack is lost.
    const losing: PublishSink = {
      async write(items, from) {
        const fates = await sink.write(items, from);
        if (!restarted && sink.stats.inserted >= 3_000) {
          const old = running;
          restarted = old.close().then(async () => {
            running = await serve({ orders: { publish: { sink: losing } } }, {}, old.port);
          });
        }
        return fates;
      },
    };
    running = await serve({ orders: { publish: { sink: losing } } });
    try {
      const client = createSluiceClient({ baseUrl: running.url, transport: "http" });
      const publisher = client.publish<{ n: number }>("orders", { backoff: { initialMs: 50, maxMs: 200 } });
      const total = 10_000;
      await Promise.all(Array.from({ length: total }, (_, n) => publisher.send({ n })));
      expect(restarted).toBeDefined();
      expect(publisher.stats.reconnects).toBeGreaterThanOrEqual(1);
      expect(sink.stats.duplicates).toBeGreaterThan(0);
      expect(await landed(pool, table, publisher.publisherId)).toEqual({ rows: total, seqs: total, first: 1, last: total, intact: total });
      console.log(`postgres sink, server lost with an ack: ${publisher.stats.retries} items resent to the fresh server, ${sink.stats.duplicates} of them already in the table (skipped), ${total} rows`);
      await publisher.close();
      client.close();
    } finally {
      await restarted;
      await running.close();
    }
  });

  it("dead-letters a row the database refuses (a CHECK) to its sender with the database's reason, and the items around it land", async () => {
    const table = await tables.create("publisher_id text, seq bigint, data jsonb NOT NULL, amount numeric(10,2) NOT NULL CHECK (amount >= 0), UNIQUE (publisher_id, seq)");
    const sink = postgresSink({ pool, stream: "orders", table, columns: { amount: "amount" } });
    const dlq = new Topic("orders.dlq", { historyItems: 100 });
    const running = await serve({ orders: { publish: { sink, deadLetterStream: "orders.dlq" } }, "orders.dlq": { topic: dlq } });
    try {
      const client = createSluiceClient({ baseUrl: running.url, transport: "http" });
      const publisher = client.publish<{ n: number; amount: number }>("orders");
      const results = await Promise.allSettled(Array.from({ length: 25 }, (_, i) => publisher.send({ n: i + 1, amount: i + 1 === 13 ? -5 : (i + 1) * 1.25 })));
      const rejected = results.flatMap((r, i) => (r.status === "rejected" ? [[i + 1, r.reason as PublishError] as const] : []));
      expect(rejected.map(([n]) => n)).toEqual([13]);
      const reason = `sink: new row for relation "${table}" violates check constraint "${table}_amount_check" (SQLSTATE 23514)`;
      expect(rejected[0]![1]).toBeInstanceOf(PublishError);
      expect(rejected[0]![1]).toMatchObject({ failure: "dead_lettered", seq: 13, deadLetterTopic: "orders.dlq", message: `dead-lettered: ${reason}` });
      expect(publisher.stats).toMatchObject({ acked: 24, deadLettered: 1 });
      const { rows } = await pool.query<{ seq: number; amount: string }>(`SELECT seq::int, amount::text FROM ${table} ORDER BY seq`);
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1).filter((n) => n !== 13));
      expect(rows.find((r) => r.seq === 14)?.amount).toBe("17.50");
      // The dead-letter stream has the item, the reason and the value.
      const reader = createSluiceClient({ baseUrl: running.url });
      let record: unknown;
      for await (const event of reader.subscribe<Record<string, unknown>>("orders.dlq", { startAfter: { seq: dlq.firstSeq - 1 } })) {
        if (event.kind !== "item") continue;
        record = event.value;
        break;
      }
      expect(record).toMatchObject({ stream: "orders", publisherId: publisher.publisherId, seq: 13, reason, value: { n: 13, amount: -5 } });
      expect(dlq.stats.published).toBe(1);
      console.log(`postgres sink, one bad row in 25: ${sink.stats.failed} failed writes (its batch, then it alone), ${sink.stats.writes} INSERTs that succeeded; ${rows.length} rows landed`);
      await publisher.close();
      client.close();
      reader.close();
    } finally {
      await running.close();
    }
  });
});

/** A PostgreSQL cluster of this test alone (initdb into a temporary directory), which it may stop and start. */
class PrivateCluster {
  /** Made by init(), so a skipped or filtered-out test leaves nothing behind. */
  root = "";
  port = 0;
  get data(): string {
    return join(this.root, "data");
  }
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async init(): Promise<void> {
    this.root = mkdtempSync(join(tmpdir(), "sluice-pg-sink-"));
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chownSync(this.root, uid, gid);
    this.port = await freePort();
    await this.#asPostgres("initdb", ["-D", this.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"], 60_000);
    await this.start();
  }

  start(): Promise<string> {
    // Its own port and socket directory; fsync off: nothing here survives the machine, and the machine is shared.
    const settings = `-p ${this.port} -k ${this.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=20`;
    return this.#asPostgres("pg_ctl", ["-D", this.data, "-l", join(this.root, "log"), "-o", settings, "-w", "-t", "30", "start"], 40_000);
  }

  stop(mode: "fast" | "immediate" = "fast"): Promise<string> {
    return this.#asPostgres("pg_ctl", ["-D", this.data, "-m", mode, "-w", "-t", "30", "stop"], 40_000);
  }

  async remove(): Promise<void> {
    if (this.root === "") return;
    if (existsSync(join(this.data, "postmaster.pid"))) await this.stop("immediate").catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Runs a PostgreSQL program as the postgres user (asynchronously: the server under test must keep running meanwhile). */
  #asPostgres(program: string, args: string[], timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn("runuser", ["-u", "postgres", "--", join(PG_BIN!, program), ...args], { stdio: ["ignore", "pipe", "pipe"], cwd: this.root });
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${program} ${args.join(" ")}: still running after ${timeoutMs} ms\n${output}`));
      }, timeoutMs);
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      // "exit", not "close": the postmaster pg_ctl starts may hold on to inherited descriptors.
      child.once("exit", (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(output);
        else reject(new Error(`${program} ${args.join(" ")} exited with ${code}\n${output}`));
      });
    });
  }
}

describe.skipIf(!reachable || !canRunCluster)("the PostgreSQL sink through a database outage (a private cluster)", () => {
  const cluster = new PrivateCluster();
  let pool!: pg.Pool;
  beforeAll(async () => {
    await cluster.init();
    pool = new pg.Pool({ connectionString: cluster.url, max: 4, connectionTimeoutMillis: 1_000 });
    // Stopping the database ends the pool's idle connections: that is the point here, not a crash.
    pool.on("error", () => undefined);
  }, 90_000);
  afterAll(async () => {
    await pool?.end();
    await cluster.remove();
  }, 60_000);

  it("holds the publisher back while the database is stopped for 3 s (not failed, bounded), and every item lands once after", async () => {
    const table = `sluice_sink_${randomBytes(6).toString("hex")}`;
    await pool.query(`CREATE TABLE ${table} (publisher_id text, seq bigint, data jsonb NOT NULL, PRIMARY KEY (publisher_id, seq))`);
    const sink = postgresSink({ pool, stream: "orders", table });
    const outcomes: IngestOutcome[] = [];
    const running = await serve(
      // Small numbers so the test runs in seconds: 3 tries per write, and after 3 failed writes the breaker holds off for 500 ms.
      { orders: { publish: { sink, retries: { attempts: 2, initialMs: 20, maxMs: 100 }, breaker: { failureThreshold: 3, openMs: 500 } } } },
      { onPublishEnd: (outcome) => outcomes.push(outcome) },
    );
    const capacity = 2_000;
    // Unacked items: at most the server's default publish window (1 024) and the batch in the sink (512 by default).
    const unacked = 1_024 + 512;
    try {
      const client = createSluiceClient({ baseUrl: running.url, transport: "http" });
      const publisher = client.publish<{ n: number }>("orders", { queue: { capacity }, backoff: { initialMs: 20, maxMs: 200 } });
      const errors: string[] = [];
      publisher.onStateChange((state) => state.state === "reconnecting" && errors.push(`${state.error.code}: ${state.error.message}`));
      // stats.queued counts the send()s waiting for room in the queue too: with inFlight, every item the publisher holds.
      let maxInFlight = 0;
      let maxHeld = 0;
      const sampler = setInterval(() => {
        const stats = publisher.stats;
        maxInFlight = Math.max(maxInFlight, stats.inFlight);
        maxHeld = Math.max(maxHeld, stats.inFlight + stats.queued.critical + stats.queued.high + stats.queued.normal + stats.queued.low);
      }, 5);
      // A steady producer (~5 000 items/s) that waits, as an application would, once `unanswered` of its items have no fate yet.
      const unanswered = 3_000;
      const sends: Promise<unknown>[] = [];
      let producing = true;
      const producer = (async () => {
        for (let n = 0; producing; n++) {
          sends.push(publisher.send({ n }));
          if (n >= unanswered) await sends[n - unanswered];
          if (n % 50 === 49) await sleep(10);
        }
      })();
      try {
        await until(() => publisher.stats.acked >= 2_000, 15_000, "the first 2 000 acks");
        const failedBefore = sink.stats.failed;
        const stopping = performance.now();
        await cluster.stop("fast");
        // Acks of writes that committed just before the stop may still be on their way.
        await sleep(300);
        const ackedDown = publisher.stats.acked;
        await sleep(2_700);
        const ackedStillDown = publisher.stats.acked;
        const failedWhileDown = sink.stats.failed - failedBefore;
        await cluster.start();
        const downMs = performance.now() - stopping;
        await until(() => publisher.stats.acked >= ackedStillDown + 2_000, 15_000, "publishing to go on after the restart");
        const resumedMs = performance.now() - stopping - downMs;
        producing = false;
        await producer;
        await Promise.all(sends);
        await publisher.flush();
        clearInterval(sampler);
        const total = sends.length;
        // Held back: nothing was acked while the database was down, and nothing was given up on.
        expect(ackedStillDown).toBe(ackedDown);
        expect(publisher.stats).toMatchObject({ acked: total, deadLettered: 0, inFlight: 0 });
        // The publisher saw the outage, named as the database's.
        expect(publisher.stats.reconnects).toBeGreaterThan(0);
        expect(errors.some((e) => e.startsWith(`unavailable: postgres 127.0.0.1:${cluster.port}: `))).toBe(true);
        expect(outcomes.some((o) => o.error?.code === "unavailable")).toBe(true);
        // Bounded: unacked items within the window and the sink's batch, everything held within what the producer
        // handed over (nothing doubled by the resends), and the breaker spared the database.
        expect(maxInFlight).toBeLessThanOrEqual(unacked);
        expect(maxHeld).toBeLessThanOrEqual(unanswered + 1);
        expect(failedWhileDown).toBeLessThan(40);
        // And after: each item exactly once.
        expect(await landed(pool, table, publisher.publisherId)).toEqual({ rows: total, seqs: total, first: 1, last: total, intact: total });
        const kinds = [...new Set(errors.map((e) => e.replace(/127\.0\.0\.1:\d+/g, "HOST").replace(/publish again later.*/, "publish again later")))];
        console.log(
          `postgres sink outage: down ${(downMs / 1000).toFixed(1)} s, acks went on ${(resumedMs / 1000).toFixed(1)} s after the restart to ${total} items; ` +
            `${publisher.stats.reconnects} reconnects, ${publisher.stats.retries} items resent, ${failedWhileDown} failed writes while down, ` +
            `at most ${maxHeld} items held, ${maxInFlight} in flight; session errors: ${JSON.stringify(kinds)}`,
        );
        await publisher.close();
        client.close();
      } finally {
        producing = false;
        clearInterval(sampler);
      }
    } finally {
      await running.close();
      await pool.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    }
  }, 45_000);
});
