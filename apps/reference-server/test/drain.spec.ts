/**
 * SIGTERM drains on the wire (README, "tells every open session
 * UNAVAILABLE"): a raw session on each transport, spoken by hand with
 * @sluice/conformance's clients, receives an Error frame UNAVAILABLE
 * (retryable, retry-after 0) and then Connect's end of stream, on a response
 * that ends cleanly: no truncated chunked body, no bare EOF, no reset.
 */
import { MODES, RawSession, type Codec, type Mode } from "@sluice/conformance";
import type { ServerFrame } from "@sluice/core";
import { describe, expect, it } from "vitest";
import { startCli } from "./start-cli.js";

const open = { type: "open" as const, stream: "ticks", params: {}, window: { items: 1_000, bytes: 1 << 20 }, heartbeatIntervalMs: 0, clientInfo: "drain-test" };

describe("SIGTERM drain, on the wire", () => {
  const cases: [Mode, Codec][] = [...MODES.map((mode): [Mode, Codec] => [mode, "binary"]), ["http1.1", "json"], ["http2", "json"]];
  it.each(cases)("over %s (%s): Error UNAVAILABLE retryable with retry-after 0, then the Connect end of stream", async (mode, codec) => {
    const server = await startCli([], { SLUICE_SHUTDOWN_GRACE_MS: "3000" });
    const session = new RawSession({ baseUrl: server.url }, mode, codec);
    try {
      await session.open(open);
      const frames: ServerFrame[] = [];
      // Opened and the first ticks: the session is streaming.
      while (!frames.some((f) => f.type === "chunk")) frames.push((await session.next(5_000))!.frame);
      const exited = new Promise<number | null>((resolve) => server.child.once("exit", resolve));
      server.child.kill("SIGTERM");
      for (let r = await session.next(5_000); r; r = await session.next(5_000)) frames.push(r.frame);
      const end = await session.ended;
      const last = frames.at(-1)!;
      expect(last).toMatchObject({ type: "error", code: "unavailable", retryable: true, retryAfterMs: 0 });
      expect(last.type === "error" && last.message).toMatch(/draining/);
      expect(end).toMatchObject({ status: 200, endStream: true, transport: "clean" });
      expect(end.error).toBeUndefined();
      expect(await exited).toBe(0);
    } finally {
      session.close();
      server.child.kill("SIGKILL");
    }
  }, 20_000);

  it("over WebSocket, the socket gets GoAway and then closes with 1001 (going away)", async () => {
    const server = await startCli([], { SLUICE_SHUTDOWN_GRACE_MS: "3000" });
    const session = new RawSession({ baseUrl: server.url }, "websocket", "binary");
    try {
      await session.open(open);
      while ((await session.next(5_000))!.frame.type !== "chunk");
      server.child.kill("SIGTERM");
      while (await session.next(5_000));
      const closed = await session.socket!.closed;
      expect(session.socket!.received.some((f) => f.kind.case === "goAway")).toBe(true);
      expect(closed.code).toBe(1001);
    } finally {
      session.close();
      server.child.kill("SIGKILL");
    }
  }, 20_000);
});
