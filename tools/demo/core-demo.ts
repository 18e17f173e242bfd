/**
 * `npm run demo:core`: an end-to-end run of the
 * core machines over a simulated link that drops the connection twice, with
 * a slow reader, printing progress. Every frame goes through the real codec.
 */
import { Backoff, SluiceError, StreamReceiver, StreamSender } from "@sluice/core";
import { decodeClientFrame, decodeServerFrame, encodeClientFrame, encodeServerFrame } from "@sluice/protocol";

const TOTAL = Number(process.env.SLUICE_DEMO_ITEMS ?? 200_000);
const MAX_FRAME = 4 * 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const item = (seq: number) => encoder.encode(JSON.stringify({ seq, at: `row ${seq}` }));
const cursorOf = (seq: number) => encoder.encode(String(seq));

const receiver = new StreamReceiver({ stream: "demo", window: { items: 2_000, bytes: 256 * 1024 }, heartbeat: { intervalMs: 1_000, timeoutMs: 3_000 } });
const backoff = new Backoff({ initialMs: 50, maxMs: 1_000, random: Math.random });
let sender: StreamSender | undefined;
let next = 1;
let now = 0;
let seen = 0;
let expected = 1;
let reconnects = 0;
const dropAt = new Set([Math.floor(TOTAL / 3), Math.floor((2 * TOTAL) / 3)]);
const started = performance.now();

function connect(): void {
  sender = new StreamSender({ chunk: { maxBytes: 32 * 1024, flushDelayMs: 5 } });
  receiver.connect(now);
}

connect();
while (!receiver.finished || receiver.buffered > 0) {
  now += 1;
  if (sender) {
    for (let f = receiver.pollTransmit(); f; f = receiver.pollTransmit()) sender.handleFrame(decodeClientFrame(encodeClientFrame(f), MAX_FRAME), now);
    for (let e = sender.pollEvent(); e; e = sender.pollEvent()) {
      if (e.type === "open") {
        const resume = e.open.resume;
        next = resume ? resume.seq + 1 : 1;
        sender.accept({ sessionId: `demo-${reconnects}`, sessionSecret: new Uint8Array(), nextSeq: next, contentType: "application/json", resume: resume && { requestedSeq: resume.seq, nextSeq: next, replayed: 0 } }, now);
      }
    }
    while (sender.demand > 0 && next <= TOTAL) {
      sender.push(item(next), cursorOf(next), now);
      next++;
    }
    if (next > TOTAL && sender.state === "streaming") sender.end(cursorOf(TOTAL), now);
    sender.handleTimeout(now);
    for (let f = sender.pollTransmit(); f; f = sender.pollTransmit()) {
      receiver.handleFrame(decodeServerFrame(encodeServerFrame(f), MAX_FRAME), now);
    }
  }
  // A slow-ish reader: at most 5 000 items per tick.
  for (let n = 0; n < 5_000; n++) {
    const d = receiver.read(now);
    if (!d) break;
    if (d.kind === "item") {
      const value = JSON.parse(decoder.decode(d.data)) as { seq: number };
      if (value.seq !== expected) throw new Error(`out of order: got ${value.seq}, expected ${expected}`);
      expected++;
      seen++;
      receiver.ack(d.seq, now);
      if (dropAt.delete(d.seq)) {
        console.log(`  connection dropped after item ${d.seq}`);
        receiver.connectionLost(new SluiceError("unavailable", "demo: connection dropped"), now);
        sender = undefined;
      }
      if (seen % 50_000 === 0) console.log(`  ${seen.toLocaleString("en-US")} items, window ${receiver.bufferedBytes} bytes buffered`);
    } else if (d.kind === "end") {
      console.log(`  end: last seq ${d.end.lastSeq}`);
    } else if (d.kind === "error") {
      throw d.error;
    }
  }
  for (let e = receiver.pollEvent(); e; e = receiver.pollEvent()) {
    if (e.type === "session_lost") {
      reconnects++;
      now += backoff.next() ?? 0;
      connect();
      console.log(`  resumed after seq ${receiver.resumePosition?.seq} (session ${reconnects + 1})`);
    } else if (e.type === "opened") backoff.reset();
  }
}
const ms = performance.now() - started;
console.log(`Sluice core demo: ${seen.toLocaleString("en-US")} of ${TOTAL.toLocaleString("en-US")} items exactly once, in order, across ${reconnects} reconnects, in ${ms.toFixed(0)} ms (${Math.round((seen / ms) * 1000).toLocaleString("en-US")} items/s).`);
if (seen !== TOTAL) process.exit(1);
