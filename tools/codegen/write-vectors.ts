/**
 * Writes proto/vectors/v1/*.json from vector-definitions.ts. With --check,
 * compares instead of writing and exits 1 when a file is stale.
 */
import { readFileSync, writeFileSync, readdirSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { toJson } from "@bufbuild/protobuf";
import { clientFrameToWire, encodeClientFrame, encodeServerFrame, serverFrameToWire, errorCodeToWire, ErrorCodeSchema, ClientFrameSchema, ServerFrameSchema } from "@sluice/protocol";
import type { ClientFrame, ServerFrame } from "@sluice/core";
import { VECTORS, type Vector } from "./vector-definitions.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const outDir = join(root, "proto", "vectors", "v1");
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const enumName = (code: string) => ErrorCodeSchema.values.find((v) => v.number === errorCodeToWire(code as never))!.name;

function serverStep(frame: ServerFrame) {
  return { frame: toJson(ServerFrameSchema, serverFrameToWire(frame)), hex: hex(encodeServerFrame(frame)) };
}
function clientStep(frame: ClientFrame) {
  return { frame: toJson(ClientFrameSchema, clientFrameToWire(frame)), hex: hex(encodeClientFrame(frame)) };
}

function render(v: Vector): string {
  const base = { name: v.name, description: v.description, peer: v.peer };
  let doc: unknown;
  if (v.peer === "receiver") {
    const e = v.expect;
    doc = {
      ...base,
      window: v.window,
      steps: v.steps.map(serverStep),
      expect:
        e.outcome === "ok"
          ? { outcome: "ok", delivered: e.delivered.map((d) => ({ seq: d.seq, hex: hex(d.data) })), gaps: e.gaps ?? [], ended: e.ended }
          : { outcome: "error", code: e.code, retryable: e.retryable, delivered: e.delivered.map((d) => ({ seq: d.seq, hex: hex(d.data) })) },
    };
  } else {
    const e = v.expect;
    doc = {
      ...base,
      source: v.source.map(hex),
      chunk: v.chunk,
      ...(v.defaultWindow ? { defaultWindow: v.defaultWindow } : {}),
      steps: v.steps.map(clientStep),
      expect: e.outcome === "ok" ? { outcome: "ok", transmitted: e.transmitted.map(serverStep) } : { outcome: "error", code: e.code, retryable: e.retryable },
    };
  }
  return JSON.stringify(doc, null, 2) + "\n";
}

const check = process.argv.includes("--check");
mkdirSync(outDir, { recursive: true });
const stale: string[] = [];
const wanted = new Set<string>();
for (const v of VECTORS) {
  const file = `${v.name}.json`;
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
void enumName;
if (stale.length > 0) {
  console.error(`test vectors are stale: ${stale.join(", ")}. Run \`npm run codegen\`.`);
  process.exit(1);
}
console.log(check ? `test vectors current (${wanted.size})` : `wrote ${wanted.size} test vectors to proto/vectors/v1`);
