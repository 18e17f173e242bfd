/**
 * Resume on the wire (PROTOCOL.md §7.6, §7.7) against the built server with
 * examples/conformance.yaml: positions are counted, a position the stream
 * never had is refused, bad cursors are the client's fault (not retryable),
 * and an expired topic position is a history_expired gap or a refusal, as
 * the topic's policy says.
 */
import { RawSession } from "@sluice/conformance";
import type { ErrorFrame, OpenFrame, OpenedFrame, ResumePosition, ServerFrame } from "@sluice/core";
import { indexCursor } from "@sluice/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCli, type StartedCli } from "./start-cli.js";

let server: StartedCli;
beforeAll(async () => {
  server = await startCli(["--config", new URL("../examples/conformance.yaml", import.meta.url).pathname]);
});
afterAll(() => {
  server.child.kill("SIGKILL");
});

const openFrame = (stream: string, resume?: Partial<ResumePosition>, params = {}): OpenFrame => ({
  type: "open",
  stream,
  params,
  window: { items: 100, bytes: 1 << 20 },
  heartbeatIntervalMs: 0,
  clientInfo: "resume-spec",
  ...(resume ? { resume: { seq: 0, cursor: new Uint8Array(), cursorSeq: 0, sessionId: "", ...resume } } : {}),
});

/** Opens a session and reads until `until` holds (or the stream ends); returns the frames. */
async function session(open: OpenFrame, until: (frames: ServerFrame[]) => boolean = () => false): Promise<ServerFrame[]> {
  const raw = new RawSession({ baseUrl: server.url }, "http2", "binary");
  try {
    await raw.open(open);
    const frames: ServerFrame[] = [];
    for (let r = await raw.next(5_000); r; r = await raw.next(5_000)) {
      frames.push(r.frame);
      if (until(frames)) break;
    }
    if (frames.at(-1)?.type !== "end" && frames.at(-1)?.type !== "error") raw.send({ type: "cancel", reason: "enough" });
    return frames;
  } finally {
    setTimeout(() => raw.close(), 200);
  }
}

const opened = (frames: ServerFrame[]) => frames.find((f): f is OpenedFrame => f.type === "opened");
const errorOf = (frames: ServerFrame[]) => frames.find((f): f is ErrorFrame => f.type === "error");

describe("resume on the wire", () => {
  it("counts resumed sessions in sluice_resumes_total and logs them as resumed", async () => {
    const frames = await session(openFrame("conformance.items", { seq: 5 }), (f) => f.some((x) => x.type === "chunk"));
    expect(opened(frames)).toMatchObject({ nextSeq: 6, resume: { requestedSeq: 5, nextSeq: 6, replayed: 0 } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^sluice_resumes_total\{stream="conformance.items"\} 1$/m);
    const logs = server.output.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.find((l) => l.msg === "session ended" && l.stream === "conformance.items")).toMatchObject({ resumed: true, client: "resume-spec" });
  });

  it("logs a refused Open under the stream it asked for, with the client's client_info", async () => {
    const frames = await session({ ...openFrame("conformance.items"), window: { items: 0, bytes: 10 }, clientInfo: "window-zero" });
    expect(errorOf(frames)).toMatchObject({ code: "invalid_argument", field: "window.items" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const logs = server.output.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.find((l) => l.client === "window-zero")).toMatchObject({ stream: "conformance.items", outcome: "invalid_argument", level: 40 });
  });

  it("refuses a resume beyond the end of a finite stream, naming resume.seq", async () => {
    const frames = await session(openFrame("conformance.items", { seq: 20 }, { count: 10 }));
    expect(frames.some((f) => f.type === "opened" || f.type === "end")).toBe(false);
    expect(errorOf(frames)).toMatchObject({ code: "invalid_argument", retryable: false, field: "resume.seq", message: "resume.seq: 20 is beyond the end of stream conformance.items (10 items)" });
  });

  it("resumes exactly at the end of a finite stream with End and nothing else", async () => {
    const frames = await session(openFrame("conformance.items", { seq: 10, cursor: indexCursor(10), cursorSeq: 10 }, { count: 10 }));
    expect(frames.map((f) => f.type)).toEqual(["opened", "end"]);
    expect(frames[1]).toMatchObject({ lastSeq: 10, sessionItems: 0 });
  });

  it("refuses a malformed cursor as invalid_argument naming resume.cursor, not retryable", async () => {
    const frames = await session(openFrame("conformance.items", { seq: 2, cursor: new Uint8Array([1, 2, 3]), cursorSeq: 2 }));
    expect(errorOf(frames)).toMatchObject({ code: "invalid_argument", retryable: false, field: "resume.cursor", message: "resume.cursor: an index cursor is 8 bytes, got 3" });
  });

  it("refuses a cursor that disagrees with resume.cursor_seq", async () => {
    const frames = await session(openFrame("conformance.items", { seq: 5, cursor: indexCursor(100), cursorSeq: 5 }));
    expect(errorOf(frames)).toMatchObject({ code: "invalid_argument", retryable: false, field: "resume.cursor", message: "resume.cursor: the cursor is at seq 100, but resume.cursor_seq says 5" });
  });

  it("continues after an expired topic position with a history_expired gap when the topic's policy allows it", async () => {
    const first = await session(openFrame("conformance.topic"), (f) => f.some((x) => x.type === "opened"));
    const head = opened(first)!.nextSeq;
    // 50 items a second with a history of 50: in 1.5 s the position has expired.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const frames = await session(openFrame("conformance.topic", { seq: head }), (f) => f.some((x) => x.type === "chunk"));
    const resumed = opened(frames)!;
    expect(resumed.resume).toMatchObject({ requestedSeq: head, gap: { fromSeq: head + 1, reason: "history_expired" } });
    expect(resumed.nextSeq).toBeGreaterThan(head + 1);
    expect(resumed.resume!.gap!.fromSeq + resumed.resume!.gap!.count).toBe(resumed.nextSeq);
    expect(resumed.resume!.replayed).toBeGreaterThan(40);
    const firstChunk = frames.find((f) => f.type === "chunk");
    expect(firstChunk).toMatchObject({ firstSeq: resumed.nextSeq });
  });

  it("refuses an expired topic position with resume_position_lost when the topic's policy says fail", async () => {
    const first = await session(openFrame("conformance.topic-strict"), (f) => f.some((x) => x.type === "opened"));
    const head = opened(first)!.nextSeq;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const frames = await session(openFrame("conformance.topic-strict", { seq: head }));
    expect(errorOf(frames)).toMatchObject({ code: "resume_position_lost", retryable: false, message: expect.stringMatching(/older than the retained history/) });
  });
});
