import type { ClientFrame, ServerFrame } from "@sluice/core";
import { describe, expect, it } from "vitest";
import { FrameQueue } from "./frame-pipe.js";
import { serveSession, type SourceYield } from "./serve-session.js";

const ITEM_BYTES = 1024;
const CHUNK_BYTES = 16 * 1024;
const WINDOW_BYTES = 4 * 1024 * 1024;

/** A session on an endless source of 1 KiB items, whose transport takes chunks only when `blocked` says so. */
function session(blocked: () => Promise<void> | undefined) {
  const inbound = new FrameQueue<ClientFrame>();
  const counts = { pulled: 0, sentBytes: 0 };
  const source = (async function* (): AsyncGenerator<SourceYield> {
    for (;;) {
      counts.pulled += ITEM_BYTES;
      yield { data: new Uint8Array(ITEM_BYTES) };
    }
  })();
  const ended = serveSession({
    pipe: {
      inbound,
      send: (frame: ServerFrame) => {
        if (frame.type !== "chunk") return;
        for (const item of frame.items) counts.sentBytes += item.byteLength;
        return blocked();
      },
      close: () => undefined,
    },
    resolve: async () => ({ items: source, nextSeq: 1, contentType: "application/octet-stream", sessionId: "s", sessionSecret: new Uint8Array(16), chunk: { maxBytes: CHUNK_BYTES, maxItems: 1_000 } }),
  });
  inbound.push({ type: "open", stream: "s", params: {}, window: { items: 1_000_000, bytes: WINDOW_BYTES }, heartbeatIntervalMs: 0, clientInfo: "test" });
  return { counts, end: () => inbound.push({ type: "cancel", reason: "done" }), ended };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

describe("a served session ahead of its transport", () => {
  it("pulls the whole window when the transport takes every frame at once", async () => {
    const { counts, end, ended } = session(() => undefined);
    await settle();
    expect(counts.sentBytes).toBe(WINDOW_BYTES);
    end();
    await ended;
  });

  it("pulls at most four chunks ahead of a write the transport has not taken, and goes on once it has", async () => {
    let release: (() => void) | undefined;
    const { counts, end, ended } = session(() => (release ? undefined : new Promise<void>((resolve) => (release = resolve))));
    await settle();
    // One chunk written (and stuck), then four chunks' worth pulled behind it: the limit reached, not passed.
    expect(counts.sentBytes).toBe(CHUNK_BYTES);
    expect(counts.pulled - counts.sentBytes).toBeGreaterThanOrEqual(4 * CHUNK_BYTES);
    expect(counts.pulled - counts.sentBytes).toBeLessThanOrEqual(4 * CHUNK_BYTES + ITEM_BYTES);
    const stuck = counts.pulled;
    await settle();
    expect(counts.pulled).toBe(stuck);
    // The transport takes it (and every write after): the session streams the rest of the window.
    const take = release!;
    release = () => undefined;
    take();
    await settle();
    expect(counts.sentBytes).toBe(WINDOW_BYTES);
    end();
    await ended;
  });
});
