import { SluiceError, type ClientFrame, type ServerFrame } from "@sluice/core";
import { describe, expect, it } from "vitest";
import { createMemoryLink, type MemoryLink } from "./memory-link.js";
import { serveSession, type SourceYield } from "./serve-session.js";
import { Subscription } from "./subscription.js";

const encoder = new TextEncoder();

async function* numbers(from: number, to: number): AsyncGenerator<SourceYield> {
  for (let n = from; n <= to; n++) yield { data: encoder.encode(String(n)), cursor: encoder.encode(String(n)) };
}

function server(total: number, links: MemoryLink<ClientFrame, ServerFrame>[]) {
  return async (_signal: AbortSignal) => {
    const link = createMemoryLink<ClientFrame, ServerFrame>();
    links.push(link);
    void serveSession({
      pipe: link.b,
      resolve: async (open) => {
        if (open.stream !== "numbers") throw new SluiceError("stream_not_found", `stream not configured: ${open.stream}`);
        const after = open.resume ? open.resume.seq : 0;
        return { items: numbers(after + 1, total), nextSeq: after + 1, contentType: "text/plain", sessionId: `s${links.length}`, sessionSecret: new Uint8Array() };
      },
    });
    return link.a;
  };
}

describe("Subscription over an in-memory link", () => {
  it("delivers every item once and in order", async () => {
    const links: MemoryLink<ClientFrame, ServerFrame>[] = [];
    const sub = new Subscription({ stream: "numbers", window: { items: 100, bytes: 4096 }, connect: server(20_000, links) });
    let expected = 1;
    for await (const event of sub) {
      if (event.kind !== "item") throw new Error("unexpected gap");
      expect(event.seq).toBe(expected);
      expect(new TextDecoder().decode(event.data)).toBe(String(expected));
      expected++;
    }
    expect(expected - 1).toBe(20_000);
    expect(sub.stats.sessions).toBe(1);
  });

  it("resumes after the link breaks, without loss or duplicates", async () => {
    const links: MemoryLink<ClientFrame, ServerFrame>[] = [];
    const sub = new Subscription({ stream: "numbers", window: { items: 64, bytes: 2048 }, connect: server(10_000, links), backoff: { initialMs: 1, maxMs: 5 } });
    const seen: number[] = [];
    for await (const event of sub) {
      if (event.kind !== "item") continue;
      seen.push(event.seq);
      if (event.seq % 2_500 === 0 && event.seq < 10_000) links.at(-1)!.break();
    }
    expect(seen).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
    expect(sub.stats.reconnects).toBe(3);
  });

  it("fails with the server's error for an unknown stream", async () => {
    const sub = new Subscription({ stream: "nope", connect: server(1, []) });
    await expect(async () => {
      for await (const _ of sub) void _;
    }).rejects.toThrow(/stream not configured: nope/);
  });
});
