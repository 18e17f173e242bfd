/**
 * Checks of one Sluice session, run in every mode (HTTP/2 full duplex,
 * HTTP/1.1 half duplex, WebSocket) and both codecs. Every frame also passes
 * StrictSession's rules (credit, byte rule, order, fragments, End).
 */
import type { JsonObject } from "@sluice/core";
import { expectError, expectThat, openFrame, sleep, STREAMS, type Check, type CheckContext } from "../check.js";
import { StrictSession, Violation } from "../strict-session.js";
import { TimeoutError } from "../wire/inbox.js";
import { RawSession } from "../wire/raw-session.js";

function session(context: CheckContext, open = openFrame(STREAMS.items), options: ConstructorParameters<typeof StrictSession>[2] = {}): StrictSession {
  return new StrictSession(new RawSession(context.target, context.mode, context.codec), open, options);
}

/** Runs `body` with an opened session and always closes it. */
async function withSession(context: CheckContext, open: ReturnType<typeof openFrame>, body: (s: StrictSession) => Promise<void>, options: ConstructorParameters<typeof StrictSession>[2] = {}): Promise<void> {
  const s = session(context, open, options);
  try {
    const opened = await s.start();
    expectThat(opened !== undefined, `the server refused the Open: ${s.error?.code}: ${s.error?.message}`);
    await body(s);
  } finally {
    s.raw.close();
  }
}

/** Nothing but heartbeats arrives for `ms`. */
async function expectQuiet(s: StrictSession, ms: number, why: string): Promise<void> {
  const until = performance.now() + ms;
  for (;;) {
    const left = until - performance.now();
    if (left <= 0) return;
    try {
      const r = await s.next(left);
      expectThat(r !== undefined, `the response ended while ${why}`);
      expectThat(r.frame.type === "heartbeat", `${why}, but a ${r.frame.type} arrived`);
    } catch (error) {
      if (error instanceof TimeoutError) return;
      throw error;
    }
  }
}

/** Reads to End, granting credit as a receiver that consumes at once, acking every `ackEvery` items. */
async function consumeToEnd(s: StrictSession, ackEvery = 100): Promise<void> {
  let acked = 0;
  for (;;) {
    const r = await s.next();
    expectThat(r !== undefined, "the response ended without End");
    if (r.frame.type === "end") return;
    if (r.frame.type === "error") throw new Violation(`Error ${r.frame.code}: ${r.frame.message}`);
    if (r.frame.type !== "chunk") continue;
    const last = s.items.at(-1)?.seq ?? 0;
    if (last - acked >= ackEvery) {
      s.send({ type: "ack", seq: last });
      acked = last;
    }
    // Grant at half the window consumed (§4.5 rule 1), as a fast app would.
    if (s.grantedSeq - s.receivedSeq <= s.window!.items / 2 || s.grantedBytes - s.receivedBytes <= s.window!.bytes / 2) s.grantAll();
  }
}

export const SESSION_CHECKS: Check[] = [
  {
    title: "answers Open with Opened first, the window clamped to the limits",
    spec: "§3.1, §4.1",
    async run(context) {
      await withSession(context, openFrame(STREAMS.items, { window: { items: 4_000_000_000, bytes: 2 ** 50 } }), async (s) => {
        // StrictSession checked the clamp; the window in force must be usable.
        expectThat(s.window!.items >= 1 && s.window!.bytes >= 1, "an empty window");
        s.send({ type: "cancel", reason: "done" });
        await s.readToEnd();
      });
    },
  },
  {
    title: "streams a finite stream whole: contiguous seqs within credit, End counts them, then the end of stream",
    spec: "§4, §5, §8, §3.5",
    async run(context) {
      await withSession(context, openFrame(STREAMS.items, { params: { count: 3_000 }, window: { items: 100, bytes: 64 * 1024 } }), async (s) => {
        await consumeToEnd(s);
        expectThat(s.items.length === 3_000 && s.items.at(-1)?.seq === 3_000, `expected items 1..3000, got ${s.items.length} up to ${s.items.at(-1)?.seq}`);
        expectThat((await s.raw.next(5_000)) === undefined, "frames after End");
        const end = await s.raw.ended;
        expectThat(end.endStream && end.transport === "clean" && !end.error, `the response did not end with a clean end of stream: ${JSON.stringify(end)}`);
      });
    },
  },
  {
    title: "stops at the item window until credit comes",
    spec: "§4.2, §4.3",
    async run(context) {
      await withSession(context, openFrame(STREAMS.items, { window: { items: 5, bytes: 1 << 20 } }), async (s) => {
        await s.readUntil(() => s.receivedSeq >= 5);
        await expectQuiet(s, 400, "the item window was used up");
        s.grant(10, s.receivedBytes + s.window!.bytes);
        await s.readUntil(() => s.receivedSeq >= 10);
        s.send({ type: "cancel", reason: "done" });
        await s.readToEnd();
      });
    },
  },
  {
    title: "stops at the byte window until credit comes (the byte rule)",
    spec: "§4.3",
    async run(context) {
      // 64-byte items, 130 bytes: two fit, the third does not.
      await withSession(context, openFrame(STREAMS.items, { window: { items: 1_000, bytes: 130 } }), async (s) => {
        await s.readUntil(() => s.receivedSeq >= 2);
        await expectQuiet(s, 400, "the byte window was used up");
        s.grantAll();
        await s.readUntil(() => s.receivedSeq >= 4);
        s.send({ type: "cancel", reason: "done" });
        await s.readToEnd();
      });
    },
  },
  {
    title: "lets an item larger than the byte window through alone, in fragments, once everything before it is consumed",
    spec: "§4.3, §5.3",
    async run(context) {
      await withSession(context, openFrame(STREAMS.large, { window: { items: 10, bytes: 1_000 } }), async (s) => {
        await s.readUntil(() => s.items.length >= 1);
        expectThat(s.frames.filter((f) => f.frame.type === "chunk").length >= 2, "the large item did not come in fragments");
        await expectQuiet(s, 400, "the next large item exceeds the byte window until the first is consumed");
        s.grantAll();
        await s.readUntil(() => s.items.length >= 2);
        s.send({ type: "cancel", reason: "done" });
        await s.readToEnd();
      });
    },
  },
  {
    title: "answers a ping with a pong of the same id, also while data flows",
    spec: "§6",
    async run(context) {
      await withSession(context, openFrame(STREAMS.items, { window: { items: 100_000, bytes: 8 << 20 } }), async (s) => {
        s.send({ type: "heartbeat", ping: 77, pong: 0 });
        const sentAt = performance.now();
        await s.readUntil((f) => f.type === "heartbeat" && f.pong === 77, 2_000);
        expectThat(performance.now() - sentAt < 1_000, "the pong took a second or more: it queued behind data");
        s.send({ type: "cancel", reason: "done" });
        await s.readToEnd();
      });
    },
  },
  {
    title: "pings every heartbeat interval",
    spec: "§6",
    async run(context) {
      await withSession(context, openFrame(STREAMS.ticks), async (s) => {
        const interval = s.opened!.limits.heartbeatIntervalMs;
        const until = performance.now() + interval * 6;
        while (performance.now() < until) {
          s.grantAll();
          await s.next(interval * 3);
        }
        expectThat(s.pings.length >= 3, `${s.pings.length} pings in ${interval * 6} ms with a ${interval} ms interval`);
        for (let i = 1; i < s.pings.length; i++) {
          const gap = s.pings[i]!.at - s.pings[i - 1]!.at;
          expectThat(gap < interval * 2 + 200, `${Math.round(gap)} ms between pings with a ${interval} ms interval`);
        }
        s.send({ type: "cancel", reason: "done" });
        await s.readToEnd();
      });
    },
  },
  {
    title: "ends the session of a silent client with HEARTBEAT_TIMEOUT (retryable) after the timeout",
    spec: "§6",
    async run(context) {
      await withSession(
        context,
        openFrame(STREAMS.ticks),
        async (s) => {
          const { heartbeatTimeoutMs } = s.opened!.limits;
          const openedAt = performance.now();
          const frame = await s.readUntil((f) => f.type === "error" || f.type === "end", heartbeatTimeoutMs + 5_000);
          expectError(frame, "heartbeat_timeout", { retryable: true });
          const after = performance.now() - openedAt;
          expectThat(after >= heartbeatTimeoutMs * 0.9 && after < heartbeatTimeoutMs + 2_000, `timed out after ${Math.round(after)} ms with a ${heartbeatTimeoutMs} ms timeout`);
        },
        { answerPings: false },
      );
    },
  },
  {
    title: "sets the heartbeat interval the client asks for, within [50 ms, 300 s], keeping the timeout ratio",
    spec: "§6",
    async run(context) {
      for (const [asked, interval] of [
        [100, 100],
        [10, 50],
      ] as const) {
        await withSession(context, openFrame(STREAMS.ticks, { heartbeatIntervalMs: asked }), async (s) => {
          const limits = s.opened!.limits;
          expectThat(limits.heartbeatIntervalMs === interval, `asked ${asked} ms, got an interval of ${limits.heartbeatIntervalMs} ms (expected ${interval})`);
          // conformance.ticks is configured 200 / 600 ms: ratio 3.
          expectThat(limits.heartbeatTimeoutMs === interval * 3, `timeout ${limits.heartbeatTimeoutMs} ms for an interval of ${interval} ms (ratio 3 expected)`);
          s.send({ type: "cancel", reason: "done" });
          await s.readToEnd();
        });
      }
    },
  },
  {
    title: "answers Cancel with End at the last seq it sent, and stops",
    spec: "§8",
    async run(context) {
      await withSession(context, openFrame(STREAMS.items, { window: { items: 50, bytes: 1 << 20 } }), async (s) => {
        await s.readUntil((f) => f.type === "chunk");
        s.send({ type: "cancel", reason: "done" });
        await s.readToEnd();
        expectThat(s.ended !== undefined, `Cancel was not answered with End${s.error ? ` but Error ${s.error.code}` : ""}`);
        const end = await s.raw.ended;
        expectThat(end.endStream && !end.error, `no clean end of stream after End: ${JSON.stringify(end)}`);
      });
    },
  },
  {
    title: "resumes after a cut connection where the cursor says: next_seq follows the position, nothing sent twice",
    spec: "§7.3, §7.6, §7.7",
    async run(context) {
      const open = openFrame(STREAMS.items, { params: { count: 2_000 }, window: { items: 200, bytes: 1 << 20 } });
      const first = session(context, open);
      let position;
      try {
        await first.start();
        await first.readUntil(() => {
          if (first.grantedSeq - first.receivedSeq < 100) first.grantAll();
          return first.items.length >= 500;
        });
        position = first.resumePosition();
        first.raw.cut();
      } finally {
        first.raw.close();
      }
      expectThat(position.cursor.byteLength > 0, "the stream's chunks carry no cursor");
      await withSession(context, { ...open, resume: position }, async (s) => {
        expectThat(s.opened!.nextSeq === position.seq + 1, `resumed after ${position.seq} at next_seq ${s.opened!.nextSeq}`);
        await consumeToEnd(s);
        expectThat(s.items[0]?.seq === position.seq + 1 && s.items.at(-1)?.seq === 2_000, `the resumed session sent ${s.items[0]?.seq}..${s.items.at(-1)?.seq}, expected ${position.seq + 1}..2000`);
      });
    },
  },
  {
    title: "resumes without a cursor: skips to the position",
    spec: "§7.6",
    async run(context) {
      const open = openFrame(STREAMS.items, { params: { count: 600 }, resume: { seq: 500, cursor: new Uint8Array(), cursorSeq: 0, sessionId: "" } });
      await withSession(context, open, async (s) => {
        expectThat(s.opened!.resume?.requestedSeq === 500 && s.opened!.nextSeq === 501, "resume after 500 did not continue at 501");
        await consumeToEnd(s);
        expectThat(s.items[0]?.seq === 501 && s.items.length === 100, `got ${s.items.length} items from ${s.items[0]?.seq}`);
      });
    },
  },
  {
    title: "refuses resume positions that cannot be right with INVALID_ARGUMENT naming the field",
    spec: "§7.6, §10",
    async run(context) {
      const cases: { resume: { seq: number; cursor: Uint8Array; cursorSeq: number; sessionId: string }; field: string; params: JsonObject }[] = [
        { resume: { seq: 5, cursor: new Uint8Array(), cursorSeq: 7, sessionId: "" }, field: "resume.cursor_seq", params: {} },
        { resume: { seq: Number.MAX_SAFE_INTEGER, cursor: new Uint8Array(), cursorSeq: 0, sessionId: "" }, field: "resume.seq", params: {} },
        { resume: { seq: 20, cursor: new Uint8Array(), cursorSeq: 0, sessionId: "" }, field: "resume.seq", params: { count: 10 } },
        { resume: { seq: 2, cursor: new Uint8Array([1, 2, 3]), cursorSeq: 2, sessionId: "" }, field: "resume.cursor", params: {} },
      ];
      for (const { resume, field, params } of cases) {
        const s = session(context, openFrame(STREAMS.items, { resume, params }));
        try {
          const opened = await s.start();
          expectThat(opened === undefined, `resume ${JSON.stringify({ ...resume, cursor: Array.from(resume.cursor) })} was accepted`);
          expectError(s.error, "invalid_argument", { retryable: false, field });
        } finally {
          s.raw.close();
        }
      }
    },
  },
  {
    title: "refuses bad Opens with the code and field that say why",
    spec: "§3.1, §10",
    async run(context) {
      const cases = [
        { open: openFrame("conformance.no-such-stream"), code: "stream_not_found" as const, field: undefined },
        { open: openFrame(""), code: "invalid_argument" as const, field: "stream" },
        { open: openFrame(STREAMS.items, { window: { items: 0, bytes: 100 } }), code: "invalid_argument" as const, field: "window.items" },
        { open: openFrame(STREAMS.items, { window: { items: 10, bytes: 0 } }), code: "invalid_argument" as const, field: "window.bytes" },
        { open: openFrame(STREAMS.items, { params: { nope: 1 } }), code: "invalid_argument" as const, field: "params.nope" },
      ];
      for (const { open, code, field } of cases) {
        const s = session(context, open);
        try {
          const opened = await s.start();
          expectThat(opened === undefined, `${JSON.stringify({ stream: open.stream, window: open.window, params: open.params })} was accepted`);
          expectError(s.error, code, { retryable: false, ...(field ? { field } : {}) });
          await s.readToEnd();
        } finally {
          s.raw.close();
        }
      }
    },
  },
  {
    title: "ends the session with PROTOCOL_VIOLATION for a second Open and an Ack beyond what it sent",
    spec: "§3.1, §7.1, §11.1",
    async run(context) {
      for (const bad of [openFrame(STREAMS.items), { type: "ack" as const, seq: 1_000_000 }]) {
        await withSession(context, openFrame(STREAMS.items, { window: { items: 5, bytes: 1 << 20 } }), async (s) => {
          s.send(bad);
          expectError(await s.readUntil((f) => f.type === "error" || f.type === "end"), "protocol_violation", { retryable: false });
        });
      }
    },
  },
  {
    title: "ends the session with CREDIT_VIOLATION for credit beyond what was sent plus the window",
    spec: "§4.7",
    async run(context) {
      await withSession(context, openFrame(STREAMS.items, { window: { items: 5, bytes: 1 << 20 } }), async (s) => {
        await s.readUntil(() => s.receivedSeq >= 5);
        s.send({ type: "credit", maxSeq: 1_000, maxBytes: 1 << 20 });
        expectError(await s.readUntil((f) => f.type === "error" || f.type === "end"), "credit_violation", { retryable: false });
      });
    },
  },
  {
    title: "delivers live items within 250 ms of their making (flush deadline, not heartbeat)",
    spec: "§5.1",
    async run(context) {
      await withSession(context, openFrame(STREAMS.ticks), async (s) => {
        const lags: number[] = [];
        let seen = 0;
        while (lags.length < 20) {
          s.grantAll();
          await s.next(2_000);
          for (; seen < s.items.length; seen++) {
            const { data, at } = s.items[seen]!;
            const made = (JSON.parse(new TextDecoder().decode(data)) as { at?: number }).at;
            expectThat(typeof made === "number", `${STREAMS.ticks} items must be JSON {"at": ms since the epoch}`);
            lags.push(performance.timeOrigin + at - made);
          }
        }
        const worst = Math.max(...lags);
        expectThat(worst < 250, `an item took ${Math.round(worst)} ms to arrive (items wait for the flush deadline, a few ms)`);
        s.send({ type: "cancel", reason: "done" });
        await s.readToEnd();
      });
    },
  },
  {
    title: "continues an expired topic position with a HISTORY_EXPIRED gap, or refuses it with RESUME_POSITION_LOST, as the topic's policy says",
    spec: "§7.6, §7.7",
    codecs: ["binary"],
    async run(context) {
      for (const [stream, policy] of [
        [STREAMS.topic, "gap"],
        [STREAMS.topicStrict, "fail"],
      ] as const) {
        let head = 0;
        await withSession(context, openFrame(stream), async (s) => {
          head = s.opened!.nextSeq;
          s.send({ type: "cancel", reason: "done" });
          await s.readToEnd();
        });
        // The topics keep 50 items and are published to often: wait until the position is gone.
        await sleep(1_500);
        const s = session(context, openFrame(stream, { resume: { seq: head, cursor: new Uint8Array(), cursorSeq: 0, sessionId: "" } }));
        try {
          const opened = await s.start();
          if (policy === "fail") {
            expectThat(opened === undefined, `${stream}: an expired position was accepted`);
            expectError(s.error, "resume_position_lost", { retryable: false });
          } else {
            expectThat(opened !== undefined, `${stream}: the expired position was refused: ${s.error?.code}`);
            const gap = opened.resume?.gap;
            expectThat(gap?.reason === "history_expired" && gap.fromSeq === head + 1, `${stream}: no history_expired gap from ${head + 1} in ${JSON.stringify(opened.resume)}`);
            s.send({ type: "cancel", reason: "done" });
            await s.readToEnd();
          }
        } finally {
          s.raw.close();
        }
      }
    },
  },
];
