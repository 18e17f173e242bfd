/**
 * A PostgreSQL table as a sink for published items: each sink write is one
 * INSERT of the whole batch, with bound parameters only (arrays, unnested),
 * and `ON CONFLICT (publisher id, seq) DO NOTHING` on the table's unique
 * key. A batch sent again after its ack was lost (a cut connection, a
 * restarted server that forgot the publisher) therefore lands once: the rows
 * the table already has are skipped and the items are acked.
 *
 * The table is read from the catalog once, at the first write (or at
 * `ready()`): the columns, their types, and a unique key on exactly
 * (publisher id, seq). Items the table cannot take as they are (not JSON for
 * a json/jsonb column, not UTF-8 for a text column, a mapped field missing
 * for a NOT NULL column) are refused one by one, without failing the batch.
 *
 * Failures are sorted for the server (see PublishDefinition.retries in
 * @sluice/server): a lost or refused connection, a database that is
 * starting or stopping or out of resources is an outage (`unavailable`,
 * retryable: the server retries, then fails the session and the publisher
 * sends again later); a row the database refuses (data exception, check,
 * not-null or foreign-key violation) is bad data (`source_failed`, not
 * retryable: the server writes the batch item by item and dead-letters the
 * items that fail alone, with the database's reason).
 */
import { SluiceError } from "@sluice/core";
import type { IngestFate, IngestItem, PublishContext, PublishSink } from "@sluice/server";
import type pg from "pg";
import { POSTGRES_IDENTIFIER } from "./postgres-source.js";

/** Where a {@link postgresSink} writes, and how an item becomes a row. */
export interface PostgresSinkOptions {
  /** The pool the sink queries through (its owner attaches the pool's "error" listener and ends it). */
  readonly pool: pg.Pool;
  /** The stream the sink serves, for messages. */
  readonly stream: string;
  /**
   * The table: `name` or `schema.name`, each part letters, digits and `_`.
   * Names are quoted, so they are case-sensitive (`orders`, not `Orders`, for
   * a table created as `CREATE TABLE Orders`). Without a schema the pool's
   * search_path finds it.
   */
  readonly table: string;
  /** The column that takes the publisher's id (text or varchar; default "publisher_id"). */
  readonly publisherIdColumn?: string;
  /** The column that takes the item's seq (an integer type or numeric; default "seq"). */
  readonly seqColumn?: string;
  /**
   * The column that takes the item itself (default "data"): jsonb or json
   * (the item must be JSON text; it is stored as sent), text or varchar (the
   * item must be UTF-8 without NUL), or bytea (any bytes, as they are).
   */
  readonly dataColumn?: string;
  /**
   * Also stores the stream's name in this column (text). A publisher's seqs
   * count per stream, so a table that several streams write to needs it, and
   * its unique key is then (stream, publisher id, seq). Without it the table
   * takes one stream's items.
   */
  readonly streamColumn?: string;
  /**
   * More columns, each filled from a top-level field of the item, which must
   * then be a JSON object: `{ amount: "total" }` puts the item's `total` in
   * column `amount`. Strings go in as they are, numbers and booleans as their
   * text, objects and arrays as JSON text, each cast to the column's type by
   * PostgreSQL as an assignment would be (a value it cannot take, e.g. "abc"
   * for an integer column or 300 characters for a varchar(200), dead-letters
   * the item with the database's reason; nothing is cut). A missing field, or
   * null, is SQL NULL: in a NOT NULL column that refuses the item at once
   * (the column's default is not used).
   */
  readonly columns?: Readonly<Record<string, string>>;
}

/** What a {@link PostgresSink} has done since it was created. */
export interface PostgresSinkStats {
  /** INSERT statements that succeeded (one per batch with writable items). */
  readonly writes: number;
  /** Rows inserted. */
  readonly inserted: number;
  /** Items whose row the table already had (a resend after a lost ack): acked, not inserted again. */
  readonly duplicates: number;
  /** Items refused before the INSERT (not JSON, not UTF-8, a NOT NULL field missing). */
  readonly refused: number;
  /** Writes that threw (an outage, or a row the database refused). */
  readonly failed: number;
}

/** A {@link PublishSink} into a PostgreSQL table. */
export interface PostgresSink extends PublishSink {
  /** One INSERT of the batch's writable items; one fate per item, in order (see {@link postgresSink}). */
  write(items: readonly IngestItem[], from: PublishContext): Promise<readonly IngestFate[]>;
  /**
   * Reads the table from the catalog now instead of at the first write, so a
   * server can refuse to start with a table the sink cannot write: rejects
   * with a SluiceError that is not retryable naming the table and what is
   * missing (or with the retryable `unavailable` when the database does not
   * answer).
   */
  ready(): Promise<void>;
  /** Counters, for tests and metrics. */
  readonly stats: PostgresSinkStats;
}

/** What the data column holds, and so how an item is encoded for it. */
type DataKind = "jsonb" | "json" | "text" | "bytea";

/** The INSERT of one table, worked out from its catalog entry. */
interface Plan {
  readonly text: string;
  readonly data: DataKind;
  /** The mapped columns in the order of their parameters. */
  readonly fields: readonly { readonly column: string; readonly field: string; readonly notNull: boolean; readonly json: boolean }[];
}

/** A column as the catalog describes it. */
interface CatalogColumn {
  readonly name: string;
  /** format_type(): the type as SQL spells it, e.g. "numeric(12,2)". */
  readonly type: string;
  /** The type without its modifier, e.g. "numeric": what a mapped value is cast to (the column's assignment then applies the modifier). */
  readonly cast: string;
  /** varchar(n)'s n, else null. */
  readonly maxLength: number | null;
  /** The base type's pg_type.typname (a domain's base), e.g. "jsonb", "int8". */
  readonly base: string;
  readonly notNull: boolean;
  readonly generated: boolean;
}

/** SQLSTATEs (beyond classes 08 and 53) that mean the connection or the server is gone or not there yet. */
const CONNECTION_SQLSTATES = new Set(["57P01", "57P02", "57P03", "57P05"]);
/** Node socket and DNS error codes that mean the database cannot be reached. */
const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "ENOTFOUND", "EAI_AGAIN"]);
/** node-postgres and pg-pool messages of a lost, refused or timed-out connection (they carry no code). */
const CONNECTION_MESSAGE = /connection terminated|connection timeout|timeout exceeded when trying to connect|timeout expired|not queryable|connection ended|terminating connection|server closed the connection/i;
/** SQLSTATEs after which the table is read again at the next write (its definition changed under the sink). */
const SCHEMA_SQLSTATES = new Set(["42P01", "42703", "42804", "42P10", "3F000"]);
/** The longest identifier PostgreSQL keeps (longer ones are truncated, and would name another object). */
const MAX_IDENTIFIER_BYTES = 63;
/** The longest publisher id the server takes (PROTOCOL.md §3.4). */
const MAX_PUBLISHER_ID = 256;

const textTypes = new Set(["text", "varchar"]);
const seqTypes = new Set(["int2", "int4", "int8", "numeric"]);

/**
 * A failed query as the error a sink write throws (exported for tests and
 * reuse). Connection-level failures (socket errors, "Connection terminated",
 * SQLSTATE class 08, 57P01/57P02/57P03/57P05, class 53) are `unavailable`,
 * retryable; rows the database refuses (class 22 data exceptions, class 23
 * integrity violations, 54000 a row too big for an index) are
 * `source_failed`, not retryable, with the database's message (and its
 * detail, unless that is only the failing row); anything else (a
 * serialization failure, a statement timeout, a missing privilege, an
 * unknown error) is `source_failed`, retryable: never a reason to
 * dead-letter data.
 */
export function postgresSinkError(target: string, error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  const { code, message, detail, errors } = error as { code?: unknown; message?: unknown; detail?: unknown; errors?: unknown };
  // A refused connection to a name with several addresses is an AggregateError without a message of its own.
  const text = typeof message === "string" && message !== "" ? message : Array.isArray(errors) && errors.length > 0 ? errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join("; ") : String(error);
  // Socket codes first: "EPIPE" would also pass for a SQLSTATE.
  const socket = typeof code === "string" && CONNECTION_CODES.has(code);
  const sqlstate = !socket && typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const cls = sqlstate?.slice(0, 2);
  if (socket || cls === "08" || cls === "53" || (sqlstate !== undefined && CONNECTION_SQLSTATES.has(sqlstate)) || (sqlstate === undefined && CONNECTION_MESSAGE.test(text))) {
    return new SluiceError("unavailable", `postgres ${target}: ${text}${sqlstate ? ` (SQLSTATE ${sqlstate})` : ""}`, { cause: error });
  }
  if (cls === "22" || cls === "23" || sqlstate === "54000") {
    const why = typeof detail === "string" && detail !== "" && !detail.startsWith("Failing row contains") ? `: ${detail.length > 200 ? `${detail.slice(0, 200)}...` : detail}` : "";
    return new SluiceError("source_failed", `${text}${why} (SQLSTATE ${sqlstate})`, { retryable: false, cause: error });
  }
  return new SluiceError("source_failed", `postgres ${target}: ${text}${sqlstate ? ` (SQLSTATE ${sqlstate})` : ""}`, { retryable: true, cause: error });
}

/** host:port of the pool's server, for messages (never the user or password). */
function targetOf(pool: pg.Pool): string {
  const options = pool.options as pg.PoolConfig;
  let host = options.host;
  let port: string | number | undefined = options.port;
  if (options.connectionString) {
    try {
      const url = new URL(options.connectionString);
      host ??= url.searchParams.get("host") ?? (decodeURIComponent(url.hostname) || undefined);
      port ??= url.port || undefined;
    } catch {
      // Not a URL (a keyword=value string): the defaults below.
    }
  }
  return `${host ?? process.env.PGHOST ?? "localhost"}:${port ?? process.env.PGPORT ?? 5432}`;
}

/** An identifier as SQL, quoted; checked up front so the quoting is never the only defence. */
function quoted(name: string): string {
  return `"${name}"`;
}

/** Refuses a name the sink cannot quote safely, naming the option. */
function checkIdentifier(option: string, name: unknown): string {
  if (typeof name !== "string" || !POSTGRES_IDENTIFIER.test(name) || Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
    throw new Error(`postgresSink: ${option} must be an identifier of letters, digits and _ (not starting with a digit, at most ${MAX_IDENTIFIER_BYTES} characters), got ${JSON.stringify(name)}`);
  }
  return name;
}

/** The catalog entry of a table: its columns and unique indexes (or null columns when there is no such table). */
const CATALOG_QUERY = `
SELECT c.relkind::text AS kind,
  (SELECT coalesce(json_agg(json_build_object(
      'name', a.attname,
      'type', format_type(a.atttypid, a.atttypmod),
      'cast', format_type(a.atttypid, NULL),
      'maxLength', CASE WHEN a.atttypid = 'varchar'::regtype AND a.atttypmod > 4 THEN a.atttypmod - 4 END,
      'base', (SELECT b.typname FROM pg_type b WHERE b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END),
      'notNull', a.attnotnull,
      'generated', a.attgenerated <> '') ORDER BY a.attnum), '[]'::json)
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
  (SELECT coalesce(json_agg(json_build_object(
      'name', i.indexrelid::regclass::text,
      'usable', i.indisvalid AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL,
      'columns', ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                       WHERE k.ord <= i.indnkeyatts ORDER BY k.ord))), '[]'::json)
    FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique) AS keys
FROM pg_class c WHERE c.oid = to_regclass($1)`;

/**
 * A sink that writes each batch of published items into a PostgreSQL table
 * in one INSERT, idempotent on (publisher id, seq). Bad options (a name that
 * is not a plain identifier, a column mapped twice) throw here; the table
 * itself is checked at `ready()` or the first write.
 */
export function postgresSink(options: PostgresSinkOptions): PostgresSink {
  const { pool, stream } = options;
  const tableParts = typeof options.table === "string" ? options.table.split(".") : [];
  if (tableParts.length < 1 || tableParts.length > 2) throw new Error(`postgresSink: table must be name or schema.name, got ${JSON.stringify(options.table)}`);
  tableParts.forEach((part) => checkIdentifier("table", part));
  const table = tableParts.map(quoted).join(".");
  const publisherIdColumn = checkIdentifier("publisherIdColumn", options.publisherIdColumn ?? "publisher_id");
  const seqColumn = checkIdentifier("seqColumn", options.seqColumn ?? "seq");
  const dataColumn = checkIdentifier("dataColumn", options.dataColumn ?? "data");
  const streamColumn = options.streamColumn === undefined ? undefined : checkIdentifier("streamColumn", options.streamColumn);
  const mapped = Object.entries(options.columns ?? {}).map(([column, field]) => {
    checkIdentifier(`columns key`, column);
    if (typeof field !== "string" || field === "") throw new Error(`postgresSink: columns.${column} must name a field of the item, got ${JSON.stringify(field)}`);
    return { column, field };
  });
  const own = [publisherIdColumn, seqColumn, dataColumn, ...(streamColumn ? [streamColumn] : [])];
  const all = [...own, ...mapped.map((m) => m.column)];
  const twice = all.find((name, i) => all.indexOf(name) !== i);
  if (twice !== undefined) throw new Error(`postgresSink: column ${JSON.stringify(twice)} is given twice (publisherIdColumn, seqColumn, dataColumn, streamColumn and columns must name different columns)`);
  const key = [...(streamColumn ? [streamColumn] : []), publisherIdColumn, seqColumn];
  const target = targetOf(pool);
  const what = `stream ${stream}: postgres table ${options.table}`;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const stats = { writes: 0, inserted: 0, duplicates: 0, refused: 0, failed: 0 };
  /** The errors that say the table does not fit (not that the database is down). */
  const tableErrors = new WeakSet<Error>();

  /** A table the sink cannot write: not retryable when asked at ready(); retryable from a write (see write()). */
  const schemaError = (problem: string) => {
    const error = new SluiceError("invalid_argument", `${what}: ${problem}`);
    tableErrors.add(error);
    return error;
  };

  const buildPlan = async (): Promise<Plan> => {
    let row: { kind: string; columns: CatalogColumn[]; keys: { name: string; usable: boolean; columns: string[] }[] } | undefined;
    try {
      row = (await pool.query({ text: CATALOG_QUERY, values: [table] })).rows[0] as typeof row;
    } catch (error) {
      throw postgresSinkError(target, error);
    }
    if (!row) throw schemaError(`there is no such table (looked up as ${table})`);
    if (row.kind !== "r" && row.kind !== "p") throw schemaError(`is not a table (relkind ${row.kind})`);
    const byName = new Map(row.columns.map((column) => [column.name, column]));
    const missing = all.filter((name) => !byName.has(name));
    if (missing.length > 0) throw schemaError(`has no column ${missing.map((name) => JSON.stringify(name)).join(", ")} (it has ${row.columns.map((c) => c.name).join(", ")})`);
    const column = (name: string) => byName.get(name)!;
    const generated = all.filter((name) => column(name).generated);
    if (generated.length > 0) throw schemaError(`column ${generated.join(", ")} is generated and cannot be written`);
    const expect = (name: string, allowed: Set<string>, wanted: string) => {
      if (!allowed.has(column(name).base)) throw schemaError(`column ${JSON.stringify(name)} is ${column(name).type}; it must be ${wanted}`);
    };
    expect(publisherIdColumn, textTypes, "text or varchar (publisher ids are strings)");
    const idLength = column(publisherIdColumn).maxLength;
    if (idLength !== null && idLength < MAX_PUBLISHER_ID) throw schemaError(`column ${JSON.stringify(publisherIdColumn)} is ${column(publisherIdColumn).type}; publisher ids have up to ${MAX_PUBLISHER_ID} characters`);
    expect(seqColumn, seqTypes, "bigint, integer, smallint or numeric (seqs are integers)");
    if (streamColumn) expect(streamColumn, textTypes, "text or varchar");
    const base = column(dataColumn).base;
    const data: DataKind | undefined = base === "jsonb" || base === "json" || base === "bytea" ? base : textTypes.has(base) ? "text" : undefined;
    if (!data) throw schemaError(`column ${JSON.stringify(dataColumn)} is ${column(dataColumn).type}; the item column must be jsonb, json, text, varchar or bytea`);
    const wanted = [...key].sort().join(",");
    if (!row.keys.some((k) => k.usable && [...k.columns].sort().join(",") === wanted)) {
      const found = row.keys.length === 0 ? "it has none" : `it has ${row.keys.map((k) => `${k.name} (${k.columns.join(", ")})${k.usable ? "" : " (partial, expression, deferrable or invalid)"}`).join(", ")}`;
      throw schemaError(`has no unique key on exactly (${key.join(", ")}), which makes a resent batch land once; ${found}. Add one: ALTER TABLE ${table} ADD UNIQUE (${key.map(quoted).join(", ")})`);
    }
    // One parameter per column: the batch's constants as scalars, the rest as arrays unnested side by side.
    const fields = mapped.map((m) => ({ ...m, notNull: column(m.column).notNull, json: column(m.column).base === "json" || column(m.column).base === "jsonb" }));
    const targets = [publisherIdColumn, ...(streamColumn ? [streamColumn] : []), seqColumn, dataColumn, ...fields.map((f) => f.column)];
    const scalars = streamColumn ? ["$1::text", "$2::text"] : ["$1::text"];
    const first = scalars.length + 1;
    const arrays = [`$${first}::bigint[]`, `$${first + 1}::${data === "bytea" ? "bytea" : "text"}[]`, ...fields.map((_, i) => `$${first + 2 + i}::text[]`)];
    const names = arrays.map((_, i) => `c${i}`);
    // Cast to the bare type: an explicit cast to varchar(5) would cut a longer value, where the assignment refuses it.
    const casts = [`u.c0`, data === "jsonb" || data === "json" ? `u.c1::${data}` : "u.c1", ...fields.map((f, i) => `u.c${i + 2}::${column(f.column).cast}`)];
    const text =
      `INSERT INTO ${table} (${targets.map(quoted).join(", ")}) ` +
      `SELECT ${[...scalars, ...casts].join(", ")} FROM unnest(${arrays.join(", ")}) AS u(${names.join(", ")}) ` +
      `ON CONFLICT (${key.map(quoted).join(", ")}) DO NOTHING`;
    return { text, data, fields };
  };

  let plan: Promise<Plan> | undefined;
  const planned = (): Promise<Plan> => {
    if (!plan) {
      const building = buildPlan();
      plan = building;
      // A failed lookup is not kept: the next write asks again (the database is back, the table was fixed).
      building.catch(() => {
        if (plan === building) plan = undefined;
      });
    }
    return plan;
  };

  /** The SQL text of a mapped field's value, or null. */
  const fieldText = (value: unknown, json: boolean): string | null => {
    if (value === undefined || value === null) return null;
    if (json || typeof value === "object") return JSON.stringify(value);
    return String(value);
  };

  return {
    get stats(): PostgresSinkStats {
      return { ...stats };
    },

    async ready(): Promise<void> {
      await planned();
    },

    async write(items: readonly IngestItem[], from: PublishContext): Promise<readonly IngestFate[]> {
      let current: Plan;
      try {
        current = await planned();
      } catch (error) {
        stats.failed++;
        // A table the sink cannot write says nothing about the items: thrown
        // as not retryable, the server would dead-letter every one of them
        // (it reads that as bad data). Retryable, the sessions fail and the
        // publishers hold their items until the table is fixed.
        if (error instanceof SluiceError && tableErrors.has(error)) throw new SluiceError("source_failed", `${error.message}; publishing waits until it is fixed`, { retryable: true, retryAfterMs: 5_000, cause: error });
        throw error;
      }
      const fates: IngestFate[] = new Array<IngestFate>(items.length);
      const seqs: string[] = [];
      const datas: (string | Uint8Array)[] = [];
      const fieldValues: (string | null)[][] = current.fields.map(() => []);
      const needsObject = current.fields.length > 0;
      items: for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        const refuse = (reason: string) => {
          fates[i] = { accepted: false, reason: `sink: ${reason}` };
          stats.refused++;
        };
        let text: string | undefined;
        if (current.data !== "bytea" || needsObject) {
          try {
            text = decoder.decode(item.data);
          } catch {
            refuse(current.data === "bytea" ? "the item is not UTF-8 JSON, and columns are mapped from its fields" : `the item is not UTF-8 text (column ${dataColumn} is ${current.data})`);
            continue;
          }
        }
        let value: unknown;
        if (current.data === "json" || current.data === "jsonb" || needsObject) {
          try {
            value = JSON.parse(text!);
          } catch (error) {
            refuse(`the item is not JSON (${(error as Error).message})${needsObject && current.data !== "json" && current.data !== "jsonb" ? ", and columns are mapped from its fields" : ""}`);
            continue;
          }
        }
        if (current.data === "text" && text!.includes("\u0000")) {
          refuse(`the item holds a NUL character, which column ${dataColumn} (text) cannot`);
          continue;
        }
        if (needsObject && (typeof value !== "object" || value === null || Array.isArray(value))) {
          refuse("the item is not a JSON object, and columns are mapped from its fields");
          continue;
        }
        const row: (string | null)[] = [];
        for (const field of current.fields) {
          const cell = fieldText(Object.hasOwn(value as object, field.field) ? (value as Record<string, unknown>)[field.field] : undefined, field.json);
          if (cell === null && field.notNull) {
            refuse(`the item has no ${JSON.stringify(field.field)} (or it is null), and column ${field.column} is NOT NULL`);
            continue items;
          }
          row.push(cell);
        }
        seqs.push(String(item.seq));
        datas.push(current.data === "bytea" ? item.data : text!);
        row.forEach((cell, f) => fieldValues[f]!.push(cell));
      }
      if (seqs.length > 0) {
        const values = [from.publisherId, ...(streamColumn ? [from.stream] : []), seqs, datas, ...fieldValues];
        let result: pg.QueryResult;
        try {
          result = await pool.query({ text: current.text, values });
        } catch (error) {
          stats.failed++;
          const code = (error as { code?: unknown }).code;
          if (typeof code === "string" && SCHEMA_SQLSTATES.has(code)) plan = undefined;
          throw postgresSinkError(target, error);
        }
        const inserted = result.rowCount ?? 0;
        stats.writes++;
        stats.inserted += inserted;
        stats.duplicates += seqs.length - inserted;
      }
      for (let i = 0; i < fates.length; i++) fates[i] ??= ACCEPTED;
      return fates;
    },
  };
}

const ACCEPTED: IngestFate = { accepted: true };
