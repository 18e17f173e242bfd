/**
 * Replays the receiver, sender, publisher and ingest conformance vectors in
 * proto/vectors/v1 against @sluice/core through this package's codec, as any implementation
 * in any language would (PROTOCOL.md §12, proto/vectors/README.md). Control
 * vectors run in @sluice/server's tests, WebSocket vectors in
 * @sluice/transport-ws's.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import {
  IngestReceiver,
  Priority,
  PublishSender,
  SluiceError,
  StreamReceiver,
  StreamSender,
  type ClientFrame,
  type DeadLetter,
  type Delivery,
  type GapReason,
  type IngestFrame,
  type PublishFrame,
  type ServerFrame,
} from "@sluice/core";
import { describe, expect, it } from "vitest";
import {
  ClientFrameSchema,
  ErrorCodeSchema,
  PrioritySchema,
  PublishRequestSchema,
  PublishResponseSchema,
  ServerFrameSchema,
  clientFrameFromWire,
  decodeClientFrame,
  decodeIngestFrame,
  decodePublishFrame,
  decodeServerFrame,
  encodeClientFrame,
  encodeIngestFrame,
  encodePublishFrame,
  errorCodeToWire,
  encodeServerFrame,
  ingestFrameFromWire,
  publishFrameFromWire,
  serverFrameFromWire,
} from "../src/index.js";

const dir = join(import.meta.dirname, "..", "..", "..", "proto", "vectors", "v1");
const vectors = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")));
const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const MAX_FRAME = 4 * 1024 * 1024;
const codeName = (code: string) => ErrorCodeSchema.values.find((v) => v.number === errorCodeToWire(code as never))!.name;

/** A step's frame: its hex decoded, after checking that its protobuf JSON is the same frame. */
function frameOf<F, W>(step: { frame: unknown; hex: string }, decode: (bytes: Uint8Array, max: number) => F, schema: Parameters<typeof fromJson>[0], fromWire: (wire: W) => F): F {
  const frame = decode(fromHex(step.hex), MAX_FRAME);
  expect(fromWire(fromJson(schema, step.frame as never) as W)).toEqual(frame);
  return frame;
}
/** A server frame step. */
const serverFrameOf = (step: { frame: unknown; hex: string }): ServerFrame => frameOf(step, decodeServerFrame, ServerFrameSchema, serverFrameFromWire);
/** A client frame step. */
const clientFrameOf = (step: { frame: unknown; hex: string }): ClientFrame => frameOf(step, decodeClientFrame, ClientFrameSchema, clientFrameFromWire);
/** A PublishResponse step (a server frame of a publish session). */
const ingestFrameOf = (step: { frame: unknown; hex: string }): IngestFrame => frameOf(step, decodeIngestFrame, PublishResponseSchema, ingestFrameFromWire);
/** A PublishRequest step (a publisher frame). */
const publishFrameOf = (step: { frame: unknown; hex: string }): PublishFrame => frameOf(step, decodePublishFrame, PublishRequestSchema, publishFrameFromWire);
/** A priority by its wire enum name (PRIORITY_CRITICAL .. PRIORITY_LOW, the enum's 1..4) as core's 0..3. */
const priorityOf = (name: string) => (PrioritySchema.values.find((v) => v.name === name)!.number - 1) as Priority;
const priorityName = (priority: Priority) => PrioritySchema.values.find((v) => v.number === priority + 1)!.name;
const deadLetterOf = (d: DeadLetter) => ({ seq: d.seq, reason: d.reason, deadLetterTopic: d.deadLetterTopic, dropped: d.dropped === true });

describe("conformance vectors", () => {
  it("cover every kind of peer", () => {
    const peers = new Set(vectors.map((v) => v.peer));
    expect([...peers].sort()).toEqual(["control", "ingest", "publisher", "receiver", "sender", "websocket"]);
    expect(vectors.length).toBeGreaterThanOrEqual(75);
  });

  for (const vector of vectors.filter((v) => v.peer === "receiver")) {
    it(`${vector.name}: ${vector.description}`, () => replayReceiver(vector));
  }
  for (const vector of vectors.filter((v) => v.peer === "sender")) {
    it(`${vector.name}: ${vector.description}`, () => replaySender(vector));
  }
  for (const vector of vectors.filter((v) => v.peer === "publisher")) it(`${vector.name}: ${vector.description}`, () => replayPublisher(vector));
  for (const vector of vectors.filter((v) => v.peer === "ingest")) it(`${vector.name}: ${vector.description}`, () => replayIngest(vector));
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

function replayPublisher(vector: any): void {
  const config = vector.publisher;
  const publisher = new PublishSender({ stream: config.stream, publisherId: config.publisherId, resumeAfterSeq: config.resumeAfterSeq, heartbeatIntervalMs: config.heartbeatIntervalMs, chunk: config.chunk });
  // The application's items, handed to the publisher while it has demand; its end() once they are all out.
  const queued: { data: Uint8Array; priority: Priority }[] = [];
  let ending = false;
  const acked: { seq: number; deadLetters: ReturnType<typeof deadLetterOf>[] }[] = [];
  const closed: { error?: SluiceError }[] = [];
  const transmitted: { at: number; frame: PublishFrame }[] = [];
  for (const step of vector.steps) {
    const at: number = step.at;
    if (step.connect) publisher.connect(at);
    else if (step.frame) publisher.handleFrame(ingestFrameOf(step), at);
    else if (step.push !== undefined) queued.push({ data: fromHex(step.push), priority: step.priority ? priorityOf(step.priority) : Priority.NORMAL });
    else if (step.end) ending = true;
    else if (step.timeout) publisher.handleTimeout(at);
    else if (step.lost) publisher.connectionLost(new SluiceError("unavailable", "connection lost"), at);
    while (publisher.state === "streaming" && publisher.demand > 0 && queued.length > 0) {
      const next = queued.shift()!;
      publisher.push(next.data, at, next.priority);
    }
    if (ending && queued.length === 0 && publisher.state === "streaming") publisher.end(at);
    for (let e = publisher.pollEvent(); e; e = publisher.pollEvent()) {
      if (e.type === "acked") acked.push({ seq: e.seq, deadLetters: e.deadLetters.map(deadLetterOf) });
      else if (e.type === "closed") closed.push(e.error ? { error: e.error } : {});
    }
    for (let f = publisher.pollTransmit(); f; f = publisher.pollTransmit()) transmitted.push({ at, frame: f });
  }
  const expected = vector.expect;
  expect(acked).toEqual(expected.acked.map((a: { seq: number; deadLetters: DeadLetter[] }) => ({ seq: a.seq, deadLetters: a.deadLetters.map(deadLetterOf) })));
  for (const t of expected.transmitted) publishFrameOf(t);
  const sent = transmitted.map((t) => ({ at: t.at, hex: toHex(encodePublishFrame(t.frame)) }));
  const want = expected.transmitted.map((t: { at: number; hex: string }) => ({ at: t.at, hex: t.hex }));
  expect(closed.length).toBeLessThanOrEqual(1);
  if (expected.outcome === "ok") {
    // Byte-exact, and nothing else.
    expect(sent).toEqual(want);
    expect(closed.length === 1).toBe(expected.closed);
    if (closed.length === 1) expect(closed[0]!.error).toBeUndefined();
  } else {
    // Byte-exact; after the failure a publisher may tell the server with a Cancel (in its own words) or just end the call.
    const extra = transmitted.slice(want.length);
    expect(sent.slice(0, want.length)).toEqual(want);
    expect(extra.length).toBeLessThanOrEqual(1);
    if (extra.length === 1) expect(extra[0]!.frame.type).toBe("cancel");
    const error = closed[0]?.error;
    expect(error, "the session should close with an error").toBeDefined();
    if (expected.code) expect(codeName(error!.code)).toBe(expected.code);
    expect(error!.retryable).toBe(expected.retryable);
    if (expected.field) expect(error!.field).toBe(expected.field);
  }
}

function replayIngest(vector: any): void {
  const config = vector.ingest;
  const ingest = new IngestReceiver({ limits: config.limits, window: config.window, ackEveryItems: config.ackEveryItems, ackDelayMs: config.ackDelayMs });
  const read: { seq: number; hex: string; priority: string }[] = [];
  const transmitted: { at: number; frame: IngestFrame }[] = [];
  let closedError: SluiceError | undefined;
  /** The publisher's End, once it arrived, and the last item the sink took: End is processed once every item before it was taken. */
  let endSeq: number | undefined;
  let takenSeq = 0;
  const take = (at: number, budget: number) => {
    for (let n = 0; n < budget; n++) {
      const delivery = ingest.read(at);
      if (!delivery) return;
      if (delivery.kind === "item") {
        takenSeq = delivery.seq;
        read.push({ seq: delivery.seq, hex: toHex(delivery.data), priority: priorityName(delivery.priority) });
      } else return;
    }
  };
  for (const step of vector.steps) {
    const at: number = step.at;
    if (step.frame) {
      const frame = publishFrameOf(step);
      if (frame.type === "end") endSeq = frame.lastSeq;
      ingest.handleFrame(frame, at);
    } else if (step.raw !== undefined) {
      // Bytes no codec produces: a frame that does not decode ends the session as in a subscription (rule 9).
      let frame: PublishFrame | undefined;
      try {
        frame = decodePublishFrame(fromHex(step.raw), MAX_FRAME);
      } catch (error) {
        if (!(error instanceof SluiceError)) throw error;
        ingest.fail(error, at);
      }
      if (frame) ingest.handleFrame(frame, at);
    } else if (step.accept) {
      const deadLetters = (step.accept.deadLetters ?? []).map((d: DeadLetter) => (d.dropped ? d : { seq: d.seq, reason: d.reason, deadLetterTopic: d.deadLetterTopic }));
      takenSeq = step.accept.nextSeq - 1;
      ingest.accept({ sessionId: step.accept.sessionId, nextSeq: step.accept.nextSeq, ...(step.accept.deadLetters ? { deadLetters } : {}), ...(step.accept.window ? { window: step.accept.window } : {}) }, at);
    } else if (step.read !== undefined) take(at, step.read);
    else if (step.accepted !== undefined) ingest.accepted(step.accepted, at);
    else if (step.deadLettered) ingest.deadLettered(step.deadLettered.seq, step.deadLettered.reason, step.deadLettered.deadLetterTopic, at, step.deadLettered.dropped === true);
    else if (step.timeout) ingest.handleTimeout(at);
    // The publisher's End comes after its items: the server takes it once the sink has taken them all.
    if (endSeq !== undefined && takenSeq >= endSeq && ingest.state === "streaming") {
      const delivery = ingest.read(at);
      expect(delivery === undefined || delivery.kind === "end", "only the End is left to take").toBe(true);
    }
    for (let e = ingest.pollEvent(); e; e = ingest.pollEvent()) if (e.type === "closed" && e.error) closedError = e.error;
    for (let f = ingest.pollTransmit(); f; f = ingest.pollTransmit()) transmitted.push({ at, frame: f });
  }
  const expected = vector.expect;
  expect(read).toEqual(expected.read);
  const want: { at: number; frame: unknown; hex: string }[] = expected.transmitted;
  for (const t of want) ingestFrameOf(t);
  const sent = transmitted.map((t) => ({ at: t.at, hex: toHex(encodeIngestFrame(t.frame)) }));
  if (expected.outcome === "ok") {
    expect(sent).toEqual(want.map((t) => ({ at: t.at, hex: t.hex })));
    expect(closedError).toBeUndefined();
  } else {
    // Byte-exact up to the Error, which matches on code, retryable, retry-after and field (its message is the server's own).
    expect(sent.slice(0, -1)).toEqual(want.slice(0, -1).map((t) => ({ at: t.at, hex: t.hex })));
    const last = transmitted.at(-1)!;
    const wantLast = ingestFrameOf(want.at(-1)!);
    expect(last.at).toBe(want.at(-1)!.at);
    expect(last.frame.type).toBe("error");
    if (last.frame.type === "error" && wantLast.type === "error") {
      expect(codeName(last.frame.code)).toBe(codeName(wantLast.code));
      expect({ retryable: last.frame.retryable, retryAfterMs: last.frame.retryAfterMs, field: last.frame.field }).toEqual({ retryable: wantLast.retryable, retryAfterMs: wantLast.retryAfterMs, field: wantLast.field });
    }
    expect(closedError, "the session should end with an error").toBeDefined();
    expect(codeName(closedError!.code)).toBe(expected.code);
    expect(closedError!.retryable).toBe(expected.retryable);
  }
}
