/**
 * MuxConnection on a fake socket and a virtual clock: that it wires the
 * pieces (keepalive, ping limit, windows, send buffer, go_away) to the
 * socket. The rules themselves are tested in their own modules' specs.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { WebSocketFrameSchema, type WebSocketFrame } from "@sluice/protocol/ws";
import { describe, expect, it } from "vitest";
import { VirtualClock } from "@sluice/testing";

/** One macrotask: lets pending promise chains run without moving time. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
import type { MuxCall } from "./call.js";
import { encodeFrame, type FrameKind } from "./frames.js";
import { MuxConnection, type MuxOptions, type SocketLike } from "./mux.js";

class FakeSocket implements SocketLike {
  binaryType = "blob";
  bufferedAmount = 0;
  readyState = 1;
  readonly sent: WebSocketFrame[] = [];
  /** The raw messages, as sent. */
  readonly raw: Uint8Array[] = [];
  closedWith: { code: number; reason: string } | undefined;
  readonly #listeners = new Map<string, ((event: never) => void)[]>();

  send(data: Uint8Array): void {
    this.raw.push(data);
    this.sent.push(fromBinary(WebSocketFrameSchema, data));
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code: code ?? 1005, reason: reason ?? "" };
  }
  addEventListener(type: string, listener: (event: never) => void): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }
  /** The peer sends a frame. */
  receive(callId: number, kind: FrameKind): void {
    for (const listener of this.#listeners.get("message") ?? []) listener({ data: encodeFrame(callId, kind).slice().buffer } as never);
  }
  kinds(): (string | undefined)[] {
    return this.sent.map((frame) => frame.kind.case);
  }
}

function mux(options: Omit<MuxOptions, "role" | "clock"> & { role?: "client" | "server" } = {}) {
  const clock = new VirtualClock(1_000);
  const socket = new FakeSocket();
  const calls: MuxCall[] = [];
  const closes: { code: number; reason: string }[] = [];
  const connection = new MuxConnection(socket, { role: "server", clock, onCall: (call) => calls.push(call), onClose: (code, reason) => closes.push({ code, reason }), ...options });
  return { clock, socket, connection, calls, closes };
}

const start = (socket: FakeSocket, callId: number, windowBytes = 0) => socket.receive(callId, { case: "start", value: { path: "/svc/Method", headers: [], windowBytes } });

describe("MuxConnection keepalive, on the injected clock", () => {
  it("pings after the interval of silence and closes with 4000 after the timeout", async () => {
    const { clock, socket, closes } = mux({ keepaliveIntervalMs: 100, keepaliveTimeoutMs: 300 });
    await clock.advance(100);
    expect(socket.sent.map((f) => [f.callId, f.kind.case])).toEqual([[0, "ping"]]);
    await clock.advance(200);
    expect(socket.closedWith).toEqual({ code: 4000, reason: "keepalive timeout: peer silent for 300 ms" });
    expect(closes).toEqual([{ code: 4000, reason: "keepalive timeout: peer silent for 300 ms" }]);
    expect(clock.pending).toBe(0);
  });

  it("keeps a socket whose peer answers (a pong is life)", async () => {
    const { clock, socket } = mux({ keepaliveIntervalMs: 100, keepaliveTimeoutMs: 300 });
    for (let i = 0; i < 20; i++) {
      await clock.advance(100);
      const ping = socket.sent.at(-1);
      if (ping?.kind.case === "ping") socket.receive(0, { case: "pong", value: { id: ping.kind.value.id } });
    }
    expect(socket.closedWith).toBeUndefined();
    expect(socket.kinds().filter((kind) => kind === "ping").length).toBeGreaterThanOrEqual(5);
  });

  it("0 disables it", async () => {
    const { clock, socket } = mux({ keepaliveIntervalMs: 0 });
    await clock.advance(3_600_000);
    expect(socket.sent).toEqual([]);
    expect(socket.closedWith).toBeUndefined();
  });

  it("answers pings, and closes with 1008 on a flood measured on the clock", async () => {
    const { clock, socket } = mux({ maxPingsPerSecond: 5, keepaliveIntervalMs: 0 });
    for (let i = 0; i < 10; i++) socket.receive(0, { case: "ping", value: { id: BigInt(i + 1) } });
    expect(socket.kinds()).toEqual(Array(10).fill("pong"));
    await clock.advance(1_000); // 5 more allowed
    for (let i = 0; i < 5; i++) socket.receive(0, { case: "ping", value: { id: 100n } });
    expect(socket.closedWith).toBeUndefined();
    socket.receive(0, { case: "ping", value: { id: 101n } });
    expect(socket.closedWith).toEqual({ code: 1008, reason: "ping flood: more than 5 pings per second" });
  });
});

describe("MuxConnection going away", () => {
  it("goAway: go_away{last_call_id}, open calls run on, later starts are refused with unavailable, 1001 after the last call", async () => {
    const { socket, connection, calls } = mux({ keepaliveIntervalMs: 0 });
    start(socket, 1);
    start(socket, 2);
    connection.goAway("draining");
    expect(socket.sent.at(-1)).toMatchObject({ callId: 0, kind: { case: "goAway", value: { lastCallId: 2, reason: "draining" } } });
    start(socket, 3);
    expect(socket.sent.at(-1)).toMatchObject({ callId: 3, kind: { case: "cancel", value: { code: Code.Unavailable } } });
    expect(calls.map((call) => call.id)).toEqual([1, 2]);
    calls[0]!.end(new Headers());
    await settle();
    expect(socket.closedWith).toBeUndefined();
    calls[1]!.end(new Headers());
    await settle();
    expect(socket.closedWith).toEqual({ code: 1001, reason: "server shutting down" });
    expect(socket.kinds().filter((kind) => kind === "goAway")).toHaveLength(1);
  });

  it("shutdown: go_away, then 1001 at once; open calls fail with unavailable", async () => {
    const { socket, connection, calls } = mux({ keepaliveIntervalMs: 0 });
    start(socket, 1);
    connection.shutdown();
    expect(socket.kinds()).toEqual(["goAway"]);
    expect(socket.sent[0]).toMatchObject({ kind: { value: { lastCallId: 1 } } });
    expect(socket.closedWith).toEqual({ code: 1001, reason: "server shutting down" });
    expect(calls[0]!.signal.aborted).toBe(true);
    expect((calls[0]!.signal.reason as { code: Code }).code).toBe(Code.Unavailable);
  });

  it("a client that receives go_away says so, and does not close", () => {
    const { socket, connection } = mux({ role: "client", keepaliveIntervalMs: 0 });
    connection.openCall("/svc/Method", new Headers());
    socket.receive(0, { case: "goAway", value: { lastCallId: 1 } });
    expect(connection.goingAway).toBe(true);
    expect(connection.closed).toBe(false);
  });
});

describe("MuxConnection windows and the send buffer", () => {
  it("returns window to the peer as the handler reads the body, in updates of half the window", async () => {
    const { socket, calls } = mux({ keepaliveIntervalMs: 0 });
    start(socket, 1);
    const body = calls[0]!.body()[Symbol.asyncIterator]();
    for (let i = 0; i < 4; i++) socket.receive(1, { case: "data", value: { data: new Uint8Array(32 * 1024) } });
    expect(socket.kinds()).toEqual([]); // arrival returns nothing
    for (let i = 0; i < 4; i++) await body.next();
    expect(socket.sent).toMatchObject([{ callId: 1, kind: { case: "windowUpdate", value: { bytes: 128 * 1024 } } }]);
  });

  it("a write waits for the peer's window, split to fit it", async () => {
    const { socket, calls } = mux({ keepaliveIntervalMs: 0 });
    start(socket, 1, 1_000);
    let done = false;
    void calls[0]!.write(new Uint8Array(2_500)).then(() => (done = true));
    await settle();
    expect(socket.sent.map((f) => (f.kind.case === "data" ? f.kind.value.data.byteLength : f.kind.case))).toEqual([1_000]);
    socket.receive(1, { case: "windowUpdate", value: { bytes: 2_000 } });
    await settle();
    expect(socket.sent.map((f) => (f.kind.case === "data" ? f.kind.value.data.byteLength : f.kind.case))).toEqual([1_000, 1_500]);
    expect(done).toBe(true);
  });

  it("a write waits while the socket buffer is above the high-water mark, polled on the clock", async () => {
    const { clock, socket, calls } = mux({ keepaliveIntervalMs: 0, highWaterBytes: 1_000 });
    start(socket, 1);
    let done = false;
    socket.bufferedAmount = 5_000;
    void calls[0]!.write(Uint8Array.of(1)).then(() => (done = true));
    await clock.advance(100);
    expect(done).toBe(false);
    socket.bufferedAmount = 500;
    await clock.advance(20);
    expect(done).toBe(true);
  });

  it("a write waiting on the socket buffer is let go when the socket closes, and its call fails", async () => {
    const { socket, connection, calls } = mux({ keepaliveIntervalMs: 0, highWaterBytes: 1_000 });
    start(socket, 1);
    socket.bufferedAmount = 5_000;
    let done = false;
    void calls[0]!.write(Uint8Array.of(1)).then(() => (done = true));
    await settle();
    expect(done).toBe(false);
    connection.close(1000, "bye");
    await settle();
    expect(done).toBe(true);
    expect(calls[0]!.open).toBe(false);
  });

  it("closes with 1002 on a window overrun", () => {
    const { socket } = mux({ keepaliveIntervalMs: 0 });
    start(socket, 1);
    socket.receive(1, { case: "data", value: { data: new Uint8Array(256 * 1024 + 1) } });
    expect(socket.closedWith).toEqual({ code: 1002, reason: "window overrun on call 1: 262145 bytes with 262144 left" });
  });
});

describe("MuxCall.write with headroom", () => {
  it("builds the data frame in the payload's own buffer: one message, no copy; without headroom, a copy", async () => {
    const { socket, calls } = mux();
    start(socket, 7, 1 << 20);
    const call = calls[0]!;
    const headroom = 18;
    const buffer = new Uint8Array(headroom + 100_000);
    const payload = buffer.subarray(headroom);
    payload.fill(0xab);
    await call.write(payload, headroom);
    const message = socket.raw.at(-1)!;
    expect(message.buffer).toBe(buffer.buffer);
    expect(message.byteOffset + message.byteLength).toBe(buffer.byteLength);
    const frame = socket.sent.at(-1)!;
    expect(frame.callId).toBe(7);
    expect(frame.kind.case === "data" && frame.kind.value.data).toEqual(payload);
    await call.write(payload, 0);
    expect(socket.raw.at(-1)!.buffer).not.toBe(buffer.buffer);
    const copied = socket.sent.at(-1)!;
    expect(copied.kind.case === "data" && copied.kind.value.data).toEqual(payload);
  });

  it("uses the headroom only for the first piece of a write the window splits", async () => {
    const { socket, calls } = mux();
    start(socket, 1, 64 * 1024);
    const call = calls[0]!;
    const buffer = new Uint8Array(18 + 64 * 1024 + 10);
    const payload = buffer.subarray(18);
    payload.forEach((_, i) => (payload[i] = i & 0xff));
    const written = call.write(payload, 18);
    await settle();
    socket.receive(1, { case: "windowUpdate", value: { bytes: 64 * 1024 } });
    await written;
    const data = socket.sent.filter((f) => f.kind.case === "data").map((f) => (f.kind.case === "data" ? f.kind.value.data : new Uint8Array()));
    expect(data.map((d) => d.byteLength)).toEqual([64 * 1024, 10]);
    expect(socket.raw[socket.raw.length - 2]!.buffer).toBe(buffer.buffer);
    expect(socket.raw.at(-1)!.buffer).not.toBe(buffer.buffer);
    expect(new Uint8Array([...data[0]!, ...data[1]!])).toEqual(payload);
  });
});
