/**
 * A receiver that checks every rule of PROTOCOL.md a server must keep, frame
 * by frame, as the frames arrive on the wire. It is written from the
 * document alone (it shares no code with @sluice/core), so a server and the
 * core agreeing on a wrong rule still fails here. The checks hand it the
 * credit to grant and read the frames it accepted.
 */
import type { ChunkFrame, ClientFrame, OpenedFrame, OpenFrame, ServerFrame, Window } from "@sluice/core";
import type { Received } from "./wire/inbox.js";
import type { RawSession } from "./wire/raw-session.js";

/** A rule the server broke, with what it did. */
export class Violation extends Error {
  /** Always "Violation". */
  override readonly name = "Violation";
}

export interface StrictOptions {
  /** Frames arriving later than this (ms) fail the check. */
  readonly frameTimeoutMs?: number;
  /** Answer the server's pings (default true; false: a silent client). */
  readonly answerPings?: boolean;
}

/**
 * A session whose every server frame is checked against PROTOCOL.md as it arrives;
 * a broken rule throws a {@link Violation}. Checks drive it and read what it
 * accepted.
 */
export class StrictSession {
  /** The raw session the frames travel on. */
  readonly raw: RawSession;
  /** The Open this session sends. */
  readonly open: OpenFrame;
  /** The server's Opened, once it arrived. */
  opened: OpenedFrame | undefined;
  /** The window in force (Opened.window), once Opened arrived. */
  window: Window | undefined;
  /** The credit granted so far (absolute, §4.2/§4.4). */
  grantedSeq = 0;
  /** Byte credit granted so far (absolute). */
  grantedBytes = 0;
  /** What arrived: highest seq (items and gaps), payload bytes of this session. */
  receivedSeq = 0;
  /** Payload bytes received in this session. */
  receivedBytes = 0;
  /** Whole items in order: seq → payload. */
  readonly items: {
    /** The item's seq. */
    seq: number;
    /** Its payload, reassembled when it came in fragments. */
    data: Uint8Array;
    /** performance.now() when it arrived whole. */
    at: number;
  }[] = [];
  /** Gaps in order: on chunks, and in the ResumeResult. */
  readonly gaps: {
    /** First skipped seq. */
    fromSeq: number;
    /** How many seqs were skipped. */
    count: number;
    /** The gap's reason. */
    reason: string;
  }[] = [];
  /** The last non-empty chunk cursor, with the seq it belongs to. */
  cursor:
    | {
        /** The seq of the chunk's last complete item. */
        seq: number;
        /** The cursor. */
        cursor: Uint8Array;
      }
    | undefined;
  /** Server pings seen (ids) and pongs to our pings. */
  readonly pings: {
    /** The ping's id. */
    id: number;
    /** performance.now() when it arrived. */
    at: number;
  }[] = [];
  /** Pongs the server sent, in order. */
  readonly pongs: {
    /** The id of the ping it answers. */
    id: number;
    /** performance.now() when it arrived. */
    at: number;
  }[] = [];
  /** The End frame, once it arrived. */
  ended: Extract<ServerFrame, { type: "end" }> | undefined;
  /** The Error frame, once it arrived. */
  error: Extract<ServerFrame, { type: "error" }> | undefined;
  /** Every frame, in order. */
  readonly frames: Received[] = [];
  #partial: { seq: number; total: number; parts: Uint8Array[]; have: number } | undefined;
  readonly #timeoutMs: number;
  readonly #answerPings: boolean;

  constructor(raw: RawSession, open: OpenFrame, options: StrictOptions = {}) {
    this.raw = raw;
    this.open = open;
    this.#timeoutMs = options.frameTimeoutMs ?? 5_000;
    this.#answerPings = options.answerPings ?? true;
  }

  /** Opens the session and reads until Opened (or the refusal). */
  async start(): Promise<OpenedFrame | undefined> {
    await this.raw.open(this.open);
    const first = await this.next();
    if (!first) throw new Violation("the response ended before any frame");
    if (first.frame.type === "error") return undefined;
    if (first.frame.type !== "opened") throw new Violation(`first frame is ${first.frame.type}, not opened (§3.1)`);
    return first.frame;
  }

  /** The next frame, checked; undefined at the end of the response. */
  async next(timeoutMs = this.#timeoutMs): Promise<Received | undefined> {
    const received = await this.raw.next(timeoutMs);
    if (!received) return undefined;
    this.frames.push(received);
    this.#check(received);
    return received;
  }

  /** Reads until `done` holds for a frame, or the response ends. */
  async readUntil(done: (frame: ServerFrame) => boolean, timeoutMs = this.#timeoutMs): Promise<ServerFrame | undefined> {
    for (;;) {
      const r = await this.next(timeoutMs);
      if (!r) return undefined;
      if (done(r.frame)) return r.frame;
    }
  }

  /** Reads the rest of the response, answering pings, granting nothing. */
  async readToEnd(timeoutMs = this.#timeoutMs): Promise<void> {
    while (await this.next(timeoutMs));
  }

  /** Sends a client frame on the session (see RawSession.send). */
  send(frame: ClientFrame): void {
    this.raw.send(frame);
  }

  /** Grants credit as a receiver that consumed everything so far would (§4.5 rule 2). */
  grantAll(): void {
    if (!this.window) return;
    this.grant(this.receivedSeq + this.window.items, this.receivedBytes + this.window.bytes);
  }

  /** Sends Credit{maxSeq, maxBytes} and records it as granted. */
  grant(maxSeq: number, maxBytes: number): void {
    this.grantedSeq = Math.max(this.grantedSeq, maxSeq);
    this.grantedBytes = Math.max(this.grantedBytes, maxBytes);
    this.send({ type: "credit", maxSeq, maxBytes });
  }

  /** The resume position after everything received (for a resume check). */
  resumePosition(sessionId = this.opened?.sessionId ?? ""): NonNullable<OpenFrame["resume"]> {
    const seq = this.items.at(-1)?.seq ?? this.receivedSeq;
    const cursor = this.cursor && this.cursor.seq <= seq ? this.cursor : undefined;
    return { seq, cursor: cursor?.cursor ?? new Uint8Array(), cursorSeq: cursor?.seq ?? 0, sessionId };
  }

  #check(received: Received): void {
    const frame = received.frame;
    if (this.ended || this.error) throw new Violation(`${frame.type} after ${this.ended ? "End" : "Error"}: nothing follows them (§8)`);
    const limits = this.opened?.limits;
    if (limits && received.bytes > limits.maxFrameBytes) throw new Violation(`a ${frame.type} frame of ${received.bytes} bytes exceeds max_frame_bytes ${limits.maxFrameBytes} (§2, §5.1)`);
    switch (frame.type) {
      case "opened":
        return this.#onOpened(frame);
      case "chunk":
        if (!this.opened) throw new Violation("chunk before Opened (§3.1)");
        return this.#onChunk(frame);
      case "heartbeat":
        if (!this.opened) throw new Violation("heartbeat before Opened (§3.1, §6)");
        if (frame.ping !== 0) {
          this.pings.push({ id: frame.ping, at: received.at });
          // Answer at once, as every receiver must (§6).
          if (this.#answerPings) this.send({ type: "heartbeat", ping: 0, pong: frame.ping });
        }
        if (frame.pong !== 0) this.pongs.push({ id: frame.pong, at: received.at });
        return;
      case "end":
        if (!this.opened) throw new Violation("End before Opened (§3.1)");
        this.ended = frame;
        return this.#onEnd(frame);
      case "error":
        this.error = frame;
        return;
    }
  }

  #onOpened(opened: OpenedFrame): void {
    if (this.opened) throw new Violation("a second Opened (§11.2)");
    const { limits } = opened;
    if (!(limits.heartbeatIntervalMs > 0 && limits.heartbeatTimeoutMs > limits.heartbeatIntervalMs)) throw new Violation(`Opened.limits heartbeat ${limits.heartbeatIntervalMs} / ${limits.heartbeatTimeoutMs} ms: must be 0 < interval < timeout (§6)`);
    if (opened.sessionId === "") throw new Violation("Opened.session_id is empty (§3.1)");
    if (opened.sessionSecret.byteLength === 0) throw new Violation("Opened.session_secret is empty (§3.1)");
    const asked = this.open.window;
    const window = opened.window;
    if (!window) throw new Violation("Opened.window is missing (§4.1)");
    if (window.items < 1 || window.bytes < 1) throw new Violation(`Opened.window ${window.items} / ${window.bytes}: each must be >= 1 (§4.1)`);
    if (window.items > limits.maxWindowItems || window.bytes > limits.maxWindowBytes) throw new Violation(`Opened.window exceeds the announced limits (§4.1)`);
    if (asked && (window.items > asked.items || window.bytes > asked.bytes)) throw new Violation(`Opened.window ${window.items} / ${window.bytes} exceeds the requested ${asked.items} / ${asked.bytes} (§4.1)`);
    if (asked) {
      const expected = { items: Math.min(asked.items, limits.maxWindowItems), bytes: Math.min(asked.bytes, limits.maxWindowBytes) };
      if (window.items !== expected.items || window.bytes !== expected.bytes) throw new Violation(`Opened.window ${window.items} / ${window.bytes}: the request clamped to the limits is ${expected.items} / ${expected.bytes} (§4.1)`);
    }
    const resume = this.open.resume;
    if (resume && !opened.resume) throw new Violation("Open had resume but Opened has no ResumeResult (§3.1, §7.7)");
    if (!resume && opened.resume) throw new Violation("Opened has a ResumeResult but the Open had no resume (§3.1)");
    if (resume && opened.resume) {
      const r = opened.resume;
      if (r.requestedSeq !== resume.seq) throw new Violation(`ResumeResult.requested_seq ${r.requestedSeq}, Open asked ${resume.seq} (§7.7)`);
      if (r.nextSeq !== opened.nextSeq) throw new Violation(`ResumeResult.next_seq ${r.nextSeq} differs from Opened.next_seq ${opened.nextSeq} (§7.7)`);
      if (opened.nextSeq !== resume.seq + 1) {
        const gap = r.gap;
        if (!gap || gap.fromSeq !== resume.seq + 1 || gap.fromSeq + gap.count !== opened.nextSeq) throw new Violation(`resumed at ${opened.nextSeq} after ${resume.seq} without a gap covering the seqs between (§7.6, §7.7)`);
        this.gaps.push({ fromSeq: gap.fromSeq, count: gap.count, reason: gap.reason });
      }
    }
    this.opened = opened;
    this.window = window;
    this.grantedSeq = opened.nextSeq - 1 + window.items;
    this.grantedBytes = window.bytes;
    this.receivedSeq = opened.nextSeq - 1;
  }

  #onChunk(chunk: ChunkFrame): void {
    const window = this.window!;
    const fragment = chunk.fragment;
    if (!fragment && chunk.items.length === 0 && !chunk.gap) throw new Violation(`empty chunk at seq ${chunk.firstSeq} (§5.2)`);
    const partial = this.#partial;
    if (partial) {
      if (!fragment || chunk.firstSeq !== partial.seq) throw new Violation(`chunk at seq ${chunk.firstSeq} between the fragments of item ${partial.seq} (§5.3)`);
      if (fragment.totalBytes !== partial.total || fragment.offset !== partial.have) throw new Violation(`fragment of item ${partial.seq} at offset ${fragment.offset} (total ${fragment.totalBytes}); expected offset ${partial.have} of ${partial.total} (§5.3)`);
      return this.#addFragment(chunk);
    }
    const expected = this.receivedSeq + 1;
    const gap = chunk.gap;
    if (gap) {
      if (gap.fromSeq + gap.count !== chunk.firstSeq) throw new Violation(`gap ${gap.fromSeq}+${gap.count} does not end right before first_seq ${chunk.firstSeq} (§5.2)`);
      if (gap.fromSeq !== expected) throw new Violation(`gap starts at ${gap.fromSeq}, expected ${expected} (§7.4)`);
      this.gaps.push({ fromSeq: gap.fromSeq, count: gap.count, reason: gap.reason });
      this.receivedSeq = chunk.firstSeq - 1;
    } else if (chunk.firstSeq !== expected) throw new Violation(`chunk starts at seq ${chunk.firstSeq}, expected ${expected} (a reliable transport loses nothing, §7.4)`);
    if (fragment) {
      if (fragment.offset !== 0) throw new Violation(`first fragment of item ${chunk.firstSeq} at offset ${fragment.offset} (§5.3)`);
      if (fragment.totalBytes > this.opened!.limits.maxItemBytes) throw new Violation(`item of ${fragment.totalBytes} bytes over max_item_bytes (§5.3)`);
      this.#beginItem(chunk.firstSeq, fragment.totalBytes, window);
      this.#partial = { seq: chunk.firstSeq, total: fragment.totalBytes, parts: [], have: 0 };
      return this.#addFragment(chunk);
    }
    if (chunk.cursor.byteLength > 0 && chunk.items.length === 0) throw new Violation("a gap-only chunk carries a cursor (§5.2)");
    for (const [i, data] of chunk.items.entries()) {
      const seq = chunk.firstSeq + i;
      this.#beginItem(seq, data.byteLength, window);
      this.items.push({ seq, data, at: performance.now() });
    }
    if (chunk.cursor.byteLength > 0) this.cursor = { seq: chunk.firstSeq + chunk.items.length - 1, cursor: chunk.cursor };
  }

  #addFragment(chunk: ChunkFrame): void {
    const partial = this.#partial!;
    const fragment = chunk.fragment!;
    if (fragment.data.byteLength === 0 || fragment.offset + fragment.data.byteLength > fragment.totalBytes) throw new Violation(`fragment of item ${partial.seq}: empty, or beyond total_bytes (§5.3)`);
    partial.parts.push(fragment.data);
    partial.have += fragment.data.byteLength;
    const complete = partial.have === partial.total;
    if (!complete && chunk.cursor.byteLength > 0) throw new Violation(`a cursor on a fragment that does not complete item ${partial.seq} (§5.3)`);
    if (!complete) return;
    const data = new Uint8Array(partial.total);
    let at = 0;
    for (const part of partial.parts) {
      data.set(part, at);
      at += part.byteLength;
    }
    this.items.push({ seq: partial.seq, data, at: performance.now() });
    if (chunk.cursor.byteLength > 0) this.cursor = { seq: partial.seq, cursor: chunk.cursor };
    this.#partial = undefined;
  }

  /** §4.3: the item may begin only within credit (or alone, by the exception). */
  #beginItem(seq: number, size: number, window: Window): void {
    if (size > this.opened!.limits.maxItemBytes) throw new Violation(`item ${seq} of ${size} bytes over max_item_bytes ${this.opened!.limits.maxItemBytes}`);
    if (seq > this.grantedSeq) throw new Violation(`item ${seq} beyond the granted max_seq ${this.grantedSeq} (§4.3)`);
    const offset = this.receivedBytes;
    if (!(offset + size <= this.grantedBytes || offset <= this.grantedBytes - window.bytes)) throw new Violation(`item ${seq} (${size} bytes at offset ${offset}) beyond the granted max_bytes ${this.grantedBytes} (§4.3)`);
    this.receivedSeq = seq;
    this.receivedBytes += size;
  }

  #onEnd(end: Extract<ServerFrame, { type: "end" }>): void {
    if (this.#partial) throw new Violation(`End while item ${this.#partial.seq} is partly sent (§7.4)`);
    if (end.lastSeq !== this.receivedSeq) throw new Violation(`End.last_seq ${end.lastSeq}, but the last seq sent is ${this.receivedSeq} (§8)`);
    const items = this.items.filter((i) => i.seq >= this.opened!.nextSeq).length;
    if (end.sessionItems !== items) throw new Violation(`End.session_items ${end.sessionItems}, but ${items} whole items came in this session (§8)`);
    if (end.sessionBytes !== this.receivedBytes) throw new Violation(`End.session_bytes ${end.sessionBytes}, but ${this.receivedBytes} payload bytes came (§8)`);
  }
}
