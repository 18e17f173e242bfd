/**
 * Replays every conformance vector in proto/vectors/v1 against @sluice/core
 * through this package's codec, as any implementation in any language would
 * (PROTOCOL.md §12).
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import { StreamReceiver, StreamSender, type Delivery, type SluiceError, type ServerFrame } from "@sluice/core";
import { describe, expect, it } from "vitest";
import { ClientFrameSchema, ErrorCodeSchema, ServerFrameSchema, decodeClientFrame, decodeServerFrame, encodeServerFrame, errorCodeToWire, serverFrameFromWire, clientFrameFromWire } from "../src/index.js";

const dir = join(import.meta.dirname, "..", "..", "..", "proto", "vectors", "v1");
const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const MAX_FRAME = 4 * 1024 * 1024;
const codeName = (code: string) => ErrorCodeSchema.values.find((v) => v.number === errorCodeToWire(code as never))!.name;

interface Step {
  frame: unknown;
  hex: string;
}

describe("conformance vectors", () => {
  it("exist", () => {
    expect(files.length).toBeGreaterThanOrEqual(15);
  });

  for (const file of files) {
    const vector = JSON.parse(readFileSync(join(dir, file), "utf8"));
    it(`${vector.name}: ${vector.description}`, () => {
      if (vector.peer === "receiver") replayReceiver(vector);
      else replaySender(vector);
    });
  }
});

function replayReceiver(vector: any): void {
  const receiver = new StreamReceiver({ stream: "vectors", window: vector.window, heartbeat: { intervalMs: 1_000, timeoutMs: 3_000 } });
  receiver.connect(0);
  const deliveries: Delivery[] = [];
  let lost: SluiceError | undefined;
  for (const step of vector.steps as Step[]) {
    const frame = decodeServerFrame(fromHex(step.hex), MAX_FRAME);
    // The JSON form and the binary form are the same frame.
    expect(serverFrameFromWire(fromJson(ServerFrameSchema, step.frame as never))).toEqual(frame);
    receiver.handleFrame(frame, 1);
    for (let e = receiver.pollEvent(); e; e = receiver.pollEvent()) if (e.type === "session_lost") lost = e.error;
    for (let d = receiver.read(1); d; d = receiver.read(1)) deliveries.push(d);
    if (lost) break;
  }
  const items = deliveries.filter((d) => d.kind === "item").map((d) => ({ seq: d.seq, hex: toHex(d.data) }));
  const expected = vector.expect;
  expect(items).toEqual(expected.delivered);
  if (expected.outcome === "ok") {
    expect(lost).toBeUndefined();
    expect(deliveries.filter((d) => d.kind === "gap").map((d) => ({ fromSeq: d.gap.fromSeq, count: d.gap.count }))).toEqual(expected.gaps);
    expect(deliveries.at(-1)?.kind === "end").toBe(expected.ended);
  } else {
    const error = lost ?? (deliveries.at(-1)?.kind === "error" ? (deliveries.at(-1) as { error: SluiceError }).error : undefined);
    expect(error, "an error was expected").toBeDefined();
    expect(codeName(error!.code)).toBe(expected.code);
    expect(error!.retryable).toBe(expected.retryable);
  }
}

function replaySender(vector: any): void {
  const sender = new StreamSender({
    limits: { maxFrameBytes: 4_194_304, maxItemBytes: 1_048_576, maxWindowItems: 1_000, maxWindowBytes: 1_048_576, heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 15_000 },
    chunk: { ...vector.chunk, flushDelayMs: 1_000 },
    ...(vector.defaultWindow ? { defaultWindow: vector.defaultWindow } : {}),
  });
  const source: Uint8Array[] = vector.source.map(fromHex);
  let next = 0;
  const transmitted: ServerFrame[] = [];
  const pump = () => {
    for (let e = sender.pollEvent(); e; e = sender.pollEvent()) {
      if (e.type === "open") sender.accept({ sessionId: "s1", sessionSecret: new Uint8Array([1, 2, 3, 4]), nextSeq: 1, contentType: "application/json" }, 0);
    }
    while (sender.demand > 0 && next < source.length) sender.push(source[next++]!, new Uint8Array(), 0);
    if (sender.state === "streaming" && next >= source.length) sender.end(new Uint8Array(), 0);
    for (let f = sender.pollTransmit(); f; f = sender.pollTransmit()) transmitted.push(f);
  };
  for (const step of vector.steps as Step[]) {
    const frame = decodeClientFrame(fromHex(step.hex), MAX_FRAME);
    expect(clientFrameFromWire(fromJson(ClientFrameSchema, step.frame as never))).toEqual(frame);
    sender.handleFrame(frame, 0);
    pump();
  }
  const expected = vector.expect;
  if (expected.outcome === "ok") {
    // Byte-exact: the frames an implementation sends are those of the vector.
    expect(transmitted.map((f) => toHex(encodeServerFrame(f)))).toEqual(expected.transmitted.map((s: Step) => s.hex));
    for (const s of expected.transmitted as Step[]) {
      expect(serverFrameFromWire(fromJson(ServerFrameSchema, s.frame as never))).toEqual(decodeServerFrame(fromHex(s.hex), MAX_FRAME));
    }
  } else {
    const last = transmitted.at(-1);
    expect(last?.type).toBe("error");
    if (last?.type === "error") {
      expect(codeName(last.code)).toBe(expected.code);
      expect(last.retryable).toBe(expected.retryable);
    }
  }
}
