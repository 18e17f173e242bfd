/**
 * Control vectors (PROTOCOL.md §3.3): a server's half-duplex session registry
 * under test. The session opens `stream` (items "1".."N") with SubscribeHalfDuplex;
 * each step is one Control call with the session's own id and secret or
 * another, and the answer it must get; `waitFor` steps wait until a frame
 * matching the given fields has arrived on the response stream. The response
 * stream must then carry the listed frames, each matched on the fields given.
 */
import { credit, ping } from "./common.js";
import type { ControlVector } from "./types.js";

const OPEN = { type: "open" as const, stream: "numbers", params: {}, window: { items: 2, bytes: 1024 }, heartbeatIntervalMs: 0, clientInfo: "vectors" };
const STREAM = { name: "numbers", items: 5 };
const NO_SESSION = { code: "permission_denied", message: "^no session with this id and secret$" };
const cancel = { type: "cancel" as const, reason: "done" };

export const CONTROL_VECTORS: ControlVector[] = [
  {
    name: "control-applies-frames",
    description: "Credit in a Control call is applied as on a full-duplex stream: items 3 and 4 follow; Cancel in the next call ends the session with End.",
    peer: "control",
    stream: STREAM,
    open: OPEN,
    steps: [
      { waitFor: { type: "chunk", firstSeq: 1 } },
      { sessionId: "session", secret: "session", frames: [credit(4, 1026)], answer: { ok: true } },
      { waitFor: { type: "chunk", firstSeq: 3 } },
      { sessionId: "session", secret: "session", frames: [cancel], answer: { ok: true } },
    ],
    response: [{ type: "opened", nextSeq: 1 }, { type: "chunk", firstSeq: 1 }, { type: "chunk", firstSeq: 3 }, { type: "end", lastSeq: 4 }],
  },
  {
    name: "control-wrong-secret",
    description: "A Control call with a wrong secret is refused with permission_denied and leaves the session untouched; the right secret then cancels it.",
    peer: "control",
    stream: STREAM,
    open: OPEN,
    steps: [
      { waitFor: { type: "chunk", firstSeq: 1 } },
      { sessionId: "session", secret: "wrong", frames: [cancel], answer: NO_SESSION },
      { sessionId: "session", secret: "session", frames: [cancel], answer: { ok: true } },
    ],
    response: [{ type: "opened" }, { type: "chunk", firstSeq: 1 }, { type: "end", lastSeq: 2 }],
  },
  {
    name: "control-unknown-session",
    description: "A Control call naming no session gets the same permission_denied as a wrong secret, so session ids cannot be probed.",
    peer: "control",
    stream: STREAM,
    open: OPEN,
    steps: [
      { waitFor: { type: "chunk", firstSeq: 1 } },
      { sessionId: "unknown", secret: "session", frames: [cancel], answer: NO_SESSION },
      { sessionId: "session", secret: "session", frames: [cancel], answer: { ok: true } },
    ],
    response: [{ type: "opened" }, { type: "chunk", firstSeq: 1 }, { type: "end", lastSeq: 2 }],
  },
  {
    name: "control-open-in-frames",
    description: "Open inside a Control call: the call succeeds, and the session ends with Error protocol_violation on the response stream.",
    peer: "control",
    stream: STREAM,
    open: OPEN,
    steps: [{ waitFor: { type: "opened" } }, { sessionId: "session", secret: "session", frames: [OPEN], answer: { ok: true } }],
    response: [{ type: "opened" }, { type: "chunk", firstSeq: 1 }, { type: "error", code: "protocol_violation" }],
  },
  {
    name: "control-undecodable-frame",
    description: "A Control call whose frame has no kind: the call fails with invalid_argument naming frames[0], and the session ends with Error protocol_violation.",
    peer: "control",
    stream: STREAM,
    open: OPEN,
    steps: [{ waitFor: { type: "chunk", firstSeq: 1 } }, { sessionId: "session", secret: "session", rawFrames: [new Uint8Array()], answer: { code: "invalid_argument", message: "^frames\\[0\\]: " } }],
    response: [{ type: "opened" }, { type: "chunk", firstSeq: 1 }, { type: "error", code: "protocol_violation" }],
  },
  {
    name: "control-too-many-frames",
    description: "257 frames in one Control call, over the limit of 256: resource_exhausted naming frames; none is applied and the session goes on.",
    peer: "control",
    stream: STREAM,
    open: OPEN,
    steps: [
      { waitFor: { type: "chunk", firstSeq: 1 } },
      { sessionId: "session", secret: "session", frames: [ping(1)], repeat: 257, answer: { code: "resource_exhausted", message: "^frames: " } },
      { sessionId: "session", secret: "session", frames: [cancel], answer: { ok: true } },
    ],
    response: [{ type: "opened" }, { type: "chunk", firstSeq: 1 }, { type: "end", lastSeq: 2 }],
  },
  {
    name: "control-after-end",
    description: "A Control call after the session's End: permission_denied (the server no longer knows the session, §3.3).",
    peer: "control",
    stream: { name: "numbers", items: 2 },
    // A window larger than the stream, so End needs no credit.
    open: { ...OPEN, window: { items: 10, bytes: 1024 } },
    steps: [{ waitFor: { type: "end" } }, { sessionId: "session", secret: "session", frames: [credit(4, 1026)], answer: NO_SESSION }],
    response: [{ type: "opened" }, { type: "chunk", firstSeq: 1 }, { type: "end", lastSeq: 2 }],
  },
  {
    name: "control-empty-call",
    description: "A Control call with no frames is accepted and does nothing.",
    peer: "control",
    stream: STREAM,
    open: OPEN,
    steps: [
      { waitFor: { type: "chunk", firstSeq: 1 } },
      { sessionId: "session", secret: "session", frames: [], answer: { ok: true } },
      { sessionId: "session", secret: "session", frames: [cancel], answer: { ok: true } },
    ],
    response: [{ type: "opened" }, { type: "chunk", firstSeq: 1 }, { type: "end", lastSeq: 2 }],
  },
];
