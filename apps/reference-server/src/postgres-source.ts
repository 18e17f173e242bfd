/**
 * A PostgreSQL query as a Sluice source, with keyset pagination: the query
 * is fixed in the config, with named parameters (`:customer`). Clients pass
 * values, never SQL, and the values go to PostgreSQL as bind parameters. Rows
 * are read one page at a time, ordered by a unique key column, and only
 * when the subscriber has credit. Memory therefore stays at one page, and the
 * key of the last row sent is the resume cursor.
 */
import { SluiceError, type JsonObject } from "@sluice/core";
import { invalidCursor, invalidParam, type Source } from "@sluice/server";
import type pg from "pg";

export type ParamType = "string" | "integer" | "number" | "boolean";

export interface PostgresSourceOptions {
  readonly pool: pg.Pool;
  /** SELECT ... with :name placeholders. */
  readonly query: string;
  readonly params: Readonly<Record<string, { readonly type: ParamType; readonly required: boolean }>>;
  /** A unique, orderable column of the query's result. */
  readonly key: string;
  readonly pageSize: number;
  /** The stream's name, for error messages. */
  readonly stream?: string;
}

/** A column name the source can quote safely. */
export const POSTGRES_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Rewrites :name placeholders to $1, $2, ... (not inside quotes or after ::). */
export function compileQuery(query: string, names: readonly string[]): { text: string; order: string[] } {
  const order: string[] = [];
  let text = "";
  let quote: string | undefined;
  for (let i = 0; i < query.length; i++) {
    const c = query[i]!;
    if (quote) {
      text += c;
      if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      text += c;
      continue;
    }
    if (c === ":" && query[i + 1] === ":") {
      text += "::";
      i++;
      continue;
    }
    const match = c === ":" ? /^[A-Za-z_][A-Za-z0-9_]*/.exec(query.slice(i + 1)) : null;
    if (match) {
      const name = match[0];
      if (!names.includes(name)) throw new Error(`query uses :${name}, which is not declared in params`);
      let index = order.indexOf(name);
      if (index === -1) index = order.push(name) - 1;
      text += `$${index + 1}`;
      i += name.length;
      continue;
    }
    text += c;
  }
  return { text, order };
}

/**
 * A failed query as the session's error. SQLSTATE classes that another try
 * cannot fix (the configuration is wrong: 42 syntax error or undefined
 * table/column, 22 data exception, 28 authorization, 3D/3F no such
 * database/schema) are not retryable, so the client stops and says why
 * instead of retrying forever; everything else (a lost or refused
 * connection, 08, 53 resources, 57 operator intervention) is.
 */
export function queryError(stream: string, error: unknown): SluiceError {
  const { code, message } = error as { code?: string; message?: string };
  const sqlstate = typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const permanent = sqlstate !== undefined && ["42", "22", "28", "3D", "3F"].includes(sqlstate.slice(0, 2));
  const what = `${message ?? String(error)}${sqlstate ? ` (SQLSTATE ${sqlstate})` : code ? ` (${code})` : ""}`;
  return new SluiceError("source_failed", permanent ? `stream ${stream}: the query cannot run: ${what}` : `stream ${stream}: the database failed: ${what}`, { retryable: !permanent, ...(permanent ? {} : { retryAfterMs: 1_000 }), cause: error });
}

export function postgresSource(options: PostgresSourceOptions): { source: Source<JsonObject>; params: (params: JsonObject) => JsonObject } {
  if (!POSTGRES_IDENTIFIER.test(options.key)) throw new Error(`key must be a column name, got ${JSON.stringify(options.key)}`);
  const { text, order } = compileQuery(options.query, Object.keys(options.params));
  const fromStart = `$${order.length + 1}`;
  const afterKey = `$${order.length + 2}`;
  const limit = `$${order.length + 3}`;
  // The configured query is a subquery, so keyset paging works for any SELECT.
  // Two parameters, because one placeholder cannot be both "is it null" and
  // typed like the key column.
  const page = `SELECT * FROM (${text}) AS sluice_q WHERE ${fromStart}::boolean OR sluice_q."${options.key}" > ${afterKey} ORDER BY sluice_q."${options.key}" LIMIT ${limit}`;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const readKeyCursor = (cursor: Uint8Array, cursorSeq: number): { after: unknown; seq: number } => {
    if (cursor.byteLength === 0) return { after: null, seq: 0 };
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(cursor));
    } catch {
      throw invalidCursor("not a cursor of this stream (expected JSON [key, seq])");
    }
    if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[1] !== "number" || parsed[0] === null || typeof parsed[0] === "object") throw invalidCursor("not a cursor of this stream (expected JSON [key, seq])");
    if (parsed[1] !== cursorSeq) throw invalidCursor(`the cursor is at seq ${parsed[1]}, but resume.cursor_seq says ${cursorSeq}`);
    return { after: parsed[0], seq: parsed[1] };
  };

  const validate = (params: JsonObject): JsonObject => {
    const out: JsonObject = {};
    for (const [name, spec] of Object.entries(options.params)) {
      const value = params[name];
      if (value === undefined || value === null) {
        if (spec.required) throw invalidParam(name, "required");
        out[name] = null;
        continue;
      }
      const ok =
        (spec.type === "string" && typeof value === "string") ||
        (spec.type === "integer" && typeof value === "number" && Number.isInteger(value)) ||
        (spec.type === "number" && typeof value === "number" && Number.isFinite(value)) ||
        (spec.type === "boolean" && typeof value === "boolean");
      if (!ok) throw invalidParam(name, `must be ${spec.type === "integer" ? "an integer" : `a ${spec.type}`}, got ${JSON.stringify(value)}`);
      out[name] = value;
    }
    for (const name of Object.keys(params)) if (!(name in options.params)) throw invalidParam(name, "unknown parameter");
    return out;
  };

  return {
    params: validate,
    source: {
      open(params, cursor, { signal, cursorSeq }) {
        // The cursor is [the last sent row's key, its seq], as JSON; checked
        // now, so a bad one refuses the Open (PROTOCOL.md §7.6).
        const start = readKeyCursor(cursor, cursorSeq);
        return rows(params, start, signal);
      },
    },
  };

  async function* rows(params: JsonObject, start: { after: unknown; seq: number }, signal: AbortSignal) {
    const values = order.map((name) => params[name] ?? null);
    let { after, seq } = start;
    for (;;) {
      if (signal.aborted) return;
      let result: pg.QueryResult;
      try {
        result = await options.pool.query({ text: page, values: [...values, after === null, after, options.pageSize] });
      } catch (error) {
        throw queryError(options.stream ?? "postgres", error);
      }
      for (const row of result.rows as Record<string, unknown>[]) {
        const key = row[options.key];
        const keyJson = JSON.stringify(typeof key === "bigint" ? key.toString() : key);
        yield { data: encoder.encode(JSON.stringify(row, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))), cursor: encoder.encode(`[${keyJson},${++seq}]`) };
        after = key;
      }
      if (result.rows.length < options.pageSize) return;
    }
  }
}
