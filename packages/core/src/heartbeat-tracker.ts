/**
 * Liveness for one connection (PROTOCOL.md §6), sans-IO: the caller reports
 * traffic with `now` and asks for the next deadline.
 *
 * - A ping goes out every `intervalMs` (not only when idle) so the RTT stays
 *   measured on busy streams too; it costs one tiny frame per interval.
 * - Any inbound frame proves liveness: a busy peer never times out because a
 *   heartbeat queued behind its data.
 * - Silence for `timeoutMs` means the peer is dead; the caller closes the
 *   connection and resumes. It is an event, never a crash.
 * - A peer that rides its pings ({@link HeartbeatTracker.onPeerPing}) sends
 *   its ping in the Heartbeat that answers the other's, so one round trip
 *   carries both; its own timer then waits 1.5 intervals, a fallback for
 *   when the other's pings stop.
 */
import { heartbeatProblem } from "./limits.js";

/** How often to ping, and how long a silent peer may stay silent (PROTOCOL.md §6). */
export interface HeartbeatOptions {
  /** A ping goes out every this many milliseconds, busy or idle. */
  readonly intervalMs: number;
  /** A peer silent this long is dead; must exceed `intervalMs`. */
  readonly timeoutMs: number;
}

/** A ping every 5 s and a 15 s timeout: the reference's values (and a client's until Opened). */
export const DEFAULT_HEARTBEAT: HeartbeatOptions = { intervalMs: 5_000, timeoutMs: 15_000 };

/** What {@link HeartbeatTracker.poll} says is due; told apart by `kind`. */
export type HeartbeatAction =
  /** Send a ping with this id. */
  | {
      /** Tells the actions apart. */
      readonly kind: "ping";
      /** The ping's id: non-zero, increasing per connection. */
      readonly id: number;
    }
  /** The peer is dead: it was silent for the timeout. */
  | {
      /** Tells the actions apart. */
      readonly kind: "timeout";
      /** How long the peer had been silent, in milliseconds. */
      readonly silentMs: number;
    };

/**
 * Liveness and RTT for one connection: when to ping, when the peer's silence
 * becomes a timeout, and the round trip of the oldest unanswered ping.
 */
export class HeartbeatTracker {
  /** The interval and timeout in force. */
  readonly options: HeartbeatOptions;
  #lastInbound: number;
  #nextPingAt: number;
  /** When our last ping left (the clock's start before any). */
  #lastPingAt: number;
  #nextPingId = 1;
  /** Outstanding ping: id and when it left. */
  #pendingId = 0;
  #pendingSentAt = 0;
  #rttMs: number | undefined;
  #timedOut = false;

  /**
   * `rides`: this peer rides its pings on the other's (the data receiver,
   * PROTOCOL.md §6), so its first own ping waits 1.5 intervals: both clocks
   * start at Opened, and a first ping due at one interval would race the
   * other's first ping at every interval after, never riding.
   */
  constructor(options: HeartbeatOptions, now: number, rides = false) {
    const problem = heartbeatProblem(options.intervalMs, options.timeoutMs);
    if (problem) throw new RangeError(problem);
    this.options = options;
    this.#lastInbound = now;
    this.#lastPingAt = now;
    this.#nextPingAt = now + options.intervalMs * (rides ? 1.5 : 1);
  }

  /** Latest measured round-trip time, if any. */
  get rttMs(): number | undefined {
    return this.#rttMs;
  }

  /** When the last frame arrived (any frame is liveness). */
  get lastInbound(): number {
    return this.#lastInbound;
  }

  /** Any frame arrived. */
  onInbound(now: number): void {
    this.#lastInbound = now;
  }

  /**
   * A pong arrived; returns the RTT when it answers our outstanding ping:
   * the round trip less the time the peer says it held the pong
   * (`delayMs`, for a pong that waited for the peer's next ping).
   */
  onPong(id: number, now: number, delayMs = 0): number | undefined {
    if (id === 0 || id !== this.#pendingId) return undefined;
    this.#pendingId = 0;
    this.#rttMs = Math.max(0, now - this.#pendingSentAt - delayMs);
    return this.#rttMs;
  }

  /**
   * The peer pinged: returns the id of our own ping to send in the same
   * Heartbeat as the pong, when at least half an interval passed since our
   * last one (PROTOCOL.md §6); undefined to answer with the pong alone. A
   * ping sent so moves our own next one to 1.5 intervals away: while the
   * peer keeps pinging every interval, every ping of ours rides on a pong.
   */
  onPeerPing(now: number): number | undefined {
    if (this.#timedOut || now - this.#lastPingAt < this.options.intervalMs / 2) return undefined;
    const id = this.#ping(now);
    this.#nextPingAt = now + this.options.intervalMs * 1.5;
    return id;
  }

  /** When the next ping is due; undefined once timed out. */
  get pingAt(): number | undefined {
    return this.#timedOut ? undefined : this.#nextPingAt;
  }

  /** When the peer's silence becomes a timeout; undefined once timed out. */
  get timeoutAt(): number | undefined {
    return this.#timedOut ? undefined : this.#lastInbound + this.options.timeoutMs;
  }

  /** Next time `poll` has something to do. */
  get deadline(): number | undefined {
    if (this.#timedOut) return undefined;
    return Math.min(this.#nextPingAt, this.#lastInbound + this.options.timeoutMs);
  }

  /** What is due at `now`: a timeout wins over a ping. */
  poll(now: number): HeartbeatAction | undefined {
    if (this.#timedOut) return undefined;
    const silentMs = now - this.#lastInbound;
    if (silentMs >= this.options.timeoutMs) {
      this.#timedOut = true;
      return { kind: "timeout", silentMs };
    }
    if (now >= this.#nextPingAt) {
      this.#nextPingAt = now + this.options.intervalMs;
      return { kind: "ping", id: this.#ping(now) };
    }
    return undefined;
  }

  /** A ping leaves now: its id. */
  #ping(now: number): number {
    const id = this.#nextPingId++;
    this.#lastPingAt = now;
    // Time the oldest unanswered ping: if the RTT exceeds the interval,
    // replacing it with each new ping would discard every pong.
    if (this.#pendingId === 0) {
      this.#pendingId = id;
      this.#pendingSentAt = now;
    }
    return id;
  }
}
