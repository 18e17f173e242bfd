/**
 * The runner's checker must catch a server that breaks a rule: fed frames by
 * hand, StrictSession accepts a correct session and names each violation.
 */
import type { ClientFrame, ServerFrame } from "@sluice/core";
import { describe, expect, it } from "vitest";
import { StrictSession, Violation } from "../src/strict-session.js";
import type { Received } from "../src/wire/inbox.js";
import type { RawSession } from "../src/wire/raw-session.js";

const LIMITS = { maxFrameBytes: 1 << 20, maxItemBytes: 1 << 16, maxWindowItems: 100, maxWindowBytes: 1 << 20, heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 3_000 };
const opened = (extra: Partial<Extract<ServerFrame, { type: "opened" }>> = {}): ServerFrame => ({ type: "opened", sessionId: "s", sessionSecret: new Uint8Array([1]), nextSeq: 1, limits: LIMITS, contentType: "x", window: { items: 3, bytes: 100 }, ...extra });
const chunk = (firstSeq: number, ...sizes: number[]): ServerFrame => ({ type: "chunk", firstSeq, items: sizes.map((n) => new Uint8Array(n)), cursor: new Uint8Array() });

/** A raw session that replays `frames` and records what the checker sends. */
function fake(frames: ServerFrame[]): { raw: RawSession; sent: ClientFrame[] } {
  const sent: ClientFrame[] = [];
  let i = 0;
  const raw = {
    open: async () => undefined,
    send: (frame: ClientFrame) => void sent.push(frame),
    next: async (): Promise<Received | undefined> => (i < frames.length ? { frame: frames[i++]!, at: performance.now(), bytes: 10 } : undefined),
    close: () => undefined,
  } as unknown as RawSession;
  return { raw, sent };
}

async function check(frames: ServerFrame[]): Promise<Violation | undefined> {
  const { raw } = fake(frames);
  const session = new StrictSession(raw, { type: "open", stream: "x", params: {}, window: { items: 3, bytes: 100 }, heartbeatIntervalMs: 0, clientInfo: "t" });
  try {
    await session.start();
    await session.readToEnd();
  } catch (error) {
    if (error instanceof Violation) return error;
    throw error;
  }
  return undefined;
}

describe("StrictSession", () => {
  it("accepts a session that keeps every rule", async () => {
    expect(await check([opened(), chunk(1, 10, 10, 10), { type: "end", lastSeq: 3, cursor: new Uint8Array(), sessionItems: 3, sessionBytes: 30 }])).toBeUndefined();
  });

  it.each<[string, ServerFrame[], RegExp]>([
    ["an item beyond the item window", [opened(), chunk(1, 1, 1, 1, 1)], /item 4 beyond the granted max_seq 3/],
    ["an item beyond the byte window", [opened(), chunk(1, 60, 60)], /item 2 \(60 bytes at offset 60\) beyond the granted max_bytes 100/],
    ["a seq skipped", [opened(), chunk(1, 1), chunk(3, 1)], /chunk starts at seq 3, expected 2/],
    ["an empty chunk", [opened(), { type: "chunk", firstSeq: 1, items: [], cursor: new Uint8Array() }], /empty chunk/],
    ["data before Opened", [chunk(1, 1)], /chunk before Opened/],
    ["End counting wrong", [opened(), chunk(1, 10), { type: "end", lastSeq: 1, cursor: new Uint8Array(), sessionItems: 2, sessionBytes: 10 }], /session_items 2/],
    ["End at the wrong seq", [opened(), chunk(1, 10), { type: "end", lastSeq: 5, cursor: new Uint8Array(), sessionItems: 1, sessionBytes: 10 }], /End.last_seq 5/],
    ["a frame after End", [opened(), { type: "end", lastSeq: 0, cursor: new Uint8Array(), sessionItems: 0, sessionBytes: 0 }, chunk(1, 1)], /after End/],
    ["a window above the request", [opened({ window: { items: 5, bytes: 100 } })], /exceeds the requested 3/],
    ["a heartbeat timeout not above the interval", [opened({ limits: { ...LIMITS, heartbeatTimeoutMs: 1_000 } })], /0 < interval < timeout/],
  ])("names %s", async (_what, frames, message) => {
    const violation = await check(frames);
    expect(violation?.message).toMatch(message);
  });

  it("answers the server's pings", async () => {
    const { raw, sent } = fake([opened(), { type: "heartbeat", ping: 9, pong: 0 }]);
    const session = new StrictSession(raw, { type: "open", stream: "x", params: {}, window: { items: 3, bytes: 100 }, heartbeatIntervalMs: 0, clientInfo: "t" });
    await session.start();
    await session.readToEnd();
    expect(sent).toEqual([{ type: "heartbeat", ping: 0, pong: 9 }]);
  });
});
