/**
 * Resume positions must not block the server (issue 14): reaching a position
 * by re-reading a source is done in slices that let the event loop run, a
 * seekable source skips nothing, and positions the source cannot have are
 * refused at once.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { RawSession } from "@sluice/conformance";
import type { OpenFrame, ServerFrame } from "@sluice/core";
import { SluiceServer, fromIterable, listen, type Listening } from "../src/index.js";
import { afterAll, beforeAll, expect, it } from "vitest";

let server: Listening;
const encoder = new TextEncoder();
beforeAll(async () => {
  const sluice = new SluiceServer({
    maxResumeSkip: 2_000_000,
    streams: {
      // A generator (not an array): reaching seq N means producing N items.
      counted: { source: fromIterable(function* () { for (let i = 1; i <= 1_000_000; i++) yield encoder.encode(String(i)); }) },
    },
  });
  server = await listen(sluice);
});
afterAll(async () => {
  await server.close();
});

const resumeAt = (seq: number): OpenFrame => ({ type: "open", stream: "counted", params: {}, window: { items: 10, bytes: 1 << 20 }, heartbeatIntervalMs: 0, clientInfo: "resume-cost", resume: { seq, cursor: new Uint8Array(), cursorSeq: 0, sessionId: "" } });

async function firstFrames(open: OpenFrame): Promise<ServerFrame[]> {
  const session = new RawSession({ baseUrl: server.url }, "http2", "binary");
  try {
    await session.open(open);
    const frames: ServerFrame[] = [];
    for (let r = await session.next(60_000); r; r = await session.next(60_000)) {
      frames.push(r.frame);
      if (r.frame.type !== "opened" && r.frame.type !== "heartbeat") break;
    }
    return frames;
  } finally {
    session.close();
  }
}

it("re-reads 999 999 items for each of 5 resumes at once without stalling the event loop", async () => {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: 5 }, () => firstFrames(resumeAt(999_999))));
  delay.disable();
  const maxDelayMs = delay.max / 1e6;
  console.log(`5 resumes at 999 999: ${Math.round(performance.now() - started)} ms; the event loop was never blocked more than ${maxDelayMs.toFixed(1)} ms`);
  for (const frames of results) {
    expect(frames[0]).toMatchObject({ type: "opened", nextSeq: 1_000_000, resume: { requestedSeq: 999_999, replayed: 999_999 } });
    expect(frames[1]).toMatchObject({ type: "chunk", firstSeq: 1_000_000 });
  }
  expect(maxDelayMs).toBeLessThan(100);
}, 120_000);

it("refuses at once positions it would take too long to reach, and 2^53 - 1, and ones past a finite stream's end once it ends", async () => {
  // 10 000 000 items to re-read: over maxResumeSkip, refused before reading any.
  const far = await firstFrames(resumeAt(10_000_000));
  expect(far[0]).toMatchObject({ type: "error", code: "resume_position_lost", message: expect.stringMatching(/would re-read 10000000 items, over the limit of 2000000/) });
  const edge = await firstFrames(resumeAt(Number.MAX_SAFE_INTEGER));
  expect(edge[0]).toMatchObject({ type: "error", code: "invalid_argument", field: "resume.seq" });
  // Just past the end: read to the end, then refused.
  const past = await firstFrames(resumeAt(1_000_001));
  expect(past[0]).toMatchObject({ type: "error", code: "invalid_argument", field: "resume.seq", message: "resume.seq: 1000001 is beyond the end of the stream (it ends after seq 1000000)" });
}, 60_000);
