/**
 * Publishing into a PostgreSQL table through the built CLI (publish.sink,
 * the real database at SLUICE_PG_URL, default
 * postgres://postgres@127.0.0.1:5432/test): every item lands once, a row
 * the table refuses is a dead letter with the database's reason, and after
 * the table is fixed `sluice-server dlq replay` lands it; a table that
 * cannot take the items is refused at start-up and by `validate --connect`.
 *
 * Skips loudly when the database is unreachable; `.ci/run` starts it, so CI
 * never skips.
 */
import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSluiceClient, type PublishError } from "@sluice/client-node";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, startCli } from "./start-cli.js";
import { PG_URL, pgReachable } from "./pg-reachable.js";

const reachable = await pgReachable("PostgreSQL ingest tests");

const TABLE = `sluice_ingest_${process.pid}_${Date.now() % 100_000}`;
const KEYLESS = `${TABLE}_keyless`;

function config(dir: string, table: string): string {
  const path = join(dir, `${table}.yaml`);
  writeFileSync(
    path,
    [
      "streams:",
      "  payments:",
      "    source:",
      "      type: postgres",
      `      query: SELECT id, publisher_id, seq, amount FROM ${table}`,
      "      params: {}",
      "      key: id",
      "    publish:",
      `      sink: { type: postgres, table: ${table}, columns: { amount: amount } }`,
      "",
    ].join("\n"),
  );
  return path;
}

describe.skipIf(!reachable)("publishing into a PostgreSQL table (publish.sink)", () => {
  let db: pg.Client;
  let child: ChildProcess;
  let url = "";
  const dir = mkdtempSync(join(tmpdir(), "sluice-pg-ingest-"));
  beforeAll(async () => {
    db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    await db.query(`CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, publisher_id text NOT NULL, seq bigint NOT NULL, data jsonb NOT NULL, amount numeric CONSTRAINT amount_not_negative CHECK (amount >= 0), UNIQUE (publisher_id, seq))`);
    await db.query(`CREATE TABLE ${KEYLESS} (publisher_id text, seq bigint, data jsonb, amount numeric)`);
    ({ child, url } = await startCli(["--config", config(dir, TABLE)], { SLUICE_PG_URL: PG_URL }));
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    await db?.query(`DROP TABLE IF EXISTS ${TABLE}, ${KEYLESS}`);
    await db?.end();
  });

  it("lands every item once; the row the table refuses is a dead letter naming the database's reason; after a fix, dlq replay lands it", async () => {
    const client = createSluiceClient({ baseUrl: url });
    const publisher = client.publish<{ n: number; amount: number }>("payments", { publisherId: "till-1" });
    const results = await Promise.allSettled(Array.from({ length: 1_000 }, (_, i) => publisher.send({ n: i + 1, amount: i + 1 === 500 ? -5 : i + 1 })));
    const rejected = results.flatMap((r, i) => (r.status === "rejected" ? [{ n: i + 1, error: r.reason as PublishError }] : []));
    expect(rejected.map((r) => r.n)).toEqual([500]);
    expect(rejected[0]!.error).toMatchObject({ failure: "dead_lettered", deadLetterTopic: "payments.dlq" });
    expect(rejected[0]!.error.message).toMatch(/^dead-lettered: sink: new row for relation "sluice_ingest_\w+" violates check constraint "amount_not_negative" \(SQLSTATE 23514\)$/);
    const { rows } = await db.query<{ n: string; distinct_seqs: string }>(`SELECT count(*) AS n, count(DISTINCT seq) AS distinct_seqs FROM ${TABLE}`);
    expect(rows[0]).toEqual({ n: "999", distinct_seqs: "999" });
    // The stream reads the table back: what was published, once.
    const read: number[] = [];
    for await (const event of client.subscribe<{ seq: number }>("payments")) if (event.kind === "item") read.push(Number(event.value.seq));
    expect(read).toHaveLength(999);
    expect(new Set(read).size).toBe(999);
    await publisher.close();
    client.close();

    // The table is fixed (the constraint was wrong); the dead letter is published again and lands.
    await db.query(`ALTER TABLE ${TABLE} DROP CONSTRAINT amount_not_negative`);
    const replay = spawnSync(process.execPath, [cli, "dlq", "replay", "payments.dlq", "--url", url], { encoding: "utf8", timeout: 30_000 });
    expect(replay.stdout.trim()).toMatch(/^payments\.dlq: replayed 1 dead letters \(seqs \d+-\d+\): 1 accepted, 0 dead-lettered again; to go on from here next time: --from \d+$/);
    expect(replay.status).toBe(0);
    const after = await db.query<{ n: string; amount: string }>(`SELECT count(*) AS n, min(amount)::text AS amount FROM ${TABLE}`);
    expect(after.rows[0]).toEqual({ n: "1000", amount: "-5" });
  });

  it("refuses to start on a table without the unique key that makes writes idempotent, and validate --connect says so too", async () => {
    const keyless = config(dir, KEYLESS);
    const started = spawnSync(process.execPath, [cli, "--config", keyless], { encoding: "utf8", timeout: 30_000, env: { ...process.env, SLUICE_PORT: "0", SLUICE_PG_URL: PG_URL } });
    expect(started.status).toBe(1);
    expect(started.stderr).toMatch(new RegExp(`^invalid configuration \\(publish sinks\\):\\n {2}streams\\.payments\\.publish\\.sink: stream payments: postgres table ${KEYLESS}: has no unique key on exactly \\(publisher_id, seq\\)`));
    const checked = spawnSync(process.execPath, [cli, "validate", keyless, "--connect"], { encoding: "utf8", timeout: 30_000, env: { ...process.env, SLUICE_PG_URL: PG_URL } });
    expect(checked.status).toBe(1);
    expect(checked.stderr).toMatch(new RegExp(`streams\\.payments\\.publish\\.sink: stream payments: postgres table ${KEYLESS}: has no unique key on exactly \\(publisher_id, seq\\)`));
  });
});

describe.skipIf(!reachable)("the ingest queue in front of a PostgreSQL sink (publish.queue)", () => {
  const table = `${TABLE}_queued`;
  let db: pg.Client;
  let locker: pg.Client;
  let child: ChildProcess;
  let url = "";
  beforeAll(async () => {
    db = new pg.Client({ connectionString: PG_URL });
    locker = new pg.Client({ connectionString: PG_URL });
    await Promise.all([db.connect(), locker.connect()]);
    await db.query(`CREATE TABLE ${table} (publisher_id text NOT NULL, seq bigint NOT NULL, data jsonb NOT NULL, UNIQUE (publisher_id, seq))`);
    const dir = mkdtempSync(join(tmpdir(), "sluice-pg-queue-"));
    const path = join(dir, "queued.yaml");
    writeFileSync(
      path,
      ["streams:", "  ledger:", "    source: { type: topic }", "    publish:", `      sink: { type: postgres, table: ${table} }`, "      queue: { concurrency: 1, capacity: 1, overflow: drop_newest }", ""].join("\n"),
    );
    ({ child, url } = await startCli(["--config", path], { SLUICE_PG_URL: PG_URL }));
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    await locker?.end();
    await db?.query(`DROP TABLE IF EXISTS ${table}`);
    await db?.end();
  });

  it("holds batches while the table is locked: /metrics shows the one waiting, the next is dropped and its publisher told; after the lock all the rest lands once", async () => {
    const metric = async (line: string) => (await (await fetch(`${url}/metrics`)).text()).split("\n").includes(line);
    const until = async (check: () => Promise<boolean>) => {
      for (let i = 0; !(await check()); i++) {
        if (i > 200) throw new Error("timed out");
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    await locker.query("BEGIN");
    await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    const client = createSluiceClient({ baseUrl: url });
    const [a, b, c] = ["till-a", "till-b", "till-c"].map((publisherId) => client.publish<{ n: number }>("ledger", { publisherId }));
    // a's INSERT waits for the lock, in the sink; b's batch waits in the queue's one place.
    const first = a!.send({ n: 1 });
    await until(async () => (await db.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO %${table}%'`)).rows[0]!.n === "1");
    const second = b!.send({ n: 2 });
    await until(() => metric('sluice_ingest_queue_waiting_batches{stream="ledger",priority="normal"} 1'));
    const dropped = await c!.send({ n: 3 }, { priority: "low" }).catch((error: unknown) => error as PublishError);
    expect(dropped).toMatchObject({ failure: "dropped", message: "dropped by the server: the ingest queue of ledger is full (1 batches waiting for its sink): the drop_newest policy dropped this low batch" });
    expect(await metric('sluice_ingest_queue_dropped_items_total{stream="ledger",priority="low"} 1')).toBe(true);
    await locker.query("COMMIT");
    await Promise.all([first, second]);
    await c!.send({ n: 4 }, { priority: "low" });
    const { rows } = await db.query<{ publisher_id: string; seq: string }>(`SELECT publisher_id, seq FROM ${table} ORDER BY publisher_id`);
    expect(rows.map((row) => `${row.publisher_id}:${row.seq}`)).toEqual(["till-a:1", "till-b:1", "till-c:2"]);
    expect(await metric('sluice_ingest_queue_waiting_batches{stream="ledger",priority="normal"} 0')).toBe(true);
    await Promise.all([a!.close(), b!.close(), c!.close()]);
    client.close();
  });
});
