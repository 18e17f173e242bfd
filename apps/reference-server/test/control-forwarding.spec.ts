/**
 * Half-duplex Control calls across reference-server instances on one NATS
 * (`topics.engine: nats`), through the built CLI: a balancer that sends a
 * session's SubscribeHalfDuplex to A and its Control calls to B. B forwards
 * them to A over NATS, so the subscriber, whose window is far smaller than
 * the stream, gets every item; /metrics counts each forwarded call on B and
 * each served one on A, and an owner that is gone on B's side.
 *
 * Skips loudly when NATS is unreachable; `.ci/run` starts it, so CI never skips.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createSluiceClient } from "@sluice/client-node";
import { clientFrameToWire, SubscribeService } from "@sluice/protocol";
import { startPathProxy, until } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { counter } from "./split-instances.js";
import { startCli, type StartedCli } from "./start-cli.js";

const NATS_URL = process.env.SLUICE_NATS_URL ?? "127.0.0.1:4222";
const nats: NatsConnection | undefined = await connect({ servers: NATS_URL, timeout: 2_000 }).catch((error: unknown) => {
  console.warn(`\n!!! Control forwarding tests SKIPPED: NATS at ${NATS_URL} unreachable (${(error as Error).message}); .ci/run starts it !!!\n`);
  return undefined;
});

/** The instance id an instance logged at start ("forwarding Control calls over NATS"). */
function instanceIdOf(instance: StartedCli): string {
  for (const line of instance.output) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as { msg?: string; instanceId?: string };
    if (entry.msg === "forwarding Control calls over NATS" && entry.instanceId) return entry.instanceId;
  }
  throw new Error(`no instance id logged:\n${instance.output.join("\n")}`);
}

describe.skipIf(!nats)("Control calls forwarded between reference-server instances (topics.engine: nats)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-control-"));
  const config = join(dir, "control.yaml");
  const instances: StartedCli[] = [];
  beforeAll(() => {
    writeFileSync(
      config,
      ["topics: { engine: nats }", `nats: { servers: "${NATS_URL}" }`, "streams:", "  numbers:", "    source: { type: generator, ratePerSecond: 0, itemBytes: 64, count: 2000 }", ""].join("\n"),
    );
  });
  afterAll(async () => {
    for (const instance of instances) instance.child.kill("SIGKILL");
    await nats?.close();
  });

  it("delivers every item to a subscriber whose Control calls land on the other instance, counts them on both, and answers unavailable once the owner is gone", async () => {
    const [a, b] = [await startCli(["--config", config]), await startCli(["--config", config])];
    instances.push(a, b);
    const proxy = await startPathProxy(Number(new URL(a.url).port), Number(new URL(b.url).port));
    const client = createSluiceClient({ baseUrl: proxy.url, httpVersion: "1.1", transport: "http" });
    const seqs: number[] = [];
    // A window of 20 of the 2 000 items: the rest come on credit that reached A only through B.
    for await (const event of client.subscribe<{ seq: number }>("numbers", { window: { items: 20, bytes: 1 << 20 } })) if (event.kind === "item") seqs.push(event.value.seq);
    client.close();
    expect(seqs).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
    expect(proxy.controlCalls).toBeGreaterThan(50);
    await until(async () => (await counter(b.url, "sluice_control_forwarded_total")).value === proxy.controlCalls && (await counter(a.url, "sluice_control_served_total")).value === proxy.controlCalls, 5_000, "every Control call forwarded by B and served by A");
    expect((await counter(a.url, "sluice_control_forwarded_total")).value).toBe(0);
    expect((await counter(b.url, "sluice_control_served_total")).value).toBe(0);
    expect((await counter(b.url, "sluice_control_forward_unanswered_total")).value).toBe(0);
    expect((await counter(b.url, "sluice_control_forwarded_total")).help).toMatch(/^Half-duplex Control calls that reached this instance for a session another instance owns, and were forwarded to it/);
    expect((await counter(a.url, "sluice_control_served_total")).help).toMatch(/^Half-duplex Control calls other instances forwarded to this one/);
    await proxy.close();

    // A is gone: a Control call for one of its sessions gets unavailable on B, naming A, and counts as unanswered.
    const owner = instanceIdOf(a);
    a.child.kill("SIGKILL");
    await new Promise((resolve) => a.child.once("exit", resolve));
    const onB = createClient(SubscribeService, createConnectTransport({ baseUrl: b.url, httpVersion: "1.1" }));
    const request = { sessionId: `${owner}.gone`, sessionSecret: new Uint8Array(16), frames: [clientFrameToWire({ type: "credit", maxSeq: 1, maxBytes: 1 })] };
    const error = await onB.control(request).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.rawMessage).toContain(`instance ${owner} `);
    expect((await counter(b.url, "sluice_control_forward_unanswered_total")).value).toBe(1);
    expect((await counter(b.url, "sluice_control_forwarded_total")).value).toBe(proxy.controlCalls + 1);
  }, 60_000);
});
