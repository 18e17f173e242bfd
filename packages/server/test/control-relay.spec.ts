/**
 * What SluiceServer does with a ControlRelay (PROTOCOL.md §3.3), on an
 * in-process relay between instances (the NATS one, and real sockets, are
 * @sluice/topic-nats's test/control-relay.spec.ts): half-duplex session ids
 * name their instance; a Control call for another instance's session is
 * authorized where it arrived and answered by the owner, by the owner's
 * rules; ids that name no instance, or this one, are answered here; a
 * missing owner is `unavailable`; each side counts its calls.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { SluiceError, type ClientFrame, type ServerFrame } from "@sluice/core";
import { clientFrameToWire, ControlRequestSchema, serverFrameFromWire, SubscribeService } from "@sluice/protocol";
import { until } from "@sluice/testing";
import { describe, expect, it } from "vitest";
import { SluiceServer, fromIterable, type ControlHandler, type ControlRelay } from "../src/index.js";

/** Relays between instances of one process: what NATS request/reply is between processes. */
class RelayHub {
  readonly #handlers = new Map<string, ControlHandler>();
  relay(instanceId: string): ControlRelay {
    const handlers = this.#handlers;
    return {
      instanceId,
      serve: (handle) => void handlers.set(instanceId, handle),
      async forward(owner, request, principal) {
        const handle = handlers.get(owner);
        if (!handle) throw new SluiceError("unavailable", `instance ${owner} does not answer`);
        return handle(request, principal);
      },
      close: async () => void handlers.delete(instanceId),
    };
  }
}

const ITEMS = 50;

function instance(relay: ControlRelay | undefined) {
  const sluice = new SluiceServer({
    streams: { numbers: { source: fromIterable(Array.from({ length: ITEMS }, (_, i) => i + 1)) } },
    authorize: ({ headers }) => headers.get("x-user") ?? "anonymous",
    ...(relay ? { controlRelay: relay } : {}),
  });
  const as = (user: string): Client<typeof SubscribeService> =>
    createClient(SubscribeService, createRouterTransport(sluice.routes, { transport: { interceptors: [(next) => (request) => (request.header.set("x-user", user), next(request))] } }));
  return { sluice, as };
}

/** A half-duplex session on `client` with a window of 2 items. */
async function openSession(client: Client<typeof SubscribeService>) {
  const open: ClientFrame = { type: "open", stream: "numbers", params: {}, window: { items: 2, bytes: 1 << 20 }, heartbeatIntervalMs: 0, clientInfo: "relay-test" };
  const frames: ServerFrame[] = [];
  const abort = new AbortController();
  const done = (async () => {
    for await (const response of client.subscribeHalfDuplex({ open: clientFrameToWire(open).kind.value as never }, { signal: abort.signal })) frames.push(serverFrameFromWire(response.frame!));
  })().catch(() => undefined);
  await until(() => frames.some((f) => f.type === "chunk"), 5_000, "the first chunk");
  const opened = frames[0] as Extract<ServerFrame, { type: "opened" }>;
  const items = () => frames.reduce((n, f) => n + (f.type === "chunk" ? f.items.length : 0), 0);
  return { opened, frames, items, abort, done };
}

const control = (sessionId: string, sessionSecret: Uint8Array, frames: ClientFrame[]) => create(ControlRequestSchema, { sessionId, sessionSecret, frames: frames.map(clientFrameToWire) });
const credit = (maxSeq: number): ClientFrame => ({ type: "credit", maxSeq, maxBytes: 1 << 20 });

async function refusal(call: Promise<unknown>): Promise<{ code: Code; message: string; field: string | null }> {
  try {
    await call;
  } catch (error) {
    const connect = ConnectError.from(error);
    return { code: connect.code, message: connect.rawMessage, field: connect.metadata.get("sluice-field") };
  }
  throw new Error("the call succeeded");
}

describe("SluiceServer with a ControlRelay", () => {
  it("forwards a Control call for another instance's session to it, which applies it or refuses it exactly as a call of its own", async () => {
    const hub = new RelayHub();
    const a = instance(hub.relay("alpha"));
    const b = instance(hub.relay("beta"));
    const session = await openSession(a.as("alice"));
    const { sessionId, sessionSecret } = session.opened;
    expect(sessionId).toMatch(/^alpha\.[^.]+$/);

    await b.as("alice").control(control(sessionId, sessionSecret, [credit(4)]));
    await until(() => session.items() === 4, 5_000, "2 more items on credit sent to B");
    const wrong = new Uint8Array(sessionSecret);
    wrong[3]! ^= 1;
    for (const [user, request] of [
      ["alice", control(sessionId, wrong, [credit(5)])],
      ["mallory", control(sessionId, sessionSecret, [credit(5)])],
      ["alice", control(sessionId, sessionSecret, Array.from({ length: 257 }, () => credit(5)))],
    ] as const) {
      expect(await refusal(b.as(user).control(request))).toEqual(await refusal(a.as(user).control(request)));
    }
    expect(a.sluice.controlStats).toEqual({ forwarded: 0, served: 4, forwardUnanswered: 0 });
    expect(b.sluice.controlStats).toEqual({ forwarded: 4, served: 0, forwardUnanswered: 0 });
    expect(session.items()).toBe(4);
    session.abort.abort();
    await session.done;
  });

  it("answers ids that name no instance, or this one, itself; a missing owner is unavailable; without a relay nothing is forwarded", async () => {
    const hub = new RelayHub();
    const a = instance(hub.relay("alpha"));
    const b = instance(hub.relay("beta"));
    const unknown = await refusal(b.as("x").control(control("no-such-session", new Uint8Array(16), [])));
    expect(unknown).toEqual({ code: Code.PermissionDenied, message: "no session with this id and secret", field: null });
    for (const id of ["beta.1", ".alpha", "not an instance.1", "alpha"]) expect(await refusal(b.as("x").control(control(id, new Uint8Array(16), [])))).toEqual(unknown);
    expect(b.sluice.controlStats.forwarded).toBe(0);
    expect(await refusal(b.as("x").control(control("gamma.1", new Uint8Array(16), [])))).toMatchObject({ code: Code.Unavailable, message: "instance gamma does not answer" });
    expect(b.sluice.controlStats).toEqual({ forwarded: 1, served: 0, forwardUnanswered: 1 });

    // An instance without a relay keeps the session ids it always had, and forwards nothing.
    const alone = instance(undefined);
    const session = await openSession(alone.as("x"));
    expect(session.opened.sessionId).not.toContain(".");
    expect(await refusal(alone.as("x").control(control("alpha.1", new Uint8Array(16), [])))).toEqual(unknown);
    expect(alone.sluice.controlStats).toEqual({ forwarded: 0, served: 0, forwardUnanswered: 0 });
    session.abort.abort();
    await session.done;
    expect(a.sluice.controlStats.served).toBe(0);
  });

  it("refuses a relay whose instance id a session id cannot carry", () => {
    const hub = new RelayHub();
    for (const id of ["", "a.b", "with space", "x".repeat(65)]) {
      expect(() => instance(hub.relay(id))).toThrow(/^controlRelay\.instanceId: 1 to 64 letters, digits, "_" or "-", got /);
    }
  });
});
