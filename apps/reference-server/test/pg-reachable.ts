/**
 * The PostgreSQL the tests use (SLUICE_PG_URL, default
 * postgres://postgres@127.0.0.1:5432/test), and whether it answers: tests
 * skip loudly where it does not (`.ci/run` starts it, so CI never skips).
 */
import pg from "pg";

export const PG_URL = process.env.SLUICE_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** Whether PG_URL answers; says loudly that `what` is skipped when it does not. */
export async function pgReachable(what: string): Promise<boolean> {
  try {
    const probe = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2_000 });
    await probe.connect();
    await probe.end();
    return true;
  } catch (error) {
    console.warn(`\n!!! ${what} SKIPPED: ${PG_URL} unreachable (${(error as Error).message}); .ci/run starts it !!!\n`);
    return false;
  }
}
