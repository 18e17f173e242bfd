/**
 * The PostgreSQL source against the real database (SLUICE_PG_URL, default
 * postgres://postgres@127.0.0.1:5432/test): 1 000 000 rows streamed through
 * the built CLI with bounded server memory, and a resume after the server is
 * killed mid-stream, with no loss and no duplicates.
 *
 * Skips loudly when the database is unreachable; `.ci/run` starts it, so CI
 * never skips.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSluiceClient } from "@sluice/client-node";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { startCli } from "./start-cli.js";
import { PG_URL, pgReachable } from "./pg-reachable.js";

const ROWS = 1_000_000;
const reachable = await pgReachable("PostgreSQL tests");

const start = (config: string, port = 0) => startCli(["--config", config], { SLUICE_PORT: String(port), SLUICE_PG_URL: PG_URL });

async function heapUsed(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\d+)/m.exec(text)?.[1]);
}

describe.skipIf(!reachable)("PostgreSQL source", () => {
  let config = "";
  beforeAll(async () => {
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    await db.query("CREATE TABLE IF NOT EXISTS sluice_test_orders (id bigint PRIMARY KEY, customer text NOT NULL, total numeric(12,2) NOT NULL)");
    const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM sluice_test_orders");
    if (Number(rows[0]!.n) !== ROWS) {
      await db.query("TRUNCATE sluice_test_orders");
      await db.query(`INSERT INTO sluice_test_orders SELECT g, 'c' || (g % 100), (g % 1000) / 10.0 FROM generate_series(1, ${ROWS}) AS g`);
      await db.query("ANALYZE sluice_test_orders");
    }
    await db.end();
    const dir = mkdtempSync(join(tmpdir(), "sluice-pg-"));
    config = join(dir, "pg.yaml");
    writeFileSync(
      config,
      [
        "streams:",
        "  orders:",
        "    source:",
        "      type: postgres",
        "      query: SELECT id, customer, total FROM sluice_test_orders WHERE (:customer::text IS NULL OR customer = :customer)",
        "      params: { customer: { type: string } }",
        "      key: id",
        "      pageSize: 2000",
      ].join("\n"),
    );
  }, 120_000);

  it("streams 1 000 000 rows in key order with bounded server memory", async () => {
    const server = await start(config);
    try {
      const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      const baseline = await heapUsed(server.url);
      let expected = 1;
      let maxHeap = 0;
      for await (const event of client.subscribe<{ id: string }>("orders", { window: { items: 10_000, bytes: 4 << 20 } })) {
        if (event.kind !== "item") continue;
        if (Number(event.value.id) !== expected) throw new Error(`row ${event.value.id} where ${expected} was due`);
        expected++;
        if (expected % 200_000 === 0) maxHeap = Math.max(maxHeap, await heapUsed(server.url));
      }
      expect(expected - 1).toBe(ROWS);
      const growthMiB = (maxHeap - baseline) / 2 ** 20;
      console.log(`postgres: ${ROWS} rows, server heap growth at most ${growthMiB.toFixed(1)} MiB (bound 64 MiB)`);
      // One page (2 000 rows), the window (4 MiB) and the pool, never the table.
      expect(growthMiB).toBeLessThan(64);
      client.close();
    } finally {
      server.child.kill("SIGKILL");
    }
  }, 180_000);

  it("filters with a bound parameter and rejects bad values naming the field", async () => {
    const server = await start(config);
    try {
      const client = createSluiceClient({ baseUrl: server.url, transport: "websocket" });
      let n = 0;
      for await (const event of client.subscribe<{ customer: string }>("orders", { params: { customer: "c42" } })) {
        if (event.kind !== "item") continue;
        expect(event.value.customer).toBe("c42");
        n++;
      }
      expect(n).toBe(ROWS / 100);
      let error: { code?: string; field?: string; message?: string } | undefined;
      try {
        for await (const _ of client.subscribe("orders", { params: { customer: "c42", extra: 1 } })) void _;
      } catch (e) {
        error = e as typeof error;
      }
      expect(error).toMatchObject({ code: "invalid_argument", field: "params.extra" });
      // Values that would change the query if they were spliced into the SQL:
      // bound as values, they match no customer, and the table is intact.
      for (const customer of ["c42' OR '1'='1", "x'; DROP TABLE sluice_test_orders; --"]) {
        let rows = 0;
        for await (const event of client.subscribe("orders", { params: { customer } })) if (event.kind === "item") rows++;
        expect(rows, customer).toBe(0);
      }
      // The would-be injection was only ever a value: the table is intact.
      const db = new pg.Client({ connectionString: PG_URL });
      await db.connect();
      expect(Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM sluice_test_orders")).rows[0]!.n)).toBe(ROWS);
      await db.end();
      client.close();
    } finally {
      server.child.kill("SIGKILL");
    }
  }, 120_000);

  it("resumes after the server is killed mid-stream: every row once, in order", async () => {
    let server = await start(config);
    const port = Number(new URL(server.url).port);
    const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
    let expected = 1;
    let killed = false;
    try {
      for await (const event of client.subscribe<{ id: string }>("orders", { params: { customer: "c7" }, window: { items: 1_000, bytes: 1 << 20 }, backoff: { initialMs: 50, maxMs: 200, maxAttempts: 100 } })) {
        if (event.kind !== "item") continue;
        if (Number(event.value.id) !== 7 + (expected - 1) * 100) throw new Error(`row ${event.value.id} out of place at ${expected}`);
        expected++;
        if (!killed && expected === 3_000) {
          killed = true;
          server.child.kill("SIGKILL");
          await new Promise((resolve) => server.child.once("exit", resolve));
          server = await start(config, port);
        }
      }
      expect(expected - 1).toBe(ROWS / 100);
      expect(killed).toBe(true);
    } finally {
      client.close();
      server.child.kill("SIGKILL");
    }
  }, 120_000);
});


/** A config of one postgres stream `name` running `query` against `url`. */
function pgConfig(name: string, query: string, url = PG_URL): string {
  const dir = mkdtempSync(join(tmpdir(), "sluice-pg-"));
  const file = join(dir, "pg.yaml");
  writeFileSync(file, ["streams:", `  ${name}:`, "    source:", "      type: postgres", `      url: ${url}`, `      query: ${query}`, "      key: id"].join("\n"));
  return file;
}

async function failure(url: string, stream: string, maxAttempts: number) {
  const client = createSluiceClient({ baseUrl: url, transport: "http" });
  const subscription = client.subscribe(stream, { backoff: { initialMs: 20, maxMs: 50, maxAttempts } });
  try {
    for await (const _ of subscription) void _;
    return { error: undefined, stats: subscription.stats };
  } catch (error) {
    return { error: error as { code: string; message: string; retryable: boolean }, stats: subscription.stats };
  } finally {
    client.close();
  }
}

describe.skipIf(!reachable)("PostgreSQL failures that speak", () => {
  it("fails a query that cannot run (a misspelled table) at once, not retryable, naming the database's reason; the server logs it at warn", async () => {
    const server = await start(pgConfig("typo", "SELECT id FROM sluice_test_ordrs"));
    try {
      const { error, stats } = await failure(server.url, "typo", 5);
      expect(error).toMatchObject({ code: "source_failed", retryable: false });
      expect(error!.message).toBe('stream typo: the query cannot run: relation "sluice_test_ordrs" does not exist (SQLSTATE 42P01)');
      expect(stats.reconnects).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const logged = server.output.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "session failed" && l.stream === "typo");
      expect(logged).toMatchObject({ level: 40, outcome: "source_failed", retryable: false, error: expect.stringContaining("SQLSTATE 42P01") });
    } finally {
      server.child.kill("SIGKILL");
    }
  });
});

describe("PostgreSQL down", () => {
  it("retries a database that does not answer (retryable, naming the reason), and logs each failure at warn", async () => {
    // Nothing listens on port 1: every connection is refused.
    const server = await start(pgConfig("down", "SELECT 1 AS id", "postgres://postgres@127.0.0.1:1/test"));
    try {
      const { error, stats } = await failure(server.url, "down", 3);
      expect(error).toMatchObject({ code: "source_failed", retryable: false });
      expect(error!.message).toMatch(/^gave up after 3 attempts: stream down: the database failed: connect ECONNREFUSED 127\.0\.0\.1:1 \(ECONNREFUSED\)$/);
      expect(stats.reconnects).toBeGreaterThanOrEqual(2);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const logged = server.output.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "session failed" && l.stream === "down");
      // One warn line per session that failed.
      expect(logged.length).toBe(stats.sessions);
      expect(logged[0]).toMatchObject({ level: 40, retryable: true, error: expect.stringContaining("ECONNREFUSED") });
    } finally {
      server.child.kill("SIGKILL");
    }
  });
});

describe.skipIf(!reachable)("sluice-server validate --connect", () => {
  const validateConnect = async (file: string) => {
    const { spawnSync } = await import("node:child_process");
    const { cli } = await import("./start-cli.js");
    return spawnSync(process.execPath, [cli, "validate", file, "--connect"], { encoding: "utf8", env: { ...process.env, SLUICE_PG_URL: PG_URL } });
  };

  it("finds, before any subscriber, a misspelled table, a missing key column and a database that does not answer", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-pg-"));
    const file = join(dir, "connect.yaml");
    writeFileSync(
      file,
      [
        "streams:",
        "  good:",
        `    source: { type: postgres, url: "${PG_URL}", query: "SELECT id, customer FROM sluice_test_orders WHERE (:who::text IS NULL OR customer = :who)", params: { who: { type: string } }, key: id }`,
        "  typo:",
        `    source: { type: postgres, url: "${PG_URL}", query: "SELECT id FROM sluice_test_ordrs", key: id }`,
        "  nokey:",
        `    source: { type: postgres, url: "${PG_URL}", query: "SELECT customer FROM sluice_test_orders", key: id }`,
        "  down:",
        '    source: { type: postgres, url: "postgres://postgres@127.0.0.1:1/test", query: "SELECT 1 AS id", key: id }',
      ].join("\n"),
    );
    const result = await validateConnect(file);
    expect(result.status).toBe(1);
    const problems = result.stderr.trim().split("\n").slice(1).map((l) => l.trim());
    expect(problems).toEqual([
      'streams.typo.source.query: relation "sluice_test_ordrs" does not exist (SQLSTATE 42P01)',
      'streams.nokey.source.key: the query\'s result has no column "id" (it has customer)',
      expect.stringMatching(/^streams\.down\.source\.url: cannot connect: connect ECONNREFUSED 127\.0\.0\.1:1$/),
    ]);
    // Without the broken streams it is valid, and says every source answered.
    writeFileSync(file, readFileSync(file, "utf8").split("\n").slice(0, 3).join("\n"));
    const good = await validateConnect(file);
    expect(good.stdout).toBe(`${file}: valid (1 streams: good); every source answered\n`);
    expect(good.status).toBe(0);
  });
});
