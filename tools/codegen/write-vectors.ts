/**
 * Writes proto/vectors/v1/*.json from vector-definitions.ts. With --check,
 * compares instead of writing and exits 1 when a file is stale.
 */
import { readFileSync, writeFileSync, readdirSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import {
  clientFrameToWire,
  encodeClientFrame,
  encodeIngestFrame,
  encodePublishFrame,
  encodeServerFrame,
  ingestFrameToWire,
  publishFrameToWire,
  serverFrameToWire,
  ClientFrameSchema,
  PrioritySchema,
  PublishRequestSchema,
  PublishResponseSchema,
  ServerFrameSchema,
  SubscribeHalfDuplexRequestSchema,
  type Open,
} from "@sluice/protocol";
import { WebSocketFrameSchema } from "@sluice/protocol/ws";
import type { ClientFrame, Priority, DeadLetter, IngestFrame, PublishFrame, ServerFrame } from "@sluice/core";
import { VECTORS, type ControlVector, type IngestVector, type PublisherVector, type ReceiverVector, type SenderVector, type Vector, type WebSocketVector } from "./vector-definitions.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const outDir = join(root, "proto", "vectors", "v1");
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** A server frame: its protobuf JSON and the binary SubscribeResponse wrapping it. */
const serverStep = (frame: ServerFrame) => ({ frame: toJson(ServerFrameSchema, serverFrameToWire(frame)), hex: hex(encodeServerFrame(frame)) });
/** A client frame: its protobuf JSON and the binary SubscribeRequest wrapping it. */
const clientStep = (frame: ClientFrame) => ({ frame: toJson(ClientFrameSchema, clientFrameToWire(frame)), hex: hex(encodeClientFrame(frame)) });
/** A publisher frame: its protobuf JSON and the binary PublishRequest. */
const publishStep = (frame: PublishFrame) => ({ frame: toJson(PublishRequestSchema, publishFrameToWire(frame)), hex: hex(encodePublishFrame(frame)) });
/** A server frame of a publish session: its protobuf JSON and the binary PublishResponse. */
const ingestStep = (frame: IngestFrame) => ({ frame: toJson(PublishResponseSchema, ingestFrameToWire(frame)), hex: hex(encodeIngestFrame(frame)) });
/** A priority by its name in the wire's enum (core's 0..3 are the enum's 1..4); NORMAL is PRIORITY_NORMAL here, though a chunk leaves it unset (§3.4 rule 10). */
const priorityName = (priority: Priority) => PrioritySchema.values.find((v) => v.number === priority + 1)!.name;
const deadLetter = (d: DeadLetter) => ({ seq: d.seq, reason: d.reason, deadLetterTopic: d.deadLetterTopic, ...(d.dropped ? { dropped: true } : {}) });
/** A bare ClientFrame (as ControlRequest.frames carries it). */
const bareClientFrame = (frame: ClientFrame) => ({ frame: toJson(ClientFrameSchema, clientFrameToWire(frame)), hex: hex(toBinary(ClientFrameSchema, clientFrameToWire(frame))) });

function receiver(v: ReceiverVector) {
  const e = v.expect;
  return {
    receiver: { ...v.receiver },
    steps: v.steps.map((s) => ("frame" in s ? { at: s.at, ...serverStep(s.frame) } : s)),
    expect: {
      outcome: e.outcome,
      ...(e.code ? { code: e.code, retryable: e.retryable } : {}),
      delivered: e.delivered.map((d) => ({ seq: d.seq, hex: hex(d.data) })),
      ...(e.outcome === "ok" ? { gaps: e.gaps ?? [], ended: e.ended ?? false } : {}),
      transmitted: e.transmitted.map((t) => ({ at: t.at, ...clientStep(t.frame) })),
    },
  };
}

function sender(v: SenderVector) {
  const { accept } = v;
  return {
    sender: v.sender,
    accept: { ...accept, sessionSecret: hex(accept.sessionSecret) },
    source: v.source.map((entry) => (entry instanceof Uint8Array ? hex(entry) : entry)),
    sourceEnds: v.sourceEnds ?? true,
    steps: v.steps.map((s) => ("frame" in s ? { at: s.at, ...clientStep(s.frame) } : "item" in s ? { at: s.at, item: hex(s.item) } : s)),
    expect: { outcome: v.expect.outcome, transmitted: v.expect.transmitted.map((t) => ({ at: t.at, ...serverStep(t.frame) })) },
  };
}

function control(v: ControlVector) {
  const open = clientFrameToWire(v.open).kind.value as Open;
  const request = create(SubscribeHalfDuplexRequestSchema, { open });
  return {
    stream: v.stream,
    open: { request: toJson(SubscribeHalfDuplexRequestSchema, request), hex: hex(toBinary(SubscribeHalfDuplexRequestSchema, request)) },
    steps: v.steps.map((s) => {
      if ("waitFor" in s) return s;
      return {
        sessionId: s.sessionId,
        secret: s.secret,
        ...(s.frames ? { frames: s.frames.map(bareClientFrame) } : {}),
        ...(s.rawFrames ? { rawFrames: s.rawFrames.map(hex) } : {}),
        ...(s.repeat ? { repeat: s.repeat } : {}),
        answer: s.answer,
      };
    }),
    response: v.response,
  };
}

function websocket(v: WebSocketVector) {
  const frameJson = (init: Parameters<typeof create<typeof WebSocketFrameSchema>>[1]) => toJson(WebSocketFrameSchema, create(WebSocketFrameSchema, init));
  return {
    server: v.server,
    send: v.send.map((m) => {
      if ("frame" in m) {
        const message = create(WebSocketFrameSchema, m.frame);
        return { frame: toJson(WebSocketFrameSchema, message), hex: hex(toBinary(WebSocketFrameSchema, message)) };
      }
      if ("raw" in m) return { raw: hex(m.raw) };
      return m;
    }),
    expect: "close" in v.expect ? v.expect : { open: true, received: v.expect.received.map(frameJson) },
  };
}

function publisher(v: PublisherVector) {
  const e = v.expect;
  return {
    publisher: v.publisher,
    steps: v.steps.map((s) => ("frame" in s ? { at: s.at, ...ingestStep(s.frame) } : "push" in s ? { at: s.at, push: hex(s.push), ...(s.priority !== undefined ? { priority: priorityName(s.priority) } : {}) } : s)),
    expect: {
      outcome: e.outcome,
      ...(e.outcome === "ok" ? { closed: e.closed ?? false } : { ...(e.code ? { code: e.code } : {}), retryable: e.retryable, ...(e.field ? { field: e.field } : {}) }),
      acked: e.acked.map((a) => ({ seq: a.seq, deadLetters: a.deadLetters.map(deadLetter) })),
      transmitted: e.transmitted.map((t) => ({ at: t.at, ...publishStep(t.frame) })),
    },
  };
}

function ingest(v: IngestVector) {
  const e = v.expect;
  return {
    ingest: v.ingest,
    steps: v.steps.map((s) => {
      if ("frame" in s) return { at: s.at, ...publishStep(s.frame) };
      if ("raw" in s) return { at: s.at, raw: hex(s.raw) };
      if ("accept" in s) return { at: s.at, accept: { ...s.accept, ...(s.accept.deadLetters ? { deadLetters: s.accept.deadLetters.map(deadLetter) } : {}) } };
      if ("deadLettered" in s) return { at: s.at, deadLettered: deadLetter(s.deadLettered) };
      return s;
    }),
    expect: {
      outcome: e.outcome,
      ...(e.outcome === "error" ? { code: e.code, retryable: e.retryable } : {}),
      read: e.read.map((r) => ({ seq: r.seq, hex: hex(r.data), priority: priorityName(r.priority) })),
      transmitted: e.transmitted.map((t) => ({ at: t.at, ...ingestStep(t.frame) })),
    },
  };
}

function render(v: Vector): string {
  const base = { name: v.name, description: v.description, peer: v.peer };
  const body =
    v.peer === "receiver" ? receiver(v) : v.peer === "sender" ? sender(v) : v.peer === "control" ? control(v) : v.peer === "websocket" ? websocket(v) : v.peer === "publisher" ? publisher(v) : ingest(v);
  return JSON.stringify({ ...base, ...body }, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value), 2) + "\n";
}

const check = process.argv.includes("--check");
mkdirSync(outDir, { recursive: true });
const stale: string[] = [];
const wanted = new Set<string>();
for (const v of VECTORS) {
  const file = `${v.name}.json`;
  if (wanted.has(file)) throw new Error(`two vectors named ${v.name}`);
  wanted.add(file);
  const text = render(v);
  const path = join(outDir, file);
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {
    /* missing */
  }
  if (current === text) continue;
  if (check) stale.push(file);
  else writeFileSync(path, text);
}
for (const file of readdirSync(outDir)) {
  if (file.endsWith(".json") && !wanted.has(file)) stale.push(`${file} (no longer defined)`);
}
if (stale.length > 0) {
  if (!check) {
    // Writing: remove the files of vectors that no longer exist.
    const { rmSync } = await import("node:fs");
    for (const entry of stale) if (entry.endsWith("(no longer defined)")) rmSync(join(outDir, entry.replace(" (no longer defined)", "")));
  } else {
    console.error(`test vectors are stale: ${stale.join(", ")}. Run \`npm run codegen\`.`);
    process.exit(1);
  }
}
console.log(check ? `test vectors current (${wanted.size})` : `wrote ${wanted.size} test vectors to proto/vectors/v1`);
