/**
 * The socket's send side (PROTOCOL.md §14.3, socket backpressure): writers
 * wait while `bufferedAmount` is above the high-water mark, until it is down
 * to half of it, and (on Node) a turn's frames leave in one write.
 *
 * The WebSocket API has no event for a shrinking `bufferedAmount`: neither
 * browsers' WebSocket nor `ws`'s has one. On the server, the Node stream
 * under the socket emits 'drain' once its buffer has emptied, which is when
 * writers go on. Elsewhere (browsers, a Node client on `ws`) the buffer is
 * polled on the Clock, only while writers wait, backing off while it does
 * not shrink.
 */
import type { Clock } from "@sluice/driver";

/** The stream under a `ws` WebSocket (Node): it says when its buffer has emptied. */
export interface DrainEvents {
  on(event: "drain", listener: () => void): unknown;
  off(event: "drain", listener: () => void): unknown;
}

/** A stream whose writes can be held and sent as one (Node's cork/uncork). */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

export interface SendBufferOptions {
  readonly highWaterBytes: number;
  readonly clock: Clock;
  /** Where the buffer's 'drain' is heard. Without it (browsers, a `ws` client) the buffer is polled. */
  readonly drainEvents?: DrainEvents;
  /** Hold the writes of a turn and send them in one (see MuxOptions.coalesceWrites). */
  readonly coalesceWrites?: Corkable;
}

/**
 * Polling while writers wait: first after 1 ms, then twice as long each time
 * the buffer did not shrink, up to this, and back to 1 ms when it did. A
 * socket draining fast is seen within a millisecond or two; one whose reader
 * stalled costs ~60 wake-ups a second instead of 1 000. With drain events,
 * polling stays at this period: it is only the safety net.
 */
export const MAX_DRAIN_POLL_MS = 16;

export class SendBuffer {
  readonly #socket: { readonly bufferedAmount: number };
  readonly #highWater: number;
  readonly #lowWater: number;
  readonly #clock: Clock;
  readonly #drainEvents: DrainEvents | undefined;
  readonly #coalesce: Corkable | undefined;
  #corked = false;
  #closed = false;
  /** One promise for every waiting writer: they all wait for the same level. */
  #drained: { promise: Promise<void>; resolve: () => void } | undefined;
  #cancelPoll: (() => void) | undefined;
  /** With drain events the poll is only a safety net (a stream whose own high-water mark is above ours may never say it drained): it stays slow. */
  readonly #fastestPollMs: number;
  #pollMs = 1;
  #lastSeen = 0;

  constructor(socket: { readonly bufferedAmount: number }, options: SendBufferOptions) {
    this.#socket = socket;
    this.#highWater = options.highWaterBytes;
    this.#lowWater = options.highWaterBytes / 2;
    this.#clock = options.clock;
    this.#drainEvents = options.drainEvents;
    this.#coalesce = options.coalesceWrites;
    this.#fastestPollMs = options.drainEvents ? MAX_DRAIN_POLL_MS : 1;
  }

  /** Writers must wait before writing more (the buffer is above the high-water mark). */
  get full(): boolean {
    return !this.#closed && this.#socket.bufferedAmount > this.#highWater;
  }

  /** Before a write: with coalescing, holds this turn's writes until the turn ends. */
  beforeWrite(): void {
    const stream = this.#coalesce;
    if (!stream || this.#corked || this.#closed) return;
    this.#corked = true;
    stream.cork();
    // After the microtasks of this turn, which is where sessions write.
    void this.#clock.yield().then(() => this.#uncork());
  }

  /** Resolves once the buffer is down to half the high-water mark, or the socket closed. */
  drained(): Promise<void> {
    if (!this.full) return Promise.resolve();
    if (this.#drained) return this.#drained.promise;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#drained = { promise, resolve };
    this.#drainEvents?.on("drain", this.#check);
    this.#pollMs = this.#fastestPollMs;
    this.#lastSeen = this.#socket.bufferedAmount;
    this.#poll();
    return promise;
  }

  /** The socket closed: writers stop waiting, and what is held leaves now. */
  close(): void {
    this.#closed = true;
    this.#uncork();
    this.#release();
  }

  /** Sends what this turn held, now (before a close frame that must follow it). */
  flush(): void {
    this.#uncork();
  }

  #uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#coalesce!.uncork();
  }

  readonly #check = (): void => {
    const buffered = this.#socket.bufferedAmount;
    if (this.#closed || buffered <= this.#lowWater) return this.#release();
    this.#pollMs = buffered < this.#lastSeen ? this.#fastestPollMs : Math.min(2 * this.#pollMs, MAX_DRAIN_POLL_MS);
    this.#lastSeen = buffered;
    this.#poll();
  };

  #poll(): void {
    this.#cancelPoll?.();
    this.#cancelPoll = this.#clock.schedule(this.#clock.now() + this.#pollMs, this.#check);
  }

  #release(): void {
    const drained = this.#drained;
    if (!drained) return;
    this.#drained = undefined;
    this.#cancelPoll?.();
    this.#cancelPoll = undefined;
    this.#drainEvents?.off("drain", this.#check);
    drained.resolve();
  }
}
