/**
 * One Sluice session spoken by hand in any mode (PROTOCOL.md §3): full
 * duplex over HTTP/2 or WebSocket (every client frame on the Subscribe
 * call), or half duplex over HTTP/1.1 (Open in SubscribeHalfDuplex, later
 * frames in Control calls, one in flight at a time, in order).
 */
import type http from "node:http";
import type { ClientFrame, OpenedFrame, OpenFrame } from "@sluice/core";
import type { CallEnd, RawCall } from "./call.js";
import type { Codec } from "./codec.js";
import { openH2Call } from "./h2-call.js";
import { controlCall, http1Agent, openHalfDuplexCall, type UnaryResult } from "./http1-call.js";
import type { Received } from "./inbox.js";
import { WsSocket } from "./ws-call.js";

/** How a session travels: full duplex over HTTP/2 or WebSocket, or half duplex over HTTP/1.1. */
export type Mode = "http2" | "http1.1" | "websocket";
/** Every mode, in the order the runner checks them. */
export const MODES: readonly Mode[] = ["http2", "http1.1", "websocket"];
/** Every codec a server must accept (PROTOCOL.md §3.5). */
export const CODECS: readonly Codec[] = ["binary", "json"];

/** The path of the full-duplex Subscribe RPC. */
export const SUBSCRIBE_PATH = "/sluice.v1.SubscribeService/Subscribe";

/** The server under test: where it is, and the credentials and trust to reach it with. */
export interface Target {
  /** http(s)://host:port of the server. */
  readonly baseUrl: string;
  /** Where Connect over WebSocket is served (default: baseUrl's host, path /connect). */
  readonly websocketUrl?: string;
  /** Extra request headers (credentials). */
  readonly headers?: Record<string, string>;
  /** Accept any certificate (a test server's own). */
  readonly insecure?: boolean;
}

/** Where `target` serves Connect over WebSocket: its websocketUrl, else ws(s)://host/connect. */
export function websocketUrlOf(target: Target): string {
  if (target.websocketUrl) return target.websocketUrl;
  const url = new URL(target.baseUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = `${url.pathname.replace(/\/$/, "")}/connect`;
  return url.toString();
}

/**
 * One Sluice session spoken by hand in any mode and codec: the runner's client,
 * with nothing of @sluice/core's receiver in it.
 */
export class RawSession {
  /** The mode this session runs in. */
  readonly mode: Mode;
  /** The codec of its calls. */
  readonly codec: Codec;
  readonly #target: Target;
  #call: RawCall | undefined;
  #socket: WsSocket | undefined;
  #agent: http.Agent | undefined;
  /** The session's Opened, once next() returned it. */
  opened: OpenedFrame | undefined;
  /** Half duplex: every Control call made by send(), in order. */
  readonly controlResults: UnaryResult[] = [];
  #queued: ClientFrame[] = [];
  #sending: Promise<void> | undefined;
  #endedPromise: Promise<CallEnd> | undefined;

  constructor(target: Target, mode: Mode, codec: Codec) {
    this.#target = target;
    this.mode = mode;
    this.codec = codec;
  }

  /** Opens the call: Open goes first, on every mode. */
  async open(open: OpenFrame): Promise<void> {
    const target = this.#target;
    const common = { baseUrl: target.baseUrl, codec: this.codec, ...(target.headers ? { headers: target.headers } : {}), ...(target.insecure ? { insecure: true } : {}) };
    if (this.mode === "http2") {
      this.#call = openH2Call({ ...common, path: SUBSCRIBE_PATH });
      this.#call.sendFrame(open);
    } else if (this.mode === "websocket") {
      this.#socket = new WsSocket({ url: websocketUrlOf(target), ...(target.insecure ? { insecure: true } : {}) });
      await this.#socket.opened;
      this.#call = this.#socket.call(SUBSCRIBE_PATH, this.codec, target.headers);
      this.#call.sendFrame(open);
    } else {
      this.#agent = http1Agent(common);
      this.#call = openHalfDuplexCall(common, this.#agent, open);
    }
    this.#endedPromise = this.#call.ended;
  }

  /** The socket of a WebSocket session (its frames and close code). */
  get socket(): WsSocket | undefined {
    return this.#socket;
  }

  /** A later client frame: on the stream (full duplex) or in a Control call (half duplex). */
  send(frame: ClientFrame): void {
    if (!this.#call) throw new Error("open() first");
    if (this.mode !== "http1.1") return this.#call.sendFrame(frame);
    this.#queued.push(frame);
    this.#flush();
  }

  /** Raw bytes on the request stream (full duplex only). */
  sendBytes(bytes: Uint8Array): void {
    this.#call!.sendBytes(bytes);
  }

  /** Resolves once every queued Control call has been answered (half duplex). */
  async settled(): Promise<void> {
    while (this.#sending) await this.#sending;
  }

  /** One Control call by hand; `override` changes what send() would put in it. */
  control(frames: readonly ClientFrame[], override: { sessionId?: string; sessionSecret?: Uint8Array; rawBody?: Uint8Array } = {}): Promise<UnaryResult> {
    const common = { baseUrl: this.#target.baseUrl, codec: this.codec, ...(this.#target.headers ? { headers: this.#target.headers } : {}), ...(this.#target.insecure ? { insecure: true } : {}) };
    this.#agent ??= http1Agent(common);
    const sessionId = override.sessionId ?? this.opened?.sessionId ?? "";
    const secret = override.sessionSecret ?? this.opened?.sessionSecret ?? new Uint8Array();
    return controlCall(common, this.#agent, sessionId, secret, frames, override.rawBody);
  }

  /** The next server frame; Opened is remembered (and releases queued Control frames). */
  async next(timeoutMs = 5_000): Promise<Received | undefined> {
    const received = await this.#call!.next(timeoutMs);
    if (received?.frame.type === "opened" && !this.opened) {
      this.opened = received.frame;
      this.#flush();
    }
    return received;
  }

  /** Settles when the session's call is over, with how it ended (after open()). */
  get ended(): Promise<CallEnd> {
    return this.#endedPromise!;
  }

  /** Ends the request side of a full-duplex call (nothing to do in half duplex). */
  halfClose(): void {
    if (this.mode !== "http1.1") this.#call?.halfClose();
  }

  /** Cuts the connection under the session. */
  cut(): void {
    this.#call?.cut();
  }

  /** Tears everything down: the call, the socket and the keep-alive agent. */
  close(): void {
    this.#call?.cut();
    this.#socket?.close();
    this.#agent?.destroy();
  }

  #flush(): void {
    if (this.#sending || !this.opened || this.#queued.length === 0) return;
    this.#sending = (async () => {
      try {
        while (this.#queued.length > 0) {
          const frames = this.#queued;
          this.#queued = [];
          this.controlResults.push(await this.control(frames));
        }
      } catch (error) {
        this.controlResults.push({ status: 0, body: String(error) });
      } finally {
        this.#sending = undefined;
      }
    })();
  }
}
