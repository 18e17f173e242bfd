/**
 * The shapes of the conformance vectors (PROTOCOL.md §12,
 * proto/vectors/README.md), as written in TypeScript before write-vectors.ts
 * renders them to JSON with each frame's protobuf JSON form and hex.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ClientFrame, DeadLetter, IngestFrame, JsonObject, Limits, Priority, PublishFrame, ResumeResult, ServerFrame, Window } from "@sluice/core";
import type { WebSocketFrameSchema } from "@sluice/protocol/ws";

export interface ReceiverConfig {
  readonly stream: string;
  readonly params: JsonObject;
  /** The window the Open asks for (absent: the stream's default). */
  readonly window?: Window;
  readonly maxItemBytes?: number;
  readonly ackEveryItems: number;
  readonly ackDelayMs: number;
  /** Used until Opened announces the session's values. */
  readonly heartbeat: { readonly intervalMs: number; readonly timeoutMs: number };
  readonly heartbeatIntervalMs: number;
  readonly clientInfo: string;
  /** "read": the app processes (acks) each item as it reads it; "explicit": only at `ack` steps. */
  readonly app: "read" | "explicit";
}

export type ReceiverStep =
  | { readonly at: number; readonly connect: true }
  | { readonly at: number; readonly frame: ServerFrame }
  | { readonly at: number; readonly timeout: true }
  | { readonly at: number; readonly lost: true }
  | { readonly at: number; readonly ack: number }
  /** The app cancels the stream. */
  | { readonly at: number; readonly cancel: string };

export interface Delivered {
  readonly seq: number;
  readonly data: Uint8Array;
}

export interface ReceiverVector {
  readonly name: string;
  readonly description: string;
  readonly peer: "receiver";
  readonly receiver: ReceiverConfig;
  readonly steps: readonly ReceiverStep[];
  readonly expect: {
    readonly outcome: "ok" | "error";
    readonly delivered: readonly Delivered[];
    readonly gaps?: readonly { fromSeq: number; count: number; reason?: string }[];
    readonly ended?: boolean;
    /** For outcome error: the code, and whether the session was lost (retryable) or the stream failed. */
    readonly code?: string;
    readonly retryable?: boolean;
    /** Every client frame the receiver sent, with the time of the step that made it. */
    readonly transmitted: readonly { at: number; frame: ClientFrame }[];
  };
}

export type SourceEntry = Uint8Array | { readonly gap: number; readonly reason: "dropped_oldest" | "dropped_newest" | "history_expired" | "restarted" | "unspecified" };

export interface SenderVector {
  readonly name: string;
  readonly description: string;
  readonly peer: "sender";
  readonly sender: {
    readonly limits: Limits;
    readonly chunk: { readonly maxItems: number; readonly maxBytes: number; readonly flushDelayMs: number };
    readonly defaultWindow?: Window;
    readonly stallTimeoutMs?: number;
    readonly yieldTimeoutMs?: number;
  };
  /** What the server's stream resolution answers an Open with. */
  readonly accept: { readonly sessionId: string; readonly sessionSecret: Uint8Array; readonly nextSeq: number; readonly contentType: string; readonly resume?: ResumeResult };
  /** Entries the source has from the start, pushed while the sender has demand. */
  readonly source: readonly SourceEntry[];
  /** Whether the source ends after its entries (default true). */
  readonly sourceEnds?: boolean;
  readonly steps: readonly ({ readonly at: number; readonly frame: ClientFrame } | { readonly at: number; readonly timeout: true } | { readonly at: number; readonly item: Uint8Array })[];
  /** The frames sent; with outcome "error" the last is the Error, compared on code, retryable, retry-after and field. */
  readonly expect: { readonly outcome: "ok" | "error"; readonly transmitted: readonly { at: number; frame: ServerFrame }[] };
}

export interface ControlVector {
  readonly name: string;
  readonly description: string;
  readonly peer: "control";
  /** The stream the session opens: items "1" .. "N" as text. */
  readonly stream: { readonly name: string; readonly items: number };
  readonly open: ClientFrame & { type: "open" };
  readonly steps: readonly ControlStep[];
  /** The response stream after Opened, each frame matched on the fields given. */
  readonly response: readonly Partial<Record<string, unknown>>[];
}

export type ControlStep =
  | {
      /** The session's own id and secret, or another ("unknown" id, "wrong" secret). */
      readonly sessionId: "session" | "unknown";
      readonly secret: "session" | "wrong";
      readonly frames?: readonly ClientFrame[];
      /** Wire frames given as raw ClientFrame bytes (hex), for frames no codec would produce. */
      readonly rawFrames?: readonly Uint8Array[];
      /** Repeat `frames` this many times (a call over the frame limit). */
      readonly repeat?: number;
      readonly answer: { readonly ok: true } | { readonly code: string; readonly message: string };
    }
  /** Waits until a response frame matching these fields has arrived. */
  | { readonly waitFor: Partial<Record<string, unknown>> };

export type WebSocketFrameInit = MessageInitShape<typeof WebSocketFrameSchema>;

export type WebSocketMessage =
  | { readonly frame: WebSocketFrameInit }
  | { readonly text: string }
  | { readonly raw: Uint8Array }
  /** A CallData frame with `size` zero bytes (too large to spell out). */
  | { readonly dataZeros: { readonly callId: number; readonly size: number } };

export interface WebSocketVector {
  readonly name: string;
  readonly description: string;
  readonly peer: "websocket";
  readonly server: { readonly maxCallsPerSocket?: number };
  readonly send: readonly WebSocketMessage[];
  readonly expect:
    | { readonly close: { readonly code: number; readonly reason: string } }
    /** The socket stays open; these frames (exact) arrive, in order, among any others. */
    | { readonly open: true; readonly received: readonly WebSocketFrameInit[] };
}

/** A publisher's session (PROTOCOL.md §3.4): what its PublishOpen says and how it chunks. */
export interface PublisherConfig {
  readonly stream: string;
  readonly publisherId: string;
  /** The highest seq the publisher knows was acked (PublishOpen.resume_after_seq). */
  readonly resumeAfterSeq: number;
  /** Asked for in PublishOpen; 0 lets the server choose. */
  readonly heartbeatIntervalMs: number;
  readonly chunk: { readonly maxItems: number; readonly maxBytes: number; readonly flushDelayMs: number };
}

export type PublisherStep =
  /** The publisher starts a session (sends PublishOpen). */
  | { readonly at: number; readonly connect: true }
  /** A server frame (PublishResponse) arrives. */
  | { readonly at: number; readonly frame: IngestFrame }
  /** The application hands over one item (absent priority: NORMAL); it goes out when credit lets it. */
  | { readonly at: number; readonly push: Uint8Array; readonly priority?: Priority }
  /** The application has no more items: End follows the last one. */
  | { readonly at: number; readonly end: true }
  | { readonly at: number; readonly timeout: true }
  | { readonly at: number; readonly lost: true };

export interface PublisherVector {
  readonly name: string;
  readonly description: string;
  readonly peer: "publisher";
  readonly publisher: PublisherConfig;
  readonly steps: readonly PublisherStep[];
  readonly expect: {
    readonly outcome: "ok" | "error";
    /** For outcome ok: whether the session closed cleanly (the server's End after every item was acked). */
    readonly closed?: boolean;
    /** For outcome error: the code (absent: PROTOCOL.md names none), retryability and field (absent: not checked). */
    readonly code?: string;
    readonly retryable?: boolean;
    readonly field?: string;
    /** Every further ack the publisher took, in order, with the dead letters it reports (each once). */
    readonly acked: readonly { readonly seq: number; readonly deadLetters: readonly DeadLetter[] }[];
    /** Every PublishFrame the publisher sent, with the time of the step that made it. */
    readonly transmitted: readonly { at: number; frame: PublishFrame }[];
  };
}

export interface IngestConfig {
  /** The limits Opened announces (heartbeat negotiated from PublishOpen, §6). */
  readonly limits: Limits;
  /** The window the server grants publishers (clamped to the limits), unless `accept` names one. */
  readonly window: Window;
  readonly ackEveryItems: number;
  readonly ackDelayMs: number;
}

export type IngestStep =
  /** A publisher frame (PublishRequest) arrives. */
  | { readonly at: number; readonly frame: PublishFrame }
  /** Raw PublishRequest bytes no codec would produce. */
  | { readonly at: number; readonly raw: Uint8Array }
  /** The server resolved the PublishOpen: the session's id, the publisher's next seq, its dead letters on record, the stream's window. */
  | { readonly at: number; readonly accept: { readonly sessionId: string; readonly nextSeq: number; readonly deadLetters?: readonly DeadLetter[]; readonly window?: Window } }
  /** The sink takes up to `read` items that arrived and were not taken yet. */
  | { readonly at: number; readonly read: number }
  /** The sink accepted every item taken up to this seq. */
  | { readonly at: number; readonly accepted: number }
  /** The sink refused the next unreported item into the stream (dropped: the ingest queue dropped it). */
  | { readonly at: number; readonly deadLettered: DeadLetter }
  | { readonly at: number; readonly timeout: true };

export interface IngestVector {
  readonly name: string;
  readonly description: string;
  readonly peer: "ingest";
  readonly ingest: IngestConfig;
  readonly steps: readonly IngestStep[];
  readonly expect: {
    readonly outcome: "ok" | "error";
    /** For outcome error: the code and retryability of the Error the session ends with. */
    readonly code?: string;
    readonly retryable?: boolean;
    /** The items the sink took, with the priority of their chunk. */
    readonly read: readonly { readonly seq: number; readonly data: Uint8Array; readonly priority: Priority }[];
    /** Every PublishResponse frame sent; with outcome "error" the last is the Error, compared on code, retryable, retry-after and field. */
    readonly transmitted: readonly { at: number; frame: IngestFrame }[];
  };
}

export type Vector = ReceiverVector | SenderVector | ControlVector | WebSocketVector | PublisherVector | IngestVector;
