/**
 * Half-duplex Control calls forwarded between two server instances over
 * NATS request/reply (NatsControlRelay, PROTOCOL.md §3.3), on real sockets
 * and the real nats-server: a path-routing proxy plays the load balancer
 * that sends a session's SubscribeHalfDuplex to instance A and its Control
 * calls to instance B. B forwards them to A, which answers as it answers a
 * local call: items flow and credit works, a wrong secret, another
 * principal or a frame limit gets A's own answer, an id naming no instance
 * gets the unknown-session answer, and an owner that is gone or silent
 * gets `unavailable`.
 *
 * Skips loudly when NATS is unreachable; `.ci/run` starts it, so CI never skips.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createSluiceClient } from "@sluice/client-node";
import type { ClientFrame, ServerFrame } from "@sluice/core";
import { clientFrameToWire, ControlRequestSchema, serverFrameFromWire, SubscribeService } from "@sluice/protocol";
import { SluiceError, SluiceServer, fromIterable, listen, type Listening } from "@sluice/server-node";
import { startPathProxy, until } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsControlRelay } from "../src/index.js";
import { NATS_URL, natsOrSkip } from "./nats-server.js";

const shared = await natsOrSkip("Control relay over NATS");
/** This run's subjects, apart from any other run on the same NATS. */
const PREFIX = `sluicetest.p${process.pid}x${Date.now() % 100_000}`;
const ITEMS = 2_000;

interface Instance {
  readonly sluice: SluiceServer;
  readonly relay: NatsControlRelay;
  readonly listening: Listening;
  readonly nats: NatsConnection;
}

/** A server instance with its own NATS connection and relay; every caller's principal is its x-user header. */
async function startInstance(): Promise<Instance> {
  const nats = await connect({ servers: NATS_URL, name: "sluice-control-relay-test" });
  const relay = new NatsControlRelay({ connection: nats, prefix: PREFIX });
  const sluice = new SluiceServer({
    streams: { numbers: { source: fromIterable(Array.from({ length: ITEMS }, (_, i) => i + 1)) } },
    authorize: ({ headers }) => headers.get("x-user") ?? "anonymous",
    controlRelay: relay,
  });
  const listening = await listen(sluice, { port: 0 });
  return { sluice, relay, listening, nats };
}

async function stopInstance(instance: Instance): Promise<void> {
  await instance.listening.close();
  await instance.relay.close();
  await instance.nats.close();
}


/** A Connect client on HTTP/1.1 (as half-duplex clients call) to `baseUrl`, as `user`. */
function rawClient(baseUrl: string, user = "anonymous"): Client<typeof SubscribeService> {
  return createClient(SubscribeService, createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: [(next) => (request) => (request.header.set("x-user", user), next(request))] }));
}

/** A half-duplex session opened by hand on `baseUrl` with a window of `items`: its Opened and the frames it gets. */
async function openSession(baseUrl: string, items: number, user?: string) {
  const abort = new AbortController();
  const open: ClientFrame = { type: "open", stream: "numbers", params: {}, window: { items, bytes: 1 << 20 }, heartbeatIntervalMs: 0, clientInfo: "control-relay-test" };
  const frames: ServerFrame[] = [];
  const done = (async () => {
    for await (const response of rawClient(baseUrl, user).subscribeHalfDuplex({ open: clientFrameToWire(open).kind.value as never }, { signal: abort.signal })) frames.push(serverFrameFromWire(response.frame!));
  })().catch((error: unknown) => error);
  await until(() => frames.some((f) => f.type === "chunk"), 10_000, "the session's first chunk");
  const opened = frames[0]!;
  if (opened.type !== "opened") throw new Error(`the session began with ${opened.type}, not opened`);
  const items_ = () => frames.reduce((n, f) => n + (f.type === "chunk" ? f.items.length : 0), 0);
  return { opened, frames, items: items_, done, abort };
}

const credit = (maxSeq: number): ClientFrame => ({ type: "credit", maxSeq, maxBytes: 1 << 20 });
const control = (sessionId: string, sessionSecret: Uint8Array, frames: ClientFrame[]) => ({ sessionId, sessionSecret, frames: frames.map(clientFrameToWire) });

/** The Connect error a call failed with. */
async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("the call succeeded");
}

describe.skipIf(!shared)("Control calls forwarded between instances (NatsControlRelay)", () => {
  let a: Instance;
  let b: Instance;
  beforeAll(async () => {
    [a, b] = [await startInstance(), await startInstance()];
  });
  afterAll(async () => {
    for (const instance of [a, b]) if (instance) await stopInstance(instance).catch(() => undefined);
    await shared?.close();
  });

  it("delivers every item, in order, to a half-duplex subscriber whose Control calls all land on the other instance: its credit reaches the owner through it", async () => {
    const proxy = await startPathProxy(a.listening.port, b.listening.port);
    const before = { a: a.sluice.controlStats, b: b.sluice.controlStats };
    const client = createSluiceClient({ baseUrl: proxy.url, httpVersion: "1.1", transport: "http" });
    const got: number[] = [];
    // A window of 20 items: without the credit its Control calls carry, A would stop after 20.
    for await (const event of client.subscribe<number>("numbers", { window: { items: 20, bytes: 1 << 20 } })) if (event.kind === "item") got.push(event.value);
    client.close();
    expect(got).toEqual(Array.from({ length: ITEMS }, (_, i) => i + 1));
    expect(proxy.controlCalls).toBeGreaterThanOrEqual(ITEMS / 20 - 1);
    // Every Control call reached B and went to A: B forwarded each, A served each, nothing went the other way.
    await until(() => a.sluice.controlStats.served - before.a.served === proxy.controlCalls && b.sluice.controlStats.forwarded - before.b.forwarded === proxy.controlCalls, 5_000, "B forwarded, and A served, every Control call");
    expect(a.sluice.controlStats.forwarded - before.a.forwarded).toBe(0);
    expect(b.sluice.controlStats.served - before.b.served).toBe(0);
    expect(b.sluice.controlStats.forwardUnanswered - before.b.forwardUnanswered).toBe(0);
    await proxy.close();
  }, 60_000);

  it("names the owner in the session id, applies credit sent to the other instance, and answers a wrong secret, another principal and too many frames there exactly as the owner does", async () => {
    const session = await openSession(a.listening.url, 2, "alice");
    const { sessionId, sessionSecret } = session.opened as Extract<ServerFrame, { type: "opened" }>;
    expect(sessionId.startsWith(`${a.relay.instanceId}.`)).toBe(true);
    await until(() => session.items() === 2, 5_000, "the first window's 2 items");

    const onB = rawClient(b.listening.url, "alice");
    // Credit is absolute: up to seq 4, within the window of 2 after the 2 sent.
    await onB.control(control(sessionId, sessionSecret, [credit(4)]));
    await until(() => session.items() === 4, 5_000, "2 more items, on credit sent to B");

    const wrong = new Uint8Array(sessionSecret);
    wrong[0]! ^= 1;
    const cases: [string, (client: Client<typeof SubscribeService>) => Promise<unknown>, string][] = [
      ["wrong secret", (c) => c.control(control(sessionId, wrong, [credit(6)])), "alice"],
      ["another principal", (c) => c.control(control(sessionId, sessionSecret, [credit(6)])), "mallory"],
      ["too many frames", (c) => c.control(control(sessionId, sessionSecret, Array.from({ length: 257 }, () => credit(6)))), "alice"],
    ];
    for (const [what, call, user] of cases) {
      const local = await refusal(call(rawClient(a.listening.url, user)));
      const forwarded = await refusal(call(rawClient(b.listening.url, user)));
      expect({ what, code: forwarded.code, message: forwarded.rawMessage, field: forwarded.metadata.get("sluice-field"), sluiceCode: forwarded.metadata.get("sluice-error"), retryable: forwarded.metadata.get("sluice-retryable") }).toEqual({
        what,
        code: local.code,
        message: local.rawMessage,
        field: local.metadata.get("sluice-field"),
        sluiceCode: local.metadata.get("sluice-error"),
        retryable: local.metadata.get("sluice-retryable"),
      });
    }
    expect((await refusal(cases[0]![1](onB))).code).toBe(Code.PermissionDenied);
    expect((await refusal(cases[2]![1](onB))).metadata.get("sluice-field")).toBe("frames");
    // None of the refused calls touched the session: still 4 items, still open.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(session.items()).toBe(4);
    expect(session.frames.some((f) => f.type === "error" || f.type === "end")).toBe(false);
    session.abort.abort();
    await session.done;
  });

  it("answers an id that names no instance as an unknown session, and one that names an instance nobody serves with unavailable", async () => {
    const secret = new Uint8Array(16);
    const onB = rawClient(b.listening.url);
    const local = await refusal(onB.control(control("no-such-session", secret, [credit(1)])));
    expect(local.code).toBe(Code.PermissionDenied);
    const before = b.sluice.controlStats;
    for (const id of ["no instance here", "not an instance!.x", `.${a.relay.instanceId}`, `${b.relay.instanceId}.no-such-session`]) {
      const answer = await refusal(onB.control(control(id, secret, [credit(1)])));
      expect({ id, code: answer.code, message: answer.rawMessage }).toEqual({ id, code: Code.PermissionDenied, message: local.rawMessage });
    }
    // Nothing of these left B.
    expect(b.sluice.controlStats.forwarded).toBe(before.forwarded);
    const nobody = await refusal(onB.control(control("nobodyhome.1", secret, [credit(1)])));
    expect(nobody.code).toBe(Code.Unavailable);
    expect(nobody.metadata.get("sluice-retryable")).toBe("true");
    expect(nobody.rawMessage).toMatch(/instance nobodyhome .*the instance is gone/);
    expect(b.sluice.controlStats.forwardUnanswered).toBe(before.forwardUnanswered + 1);
  });

  it("fails a forwarded call with unavailable, naming the instance, when the owner does not answer in time", async () => {
    const silent = shared!.subscribe(`${PREFIX}.control.silent`, { callback: () => undefined });
    await shared!.flush();
    const relay = new NatsControlRelay({ connection: shared!, prefix: PREFIX, timeoutMs: 200 });
    const started = performance.now();
    const error = await relay.forward("silent", create(ControlRequestSchema, control("silent.1", new Uint8Array(16), [])), undefined).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ code: "unavailable", retryable: true });
    expect((error as Error).message).toMatch(/instance silent did not take the forwarded Control call: no answer within 200 ms/);
    silent.unsubscribe();
    await relay.close();
  });

  it("answers unavailable once the owner is gone, and refuses relay ids that are not instance ids", async () => {
    const session = await openSession(a.listening.url, 2);
    const { sessionId, sessionSecret } = session.opened as Extract<ServerFrame, { type: "opened" }>;
    const onB = rawClient(b.listening.url);
    await onB.control(control(sessionId, sessionSecret, [credit(3)]));
    const unanswered = b.sluice.controlStats.forwardUnanswered;
    await stopInstance(a);
    await session.done;
    const gone = await refusal(onB.control(control(sessionId, sessionSecret, [credit(4)])));
    expect(gone.code).toBe(Code.Unavailable);
    expect(gone.metadata.get("sluice-error")).toBe("unavailable");
    expect(gone.rawMessage).toContain(`instance ${a.relay.instanceId} `);
    expect(b.sluice.controlStats.forwardUnanswered).toBe(unanswered + 1);
    expect(() => new NatsControlRelay({ connection: shared!, instanceId: "a.b" })).toThrow(/instanceId: 1 to 64 letters/);
    expect(() => new NatsControlRelay({ connection: shared!, prefix: "a..b" })).toThrow(/prefix: NATS subject tokens/);
  });
});
