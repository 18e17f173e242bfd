/**
 * `sluice-server validate --connect`: what only the real services can tell,
 * checked before a deployment instead of at the first subscriber. For each
 * PostgreSQL stream, its database answers, its query prepares (every table
 * and column exists, the types fit) and its result has the key column; for
 * each PostgreSQL publish sink, its table has the columns and the unique key.
 */
import pg from "pg";
import type { Config } from "./config.js";
import { postgresSink } from "./postgres-sink.js";
import { compileQuery } from "./postgres-source.js";

export async function connectProblems(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const problems: string[] = [];
  for (const [name, stream] of Object.entries(config.streams)) {
    const source = stream.source;
    if (source.type !== "postgres") continue;
    const at = `streams.${name}.source`;
    const client = new pg.Client({ connectionString: source.url ?? env.SLUICE_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test", connectionTimeoutMillis: 5_000 });
    try {
      await client.connect();
    } catch (error) {
      problems.push(`${at}.url: cannot connect: ${(error as Error).message}`);
      continue;
    }
    try {
      const { text, order } = compileQuery(source.query, Object.keys(source.params));
      // LIMIT 0 with every parameter null: PostgreSQL plans the query (tables, columns, types) and returns no row.
      const result = await client.query({ text: `SELECT * FROM (${text}) AS sluice_q LIMIT 0`, values: order.map(() => null) });
      if (!result.fields.some((field) => field.name === source.key)) {
        problems.push(`${at}.key: the query's result has no column "${source.key}" (it has ${result.fields.map((f) => f.name).join(", ") || "none"})`);
      }
    } catch (error) {
      const { message, code } = error as { message: string; code?: string };
      problems.push(`${at}.query: ${message}${code ? ` (SQLSTATE ${code})` : ""}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  for (const [name, stream] of Object.entries(config.streams)) {
    const sinkConfig = stream.publish?.sink;
    if (!sinkConfig) continue;
    const { type: _type, url, ...table } = sinkConfig;
    const pool = new pg.Pool({ connectionString: url ?? env.SLUICE_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test", connectionTimeoutMillis: 5_000, max: 1 });
    pool.on("error", () => undefined);
    try {
      await postgresSink({ pool, stream: name, ...table }).ready();
    } catch (error) {
      problems.push(`streams.${name}.publish.sink: ${(error as Error).message}`);
    } finally {
      await pool.end().catch(() => undefined);
    }
  }
  return problems;
}
