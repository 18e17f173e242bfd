/**
 * The server's send buffer on a real `ws` socket: writers held above the
 * high-water mark are woken by the 'drain' of the stream under the socket,
 * with no polling at all (the clock here never moves).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SendBuffer } from "../src/send-buffer.js";
import { VirtualClock } from "@sluice/testing";

const HIGH_WATER = 1024 * 1024;
let server: http.Server;
let accepted: Promise<{ socket: WebSocket; stream: Duplex }>;
let client: WebSocket;

beforeAll(async () => {
  server = http.createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  accepted = new Promise((resolve) => server.on("upgrade", (request, stream, head) => wss.handleUpgrade(request, stream, head, (socket) => resolve({ socket, stream }))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await new Promise((resolve) => client.once("open", resolve));
});

afterAll(async () => {
  client.terminate();
  await new Promise((resolve) => server.close(resolve));
});

it("wakes writers on the stream's 'drain' once a reader that stopped reads again", async () => {
  const { socket, stream } = await accepted;
  const clock = new VirtualClock(1_000); // never advanced: only 'drain' can wake the writer
  const buffer = new SendBuffer(socket, { highWaterBytes: HIGH_WATER, clock, drainEvents: stream });
  // The client stops reading: the kernel's buffers fill, then the server's.
  (client as unknown as { _socket: Duplex })._socket.pause();
  const chunk = new Uint8Array(64 * 1024);
  for (let i = 0; i < 2_000 && !buffer.full; i++) {
    socket.send(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(buffer.full).toBe(true);
  let drained = false;
  const waiting = buffer.drained().then(() => (drained = true));
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(drained).toBe(false);
  (client as unknown as { _socket: Duplex })._socket.resume();
  await Promise.race([waiting, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  expect(drained).toBe(true);
  expect(socket.bufferedAmount).toBeLessThanOrEqual(HIGH_WATER / 2);
});
