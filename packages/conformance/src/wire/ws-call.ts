/**
 * A raw sluice.ws.v1 client (PROTOCOL.md §14) over `ws`: one socket, calls
 * started by hand, every frame the server sends recorded, so the runner can
 * check the framing (windows, GoAway, close codes) as well as the Sluice
 * session inside.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import type { ClientFrame } from "@sluice/core";
import { encodeEnvelope, EnvelopeReader, ENVELOPE_FLAG_END_STREAM } from "@sluice/protocol";
import { WebSocketFrameSchema, type WebSocketFrame } from "@sluice/protocol/ws";
import { WebSocket } from "ws";
import { parseEndStream, type CallEnd, type RawCall } from "./call.js";
import { decodeServerFrameMessage, encodeSubscribeRequest, streamContentType, type Codec } from "./codec.js";
import { Inbox, type Received } from "./inbox.js";

/** The subprotocol of Connect over WebSocket (PROTOCOL.md §14.1). */
export const WEBSOCKET_SUBPROTOCOL = "sluice.ws.v1";
/** What this client grants each call's response (bytes). */
const RECEIVE_WINDOW = 4 << 20;

type FrameKind = NonNullable<MessageInitShape<typeof WebSocketFrameSchema>["kind"]>;

/** Where a {@link WsSocket} connects and how it behaves. */
export interface WsSocketOptions {
  /** The ws: or wss: URL to open. */
  readonly url: string;
  /** Accept any certificate (a test server's own). */
  readonly insecure?: boolean;
  /** The subprotocols to offer (default: sluice.ws.v1). */
  readonly protocols?: string[];
  /** Return window as data arrives (default true; false: a reader that never reads). */
  readonly grantWindow?: boolean;
}

/** One WebSocket, as the runner sees it. */
export class WsSocket {
  /** The underlying `ws` socket. */
  readonly socket: WebSocket;
  /** Settles when the socket opened; rejects when the upgrade failed or was refused. */
  readonly opened: Promise<void>;
  /** Every frame the server sent, in order. */
  readonly received: WebSocketFrame[] = [];
  /** The close code and reason, once closed. */
  readonly closed: Promise<{
    /** The close code (1006 when the connection dropped without one). */
    code: number;
    /** The close reason, as text. */
    reason: string;
  }>;
  #nextCallId = 1;
  readonly #calls = new Map<number, (frame: WebSocketFrame) => void>();
  readonly #grantWindow: boolean;

  constructor(options: WsSocketOptions) {
    this.#grantWindow = options.grantWindow ?? true;
    this.socket = new WebSocket(options.url, options.protocols ?? [WEBSOCKET_SUBPROTOCOL], options.insecure ? { rejectUnauthorized: false } : {});
    this.socket.binaryType = "nodebuffer";
    this.opened = new Promise<void>((resolve, reject) => {
      this.socket.once("open", () => resolve());
      this.socket.once("error", reject);
      this.socket.once("unexpected-response", (_request, response) => reject(new Error(`websocket upgrade answered ${response.statusCode}`)));
    });
    this.opened.catch(() => undefined);
    this.closed = new Promise((resolve) => this.socket.once("close", (code, reason) => resolve({ code, reason: reason.toString("utf8") })));
    this.socket.on("error", () => undefined);
    this.socket.on("message", (data: Buffer) => {
      const frame = fromBinary(WebSocketFrameSchema, data);
      this.received.push(frame);
      if (frame.kind.case === "ping") this.send(0, { case: "pong", value: { id: frame.kind.value.id } });
      this.#calls.get(frame.callId)?.(frame);
    });
  }

  /** The subprotocol the server chose ("" when none). */
  get protocol(): string {
    return this.socket.protocol;
  }

  /** Sends one WebSocketFrame for `callId` (0: the socket itself), if the socket is open. */
  send(callId: number, kind: FrameKind): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(toBinary(WebSocketFrameSchema, create(WebSocketFrameSchema, { callId, kind })));
  }

  /** Sends bytes that are not a frame at all (hostile input). */
  sendRaw(data: Uint8Array | string): void {
    this.socket.send(data);
  }

  /** Starts a Connect streaming call on the next call id. */
  call(path: string, codec: Codec, headers: Record<string, string> = {}, maxMessageBytes = 64 << 20): RawCall & {
    /** The call id it was started with. */
    readonly id: number;
  } {
    const id = this.#nextCallId++;
    const inbox = new Inbox();
    const reader = new EnvelopeReader(maxMessageBytes);
    const halfDuplex = path.endsWith("/SubscribeHalfDuplex");
    let status = 0;
    let endStream: { error?: { code: string; message: string } } | undefined;
    let consumed = 0;
    let resolveEnd!: (end: CallEnd) => void;
    let settled = false;
    const ended = new Promise<CallEnd>((resolve) => (resolveEnd = resolve));
    const finish = (transport: string) => {
      if (settled) return;
      settled = true;
      this.#calls.delete(id);
      inbox.end();
      resolveEnd({ status, endStream: endStream !== undefined, ...(endStream?.error ? { error: endStream.error } : {}), transport });
    };
    this.#calls.set(id, (frame) => {
      const kind = frame.kind;
      switch (kind.case) {
        case "head":
          status = kind.value.status;
          return;
        case "data": {
          reader.push(kind.value.data);
          consumed += kind.value.data.byteLength;
          if (this.#grantWindow && consumed >= RECEIVE_WINDOW / 2) {
            this.send(id, { case: "windowUpdate", value: { bytes: consumed } });
            consumed = 0;
          }
          try {
            for (let envelope = reader.next(); envelope; envelope = reader.next()) {
              if (envelope.flags & ENVELOPE_FLAG_END_STREAM) endStream = parseEndStream(envelope.data);
              else inbox.push(decodeServerFrameMessage(envelope.data, codec, halfDuplex), envelope.data.byteLength);
            }
          } catch (error) {
            inbox.end(error as Error);
          }
          return;
        }
        case "end":
          return finish(reader.atBoundary ? "clean" : "truncated body");
        case "cancel":
          return finish(`cancelled by the server (code ${kind.value.code}: ${kind.value.reason})`);
        default:
          return;
      }
    });
    void this.closed.then(({ code, reason }) => finish(`socket closed (${code}${reason ? ` ${reason}` : ""})`));
    this.send(id, { case: "start", value: { path, windowBytes: RECEIVE_WINDOW, headers: Object.entries({ "content-type": streamContentType(codec), "connect-protocol-version": "1", ...headers }).map(([name, value]) => ({ name, value })) } });
    return {
      id,
      sendFrame: (frame: ClientFrame) => this.send(id, { case: "data", value: { data: encodeEnvelope(0, encodeSubscribeRequest(frame, codec)) } }),
      sendBytes: (bytes) => this.send(id, { case: "data", value: { data: bytes } }),
      halfClose: () => this.send(id, { case: "halfClose", value: {} }),
      next: (timeoutMs = 5_000): Promise<Received | undefined> => inbox.next(timeoutMs),
      ended,
      cut: () => this.socket.terminate(),
    };
  }

  /** Drops the socket at once (no close handshake). */
  close(): void {
    this.socket.terminate();
  }
}
