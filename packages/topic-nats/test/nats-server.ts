/**
 * The NATS the tests use (SLUICE_NATS_URL, default 127.0.0.1:4222, with
 * JetStream), and whether it answers: tests skip loudly where it does not
 * (`.ci/run` starts it, so CI never skips).
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";

export const NATS_URL = process.env.SLUICE_NATS_URL ?? "127.0.0.1:4222";

/** A connection to NATS_URL, or undefined (said loudly) when it does not answer. */
export async function natsOrSkip(what: string): Promise<NatsConnection | undefined> {
  try {
    return await connect({ servers: NATS_URL, timeout: 2_000, name: "sluice-tests" });
  } catch (error) {
    console.warn(`\n!!! ${what} SKIPPED: NATS at ${NATS_URL} unreachable (${(error as Error).message}); .ci/run starts it !!!\n`);
    return undefined;
  }
}
