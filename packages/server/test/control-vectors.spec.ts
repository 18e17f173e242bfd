/**
 * Replays the control conformance vectors (proto/vectors/v1/control-*.json,
 * PROTOCOL.md §3.3) against SluiceServer's routes, through connect-es' own
 * client and router transport: a half-duplex session opened with
 * SubscribeHalfDuplex, then Control calls with the session's own or a wrong
 * id and secret, each answer checked, then the response stream.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { create, fromBinary, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import type { ServerFrame } from "@sluice/core";
import { CONNECT_CODE_NUMBERS, ClientFrameSchema, ControlRequestSchema, serverFrameFromWire, SubscribeHalfDuplexRequestSchema, SubscribeService } from "@sluice/protocol";
import { describe, expect, it } from "vitest";
import { SluiceServer, fromIterable } from "../src/index.js";

const dir = join(import.meta.dirname, "..", "..", "..", "proto", "vectors", "v1");
const vectors = readdirSync(dir)
  .filter((f) => f.startsWith("control-") && f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")));
const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));
const codeNames = Object.fromEntries(Object.entries(CONNECT_CODE_NUMBERS).map(([name, number]) => [number, name]));

/** Whether `frame` has every field `want` gives (type included). */
function matches(frame: ServerFrame, want: Record<string, unknown>): boolean {
  return Object.entries(want).every(([key, value]) => (frame as unknown as Record<string, unknown>)[key] === value);
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The frames with each chunk the vector names standing for the run of
 * chunks that continue it up to the vector's next frame: where chunks close
 * is the sender's choice (PROTOCOL.md §5.1), and a flush deadline that
 * passes between two items on a busy machine splits one chunk in two.
 */
function alignChunks(frames: ServerFrame[], expected: Record<string, unknown>[]): ServerFrame[] {
  const out: ServerFrame[] = [];
  let i = 0;
  for (const [k, want] of expected.entries()) {
    if (i >= frames.length) break;
    out.push(frames[i++]!);
    if (want.type !== "chunk") continue;
    const next = expected[k + 1];
    while (frames[i]?.type === "chunk" && !(next?.type === "chunk" && matches(frames[i]!, next))) i++;
  }
  return [...out, ...frames.slice(i)];
}

describe("control vectors", () => {
  it("exist", () => expect(vectors.length).toBeGreaterThanOrEqual(8));

  for (const vector of vectors) {
    it(`${vector.name}: ${vector.description}`, async () => {
      const encoder = new TextEncoder();
      const sluice = new SluiceServer({
        streams: { [vector.stream.name]: { source: fromIterable(() => Array.from({ length: vector.stream.items }, (_, i) => encoder.encode(String(i + 1)))) } },
      });
      const client = createClient(SubscribeService, createRouterTransport(sluice.routes));
      const request = fromBinary(SubscribeHalfDuplexRequestSchema, fromHex(vector.open.hex));
      expect(fromJson(SubscribeHalfDuplexRequestSchema, vector.open.request as JsonValue)).toEqual(request);
      const frames: ServerFrame[] = [];
      let ended = false;
      const reading = (async () => {
        for await (const response of client.subscribeHalfDuplex(request)) frames.push(serverFrameFromWire(response.frame!));
      })().finally(() => (ended = true));
      await until(() => frames.length > 0, "Opened");
      const opened = frames[0]!;
      expect(opened.type).toBe("opened");
      if (opened.type !== "opened") return;
      for (const step of vector.steps) {
        if (step.waitFor) {
          await until(() => frames.some((f) => matches(f, step.waitFor)), `a frame ${JSON.stringify(step.waitFor)}`);
          continue;
        }
        const one = [...(step.frames ?? []).map((f: { hex: string }) => fromBinary(ClientFrameSchema, fromHex(f.hex))), ...(step.rawFrames ?? []).map((hex: string) => fromBinary(ClientFrameSchema, fromHex(hex)))];
        const frameList = Array.from({ length: step.repeat ?? 1 }, () => one).flat();
        const controlRequest = create(ControlRequestSchema, {
          sessionId: step.sessionId === "session" ? opened.sessionId : "no-such-session",
          sessionSecret: step.secret === "session" ? opened.sessionSecret : new Uint8Array(16).fill(7),
          frames: frameList,
        });
        let failure: ConnectError | undefined;
        try {
          await client.control(controlRequest);
        } catch (error) {
          failure = ConnectError.from(error);
        }
        if (step.answer.ok) expect(failure, `Control call of ${vector.name}`).toBeUndefined();
        else {
          expect(failure).toBeDefined();
          expect(codeNames[failure!.code]).toBe(step.answer.code);
          expect(failure!.rawMessage).toMatch(new RegExp(step.answer.message));
        }
      }
      await until(() => ended, "the end of the response stream");
      await reading;
      const runs = alignChunks(frames, vector.response);
      expect(runs.map((f) => f.type)).toEqual(vector.response.map((r: { type: string }) => r.type));
      for (const [i, want] of vector.response.entries()) expect(matches(runs[i]!, want), `response frame ${i}: ${JSON.stringify(runs[i])}`).toBe(true);
    });
  }
});
