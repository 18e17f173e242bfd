/**
 * `npm run demo:core`: an end-to-end run of the Sluice machines as every
 * transport runs them: @sluice/driver's serveSession and Subscription (the
 * one pump each) over an in-memory link whose every frame goes through the
 * real codec, with a slow reader and the connection dropped twice; the
 * subscription resumes after its last ack each time. Prints progress and
 * exits non-zero unless every item arrived once, in order.
 */
import { SluiceError, type ClientFrame, type ServerFrame } from "@sluice/core";
import { createMemoryLink, serveSession, Subscription, type FramePipe, type MemoryLink, type SourceYield } from "@sluice/driver";
import { decodeClientFrame, decodeServerFrame, encodeClientFrame, encodeServerFrame } from "@sluice/protocol";

const TOTAL = Number(process.env.SLUICE_DEMO_ITEMS ?? 200_000);
const MAX_FRAME = 4 * 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A pipe whose frames are encoded and decoded on the way, as on a socket. */
function throughCodec<In, Out>(pipe: FramePipe<In, Out>, encode: (frame: Out) => Uint8Array, decode: (bytes: Uint8Array, max: number) => Out): FramePipe<In, Out> {
  return { inbound: pipe.inbound, send: (frame) => pipe.send(decode(encode(frame), MAX_FRAME)), close: (error) => pipe.close(error) };
}

async function* rows(from: number): AsyncGenerator<SourceYield> {
  for (let seq = from; seq <= TOTAL; seq++) yield { data: encoder.encode(JSON.stringify({ seq, at: `row ${seq}` })), cursor: encoder.encode(String(seq)) };
}

let current: MemoryLink<ClientFrame, ServerFrame> | undefined;
let sessions = 0;
const subscription = new Subscription<{ seq: number }>({
  stream: "demo",
  window: { items: 2_000, bytes: 256 * 1024 },
  decode: (data) => JSON.parse(decoder.decode(data)) as { seq: number },
  backoff: { initialMs: 50, maxMs: 1_000 },
  connect: async () => {
    const link = createMemoryLink<ClientFrame, ServerFrame>();
    current = link;
    const n = ++sessions;
    void serveSession({
      pipe: throughCodec(link.b, encodeServerFrame, decodeServerFrame),
      sender: {},
      resolve: async (open) => {
        const nextSeq = open.resume ? open.resume.seq + 1 : 1;
        if (open.resume) console.log(`  resumed after seq ${open.resume.seq} (session ${n})`);
        return {
          items: rows(nextSeq),
          nextSeq,
          contentType: "application/json",
          sessionId: `demo-${n}`,
          sessionSecret: new Uint8Array(16),
          chunk: { maxBytes: 32 * 1024, flushDelayMs: 5 },
          ...(open.resume ? { resume: { requestedSeq: open.resume.seq, nextSeq, replayed: 0 } } : {}),
        };
      },
    });
    return throughCodec(link.a, encodeClientFrame, decodeClientFrame);
  },
});

const dropAt = new Set([Math.floor(TOTAL / 3), Math.floor((2 * TOTAL) / 3)]);
const started = performance.now();
let expected = 1;
for await (const event of subscription) {
  if (event.kind !== "item") throw new SluiceError("internal", `unexpected gap of ${event.count}`);
  if (event.value.seq !== expected) throw new Error(`out of order: got ${event.value.seq}, expected ${expected}`);
  expected++;
  if (dropAt.delete(event.seq)) {
    console.log(`  connection dropped after item ${event.seq}`);
    current?.break();
  }
  if (event.seq % 50_000 === 0) console.log(`  ${event.seq.toLocaleString("en-US")} items`);
  // A slow-ish reader: it gives the loop a turn every 5 000 items.
  if (event.seq % 5_000 === 0) await new Promise((resolve) => setImmediate(resolve));
}
const seen = expected - 1;
const ms = performance.now() - started;
console.log(`Sluice core demo: ${seen.toLocaleString("en-US")} of ${TOTAL.toLocaleString("en-US")} items exactly once, in order, across ${subscription.stats.reconnects} reconnects, in ${ms.toFixed(0)} ms (${Math.round((seen / ms) * 1000).toLocaleString("en-US")} items/s).`);
if (seen !== TOTAL || subscription.stats.reconnects !== 2) process.exit(1);
