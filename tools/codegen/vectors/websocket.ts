/**
 * WebSocket vectors (PROTOCOL.md §14): a server's sluice.ws.v1 socket under
 * test, opened with the subprotocol. Each vector sends messages and expects
 * either the close code (and the start of its reason) the server must close
 * with, or frames it must answer with while the socket stays open, each
 * matched on the fields given.
 */
import type { WebSocketFrameInit, WebSocketVector } from "./types.js";

const SUBSCRIBE = "/sluice.v1.SubscribeService/Subscribe";
const start = (callId: number, path = SUBSCRIBE): WebSocketFrameInit => ({
  callId,
  kind: { case: "start", value: { path, headers: [{ name: "content-type", value: "application/connect+proto" }], windowBytes: 0 } },
});

export const WEBSOCKET_VECTORS: WebSocketVector[] = [
  {
    name: "websocket-text-message",
    description: "A text message: frames are binary; the socket closes with 1002.",
    peer: "websocket",
    server: {},
    send: [{ text: "hello" }],
    expect: { close: { code: 1002, reason: "text message" } },
  },
  {
    name: "websocket-undecodable",
    description: "Bytes that are no WebSocketFrame: 1002, malformed frame.",
    peer: "websocket",
    server: {},
    send: [{ raw: new Uint8Array([0xff, 0xff, 0xff, 0xff]) }],
    expect: { close: { code: 1002, reason: "malformed frame" } },
  },
  {
    name: "websocket-frame-without-kind",
    description: "A WebSocketFrame with no kind: 1002.",
    peer: "websocket",
    server: {},
    send: [{ frame: { callId: 1 } }],
    expect: { close: { code: 1002, reason: "frame without a kind" } },
  },
  {
    name: "websocket-call-id-reused",
    description: "A start reusing call id 1: 1002, ids strictly increase.",
    peer: "websocket",
    server: {},
    send: [{ frame: start(1) }, { frame: start(1) }],
    expect: { close: { code: 1002, reason: "call id 1 reused or out of order" } },
  },
  {
    name: "websocket-unknown-call-id",
    description: "Data for call 5, never started: 1002.",
    peer: "websocket",
    server: {},
    send: [{ frame: { callId: 5, kind: { case: "data", value: { data: new Uint8Array([1]) } } } }],
    expect: { close: { code: 1002, reason: "unknown call id 5" } },
  },
  {
    name: "websocket-head-from-client",
    description: "A head frame sent by the client: only the server sends heads; 1002.",
    peer: "websocket",
    server: {},
    send: [{ frame: start(1) }, { frame: { callId: 1, kind: { case: "head", value: { status: 200, headers: [] } } } }],
    expect: { close: { code: 1002, reason: "call head from the client" } },
  },
  {
    name: "websocket-second-half-close",
    description: "half_close twice on one call: 1002.",
    peer: "websocket",
    server: {},
    send: [{ frame: start(1) }, { frame: { callId: 1, kind: { case: "halfClose", value: {} } } }, { frame: { callId: 1, kind: { case: "halfClose", value: {} } } }],
    expect: { close: { code: 1002, reason: "second half-close on call 1" } },
  },
  {
    name: "websocket-window-overrun",
    description: "262 145 bytes of request data on a call whose request window is 262 144: 1002, window overrun.",
    peer: "websocket",
    server: {},
    send: [{ frame: start(1) }, { dataZeros: { callId: 1, size: 262_145 } }],
    expect: { close: { code: 1002, reason: "window overrun on call 1" } },
  },
  {
    name: "websocket-window-update-overflow",
    description: "A window_update taking the call's send window past 2^31 − 1: 1002.",
    peer: "websocket",
    server: {},
    send: [{ frame: start(1) }, { frame: { callId: 1, kind: { case: "windowUpdate", value: { bytes: 2_147_483_647 } } } }],
    expect: { close: { code: 1002, reason: "window overflow on call 1" } },
  },
  {
    name: "websocket-ping-pong",
    description: "A ping is answered with a pong carrying the same id; the socket stays open.",
    peer: "websocket",
    server: {},
    send: [{ frame: { kind: { case: "ping", value: { id: 7n } } } }],
    expect: { open: true, received: [{ kind: { case: "pong", value: { id: 7n } } }] },
  },
  {
    name: "websocket-unknown-path",
    description: "A call to a path no handler serves is answered head{404} then end{}, as over HTTP (Connect clients report unimplemented); the socket stays open.",
    peer: "websocket",
    server: {},
    send: [{ frame: start(1, "/nope.v1.Nothing/Here") }],
    expect: {
      open: true,
      received: [
        { callId: 1, kind: { case: "head", value: { status: 404 } } },
        { callId: 1, kind: { case: "end", value: {} } },
      ],
    },
  },
  {
    name: "websocket-too-many-calls",
    description: "With a limit of 1 call per socket, a second start is refused with cancel{code 8 resource_exhausted}; the socket stays open.",
    peer: "websocket",
    server: { maxCallsPerSocket: 1 },
    send: [{ frame: start(1) }, { frame: start(2) }],
    expect: { open: true, received: [{ callId: 2, kind: { case: "cancel", value: { code: 8, reason: "too many concurrent calls on this socket (limit 1)" } } }] },
  },
];
