import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { VirtualClock } from "@sluice/testing";

/** One macrotask: lets pending promise chains run without moving time. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
import { MAX_DRAIN_POLL_MS, SendBuffer } from "./send-buffer.js";

const HIGH = 1_000;

function buffer(options: { drainEvents?: EventEmitter; coalesce?: boolean } = {}) {
  const clock = new VirtualClock(1_000);
  const socket = { bufferedAmount: 0 };
  const corks: string[] = [];
  const sendBuffer = new SendBuffer(socket, {
    highWaterBytes: HIGH,
    clock,
    ...(options.drainEvents ? { drainEvents: options.drainEvents } : {}),
    ...(options.coalesce ? { coalesceWrites: { cork: () => corks.push("cork"), uncork: () => corks.push("uncork") } } : {}),
  });
  let released = 0;
  const wait = () => void sendBuffer.drained().then(() => released++);
  return { clock, socket, sendBuffer, corks, wait, released: () => released };
}

describe("SendBuffer", () => {
  it("is full above the high-water mark only", async () => {
    const { socket, sendBuffer } = buffer();
    socket.bufferedAmount = HIGH;
    expect(sendBuffer.full).toBe(false);
    await sendBuffer.drained(); // not full: no wait
    socket.bufferedAmount = HIGH + 1;
    expect(sendBuffer.full).toBe(true);
  });

  it("holds writers until the buffer is down to half the high-water mark (polled, without drain events)", async () => {
    const { clock, socket, wait, released } = buffer();
    socket.bufferedAmount = HIGH + 1;
    wait();
    wait();
    await clock.advance(50);
    expect(released()).toBe(0);
    socket.bufferedAmount = HIGH / 2 + 1;
    await clock.advance(50);
    expect(released()).toBe(0);
    socket.bufferedAmount = HIGH / 2;
    await clock.advance(MAX_DRAIN_POLL_MS);
    expect(released()).toBe(2); // every writer, at once
    expect(clock.pending).toBe(0); // and no polling once nobody waits
  });

  it("sees a draining buffer within a millisecond, and polls a stalled one at most every MAX_DRAIN_POLL_MS", async () => {
    const { clock, socket, wait, released } = buffer();
    socket.bufferedAmount = 10 * HIGH;
    wait();
    const before = clock.scheduled;
    await clock.advance(1_000); // stalled: the reader does not read
    const stalledPolls = clock.scheduled - before;
    expect(stalledPolls).toBeLessThanOrEqual(1_000 / MAX_DRAIN_POLL_MS + 6);
    expect(stalledPolls).toBeGreaterThanOrEqual(1_000 / MAX_DRAIN_POLL_MS - 1);
    // Now it drains steadily: every poll sees it shrink, and polls come every millisecond.
    let at = 0;
    while (released() === 0 && at < 1_000) {
      socket.bufferedAmount = Math.max(0, socket.bufferedAmount - 100);
      await clock.advance(1);
      at++;
    }
    expect(released()).toBe(1);
    // 95 shrinking steps down to the low-water mark, plus at most the one slow poll in progress.
    expect(at).toBeLessThanOrEqual(95 + MAX_DRAIN_POLL_MS);
  });

  it("wakes writers on the stream's drain event, without waiting for a poll", async () => {
    const stream = new EventEmitter();
    const { socket, wait, released } = buffer({ drainEvents: stream });
    socket.bufferedAmount = HIGH + 1;
    wait();
    expect(stream.listenerCount("drain")).toBe(1);
    stream.emit("drain"); // not drained enough yet
    await settle();
    expect(released()).toBe(0);
    socket.bufferedAmount = 0;
    stream.emit("drain");
    await settle();
    expect(released()).toBe(1);
    expect(stream.listenerCount("drain")).toBe(0);
  });

  it("with drain events, still polls (slowly) in case no drain event ever comes", async () => {
    const stream = new EventEmitter();
    const { clock, socket, wait, released } = buffer({ drainEvents: stream });
    socket.bufferedAmount = HIGH + 1;
    wait();
    socket.bufferedAmount = 0;
    await clock.advance(MAX_DRAIN_POLL_MS - 1);
    expect(released()).toBe(0);
    await clock.advance(1);
    expect(released()).toBe(1);
  });

  it("releases the writers when the socket closes", async () => {
    const { clock, socket, sendBuffer, wait, released } = buffer();
    socket.bufferedAmount = 10 * HIGH;
    wait();
    sendBuffer.close();
    await settle();
    expect(released()).toBe(1);
    expect(sendBuffer.full).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it("corks a turn's writes once and uncorks when the turn ends, or at once on close", async () => {
    const { sendBuffer, corks } = buffer({ coalesce: true });
    sendBuffer.beforeWrite();
    sendBuffer.beforeWrite();
    expect(corks).toEqual(["cork"]);
    await settle();
    await settle();
    expect(corks).toEqual(["cork", "uncork"]);
    sendBuffer.beforeWrite();
    sendBuffer.close();
    expect(corks).toEqual(["cork", "uncork", "cork", "uncork"]);
    await settle();
    await settle();
    sendBuffer.beforeWrite(); // closed: nothing more is held
    expect(corks).toEqual(["cork", "uncork", "cork", "uncork"]);
  });
});
