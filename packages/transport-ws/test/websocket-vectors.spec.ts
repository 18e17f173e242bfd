/**
 * Replays the WebSocket conformance vectors (proto/vectors/v1/websocket-*.json,
 * PROTOCOL.md §14) against createWebSocketHandler on a real socket: the
 * messages of each vector go out on a raw `ws` client, and the server must
 * close with the given code (its reason starting as given), or stay open and
 * answer with the given frames, each matched on the fields the vector gives.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fromBinary, fromJson, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { SubscribeService } from "@sluice/protocol";
import { WebSocketFrameSchema } from "@sluice/protocol/ws";
import { WebSocket } from "ws";
import { describe, expect, it } from "vitest";
import { dataFrameHeader } from "../src/frames.js";
import { createWebSocketHandler } from "../src/server.js";

const dir = join(import.meta.dirname, "..", "..", "..", "proto", "vectors", "v1");
const vectors = readdirSync(dir)
  .filter((f) => f.startsWith("websocket-") && f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")));
const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));

/** Every field of `want` is in `got` with the same value (objects compared the same way, arrays exactly). */
function contains(got: unknown, want: unknown): boolean {
  if (want === null || typeof want !== "object" || Array.isArray(want)) return JSON.stringify(got) === JSON.stringify(want);
  if (got === null || typeof got !== "object") return false;
  return Object.entries(want).every(([key, value]) => contains((got as Record<string, unknown>)[key], value));
}

describe("websocket vectors", () => {
  it("exist", () => expect(vectors.length).toBeGreaterThanOrEqual(10));

  for (const vector of vectors) {
    it(`${vector.name}: ${vector.description}`, async () => {
      const server = http.createServer();
      const handler = createWebSocketHandler({
        // A Subscribe that reads its requests and never answers: a call that stays open.
        routes: (router) =>
          router.service(SubscribeService, {
            // Never answers: a generator with no yield is the point.
            // eslint-disable-next-line require-yield
            async *subscribe(requests) {
              for await (const _ of requests) void _;
            },
          }),
        ...(vector.server.maxCallsPerSocket ? { maxCallsPerSocket: vector.server.maxCallsPerSocket } : {}),
      });
      handler.attach(server);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const socket = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/connect`, "sluice.ws.v1");
      try {
        await new Promise((resolve, reject) => {
          socket.once("open", resolve);
          socket.once("error", reject);
        });
        const received: unknown[] = [];
        socket.on("message", (data: Buffer) => received.push(toJson(WebSocketFrameSchema, fromBinary(WebSocketFrameSchema, data))));
        const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
        for (const message of vector.send) {
          if (message.frame) {
            // The JSON and the hex are the same frame.
            expect(toBinary(WebSocketFrameSchema, fromJson(WebSocketFrameSchema, message.frame as JsonValue))).toEqual(fromHex(message.hex));
            socket.send(fromHex(message.hex));
          } else if (message.text !== undefined) socket.send(message.text);
          else if (message.raw) socket.send(fromHex(message.raw));
          else if (message.dataZeros) {
            const { callId, size } = message.dataZeros;
            socket.send(Buffer.concat([dataFrameHeader(callId, size), Buffer.alloc(size)]));
          }
        }
        if (vector.expect.close) {
          const result = await Promise.race([closed, new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 2_000))]);
          expect(result).not.toBe("open");
          if (result === "open") return;
          expect(result.code).toBe(vector.expect.close.code);
          expect(result.reason.startsWith(vector.expect.close.reason), `reason ${JSON.stringify(result.reason)}`).toBe(true);
        } else {
          await new Promise((resolve) => setTimeout(resolve, 300));
          expect(socket.readyState).toBe(WebSocket.OPEN);
          let from = 0;
          for (const want of vector.expect.received) {
            const at = received.findIndex((got, i) => i >= from && contains(got, want));
            expect(at, `${JSON.stringify(want)} among ${JSON.stringify(received)}`).toBeGreaterThanOrEqual(0);
            from = at + 1;
          }
        }
      } finally {
        socket.terminate();
        handler.close();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  }
});
