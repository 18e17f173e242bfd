/**
 * Replays the receiver and sender conformance vectors in proto/vectors/v1
 * against @sluice/core through this package's codec, as any implementation
 * in any language would (PROTOCOL.md §12, proto/vectors/README.md). Control
 * vectors run in @sluice/server's tests, WebSocket vectors in
 * @sluice/transport-ws's.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import { SluiceError, StreamReceiver, StreamSender, type ClientFrame, type Delivery, type GapReason, type ServerFrame } from "@sluice/core";
import { describe, expect, it } from "vitest";
import { ClientFrameSchema, ErrorCodeSchema, ServerFrameSchema, decodeClientFrame, decodeServerFrame, encodeClientFrame, encodeServerFrame, errorCodeToWire, serverFrameFromWire, clientFrameFromWire } from "../src/index.js";

const dir = join(import.meta.dirname, "..", "..", "..", "proto", "vectors", "v1");
const vectors = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")));
const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const MAX_FRAME = 4 * 1024 * 1024;
const codeName = (code: string) => ErrorCodeSchema.values.find((v) => v.number === errorCodeToWire(code as never))!.name;

/** A server frame step: the JSON and the hex are the same frame. */
function serverFrameOf(step: { frame: unknown; hex: string }): ServerFrame {
  const frame = decodeServerFrame(fromHex(step.hex), MAX_FRAME);
  expect(serverFrameFromWire(fromJson(ServerFrameSchema, step.frame as never))).toEqual(frame);
  return frame;
}
function clientFrameOf(step: { frame: unknown; hex: string }): ClientFrame {
  const frame = decodeClientFrame(fromHex(step.hex), MAX_FRAME);
  expect(clientFrameFromWire(fromJson(ClientFrameSchema, step.frame as never))).toEqual(frame);
  return frame;
}

describe("conformance vectors", () => {
  it("cover every kind of peer", () => {
    const peers = new Set(vectors.map((v) => v.peer));
    expect([...peers].sort()).toEqual(["control", "receiver", "sender", "websocket"]);
    expect(vectors.length).toBeGreaterThanOrEqual(50);
  });

  for (const vector of vectors.filter((v) => v.peer === "receiver")) {
    it(`${vector.name}: ${vector.description}`, () => replayReceiver(vector));
  }
  for (const vector of vectors.filter((v) => v.peer === "sender")) {
    it(`${vector.name}: ${vector.description}`, () => replaySender(vector));
  }
});

function replayReceiver(vector: any): void {
  const config = vector.receiver;
  const receiver = new StreamReceiver({
    stream: config.stream,
    params: config.params,
    window: config.window,
    ...(config.maxItemBytes ? { maxItemBytes: config.maxItemBytes } : {}),
    ackEveryItems: config.ackEveryItems,
    ackDelayMs: config.ackDelayMs,
    heartbeat: config.heartbeat,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    clientInfo: config.clientInfo,
  });
  const deliveries: Delivery[] = [];
  const transmitted: { at: number; hex: string }[] = [];
  let lost: SluiceError | undefined;
  for (const step of vector.steps) {
    const at: number = step.at;
    if (step.connect) {
      lost = undefined;
      receiver.connect(at);
    } else if (step.frame) receiver.handleFrame(serverFrameOf(step), at);
    else if (step.timeout) receiver.handleTimeout(at);
    else if (step.lost) receiver.connectionLost(new SluiceError("unavailable", "connection lost"), at);
    else if (step.ack !== undefined) receiver.ack(step.ack, at);
    else if (step.cancel !== undefined) receiver.cancel(step.cancel, at);
    for (let e = receiver.pollEvent(); e; e = receiver.pollEvent()) if (e.type === "session_lost") lost = e.error;
    // The app reads everything; with app "read" it processes each item as it reads it.
    for (let d = receiver.read(at); d; d = receiver.read(at)) {
      deliveries.push(d);
      if (d.kind === "item" && config.app === "read") receiver.ack(d.seq, at);
    }
    for (let f = receiver.pollTransmit(); f; f = receiver.pollTransmit()) transmitted.push({ at, hex: toHex(encodeClientFrame(f)) });
  }
  const expected = vector.expect;
  const items = deliveries.filter((d) => d.kind === "item").map((d) => ({ seq: d.seq, hex: toHex(d.data) }));
  expect(items).toEqual(expected.delivered);
  // Every client frame, byte for byte, at the step that made it.
  for (const t of expected.transmitted) clientFrameOf(t);
  expect(transmitted).toEqual(expected.transmitted.map((t: { at: number; hex: string }) => ({ at: t.at, hex: t.hex })));
  const gaps = deliveries.filter((d) => d.kind === "gap").map((d) => ({ fromSeq: d.gap.fromSeq, count: d.gap.count, reason: d.gap.reason as GapReason }));
  if (expected.outcome === "ok") {
    expect(lost).toBeUndefined();
    expect(gaps.map(({ fromSeq, count }) => ({ fromSeq, count }))).toEqual(expected.gaps.map(({ fromSeq, count }: { fromSeq: number; count: number }) => ({ fromSeq, count })));
    for (const [i, gap] of expected.gaps.entries()) if (gap.reason) expect(gaps[i]!.reason).toBe(gap.reason);
    expect(deliveries.at(-1)?.kind === "end").toBe(expected.ended);
  } else {
    const error = lost ?? (deliveries.at(-1)?.kind === "error" ? (deliveries.at(-1) as { error: SluiceError }).error : undefined);
    expect(error, "an error was expected").toBeDefined();
    expect(codeName(error!.code)).toBe(expected.code);
    expect(error!.retryable).toBe(expected.retryable);
  }
}

function replaySender(vector: any): void {
  const config = vector.sender;
  const sender = new StreamSender({
    limits: config.limits,
    chunk: config.chunk,
    ...(config.defaultWindow ? { defaultWindow: config.defaultWindow } : {}),
    ...(config.stallTimeoutMs !== undefined ? { stallTimeoutMs: config.stallTimeoutMs } : {}),
    ...(config.yieldTimeoutMs !== undefined ? { yieldTimeoutMs: config.yieldTimeoutMs } : {}),
  });
  const accept = { ...vector.accept, sessionSecret: fromHex(vector.accept.sessionSecret) };
  const source: (Uint8Array | { gap: number; reason: GapReason })[] = vector.source.map((entry: string | { gap: number; reason: GapReason }) => (typeof entry === "string" ? fromHex(entry) : entry));
  const transmitted: { at: number; frame: ServerFrame }[] = [];
  const pump = (at: number) => {
    for (let e = sender.pollEvent(); e; e = sender.pollEvent()) if (e.type === "open") sender.accept(accept, at);
    while (sender.state === "streaming" && sender.demand > 0 && source.length > 0) {
      const entry = source.shift()!;
      if (entry instanceof Uint8Array) sender.push(entry, new Uint8Array(), at);
      else sender.pushGap(entry.gap, entry.reason, at);
    }
    if (sender.state === "streaming" && source.length === 0 && vector.sourceEnds) sender.end(new Uint8Array(), at);
    for (let f = sender.pollTransmit(); f; f = sender.pollTransmit()) transmitted.push({ at, frame: f });
  };
  for (const step of vector.steps) {
    if (step.frame) sender.handleFrame(clientFrameOf(step), step.at);
    else if (step.timeout) sender.handleTimeout(step.at);
    else if (step.item) source.push(fromHex(step.item));
    pump(step.at);
  }
  const expected: { at: number; frame: unknown; hex: string }[] = vector.expect.transmitted;
  for (const e of expected) serverFrameOf(e);
  if (vector.expect.outcome === "ok") {
    // Byte-exact: the frames an implementation sends are those of the vector.
    expect(transmitted.map((t) => ({ at: t.at, hex: toHex(encodeServerFrame(t.frame)) }))).toEqual(expected.map((e) => ({ at: e.at, hex: e.hex })));
  } else {
    // Byte-exact up to the Error, which matches on code, retryable, retry-after and field (its message is the server's own).
    const last = transmitted.at(-1)!;
    const want = serverFrameOf(expected.at(-1)!);
    expect(transmitted.slice(0, -1).map((t) => ({ at: t.at, hex: toHex(encodeServerFrame(t.frame)) }))).toEqual(expected.slice(0, -1).map((e) => ({ at: e.at, hex: e.hex })));
    expect(last.at).toBe(expected.at(-1)!.at);
    expect(last.frame.type).toBe("error");
    if (last.frame.type === "error" && want.type === "error") {
      expect(codeName(last.frame.code)).toBe(codeName(want.code));
      expect({ retryable: last.frame.retryable, retryAfterMs: last.frame.retryAfterMs, field: last.frame.field }).toEqual({ retryable: want.retryable, retryAfterMs: want.retryAfterMs, field: want.field });
    }
  }
}
