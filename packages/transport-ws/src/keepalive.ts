/**
 * Liveness of one socket (PROTOCOL.md §14.4): the pings we send and the
 * pings we accept. Time comes from the injected Clock only, so tests run it
 * on a virtual one.
 */
import { HeartbeatTracker, heartbeatProblem } from "@sluice/core";
import type { Clock } from "@sluice/driver";
import { DeadlineTimer } from "@sluice/driver/internal";

export interface KeepaliveOptions {
  /** Ping after this much silence from the peer. */
  readonly intervalMs: number;
  /** Declare the peer dead after this much silence. */
  readonly timeoutMs: number;
}

/** Ping after 15 s of silence by default (§14.4). */
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 15_000;

/**
 * The keepalive a socket runs given its options: interval 15 s and timeout
 * 3 × interval by default; an interval of 0 turns it off. A timeout at or
 * below the interval is refused (core's one heartbeat rule): no ping could
 * go out before it, and every healthy peer would be cut off.
 */
export function keepaliveOptions(intervalMs = DEFAULT_KEEPALIVE_INTERVAL_MS, timeoutMs?: number): KeepaliveOptions | undefined {
  if (!(intervalMs > 0)) return undefined;
  const options = { intervalMs, timeoutMs: timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs : 3 * intervalMs };
  const problem = heartbeatProblem(options.intervalMs, options.timeoutMs);
  if (problem) throw new RangeError(`keepaliveTimeoutMs: ${problem}`);
  return options;
}

export interface KeepaliveEvents {
  /** Send ping{id}. */
  ping(id: bigint): void;
  /** The peer is dead: close the socket. Called once; the keepalive has stopped. */
  timeout(silentMs: number): void;
}

/**
 * Core's HeartbeatTracker keeps the time (last frame heard, next ping, the
 * timeout) on the Clock. Unlike a Sluice session (§6), which pings every
 * interval even when busy, a socket pings only after `interval` of silence
 * (§14.4): a ping the tracker asks for while the peer was heard within the
 * last interval is not sent. (So the tracker's RTT, which would time such a
 * ping, is not offered.) Any frame counts as life, a pong included.
 */
export class Keepalive {
  readonly #clock: Clock;
  readonly #events: KeepaliveEvents;
  readonly #tracker: HeartbeatTracker;
  readonly #timer: DeadlineTimer;
  #stopped = false;

  constructor(clock: Clock, options: KeepaliveOptions, events: KeepaliveEvents) {
    this.#clock = clock;
    this.#events = events;
    this.#tracker = new HeartbeatTracker({ intervalMs: options.intervalMs, timeoutMs: options.timeoutMs }, clock.now());
    this.#timer = new DeadlineTimer(clock, () => void this.#due());
    this.#timer.arm(this.#tracker.deadline);
  }

  /** The interval pings go out at. */
  get intervalMs(): number {
    return this.#tracker.options.intervalMs;
  }

  /** A frame arrived from the peer (any frame: busy peers need no ping to prove they live). */
  inbound(): void {
    this.#tracker.onInbound(this.#clock.now());
  }

  stop(): void {
    this.#stopped = true;
    this.#timer.stop();
  }

  async #due(): Promise<void> {
    // Timers run before the socket reads waiting in this turn: after this
    // process was busy, the peer's frames may be there unread. Decide after
    // the runtime has read them, so our own stall is not blamed on the peer.
    await this.#clock.yield();
    if (this.#stopped) return;
    const now = this.#clock.now();
    const action = this.#tracker.poll(now);
    if (action?.kind === "timeout") {
      this.stop();
      this.#events.timeout(action.silentMs);
      return;
    }
    if (action?.kind === "ping" && now - this.#tracker.lastInbound >= this.intervalMs) this.#events.ping(BigInt(action.id));
    this.#timer.arm(this.#tracker.deadline);
  }
}

/**
 * Pings a peer may send: a token bucket of `perSecond` tokens a second,
 * holding two seconds' worth, so a burst passes and a flood does not.
 */
export class PingRateLimit {
  readonly perSecond: number;
  #tokens: number;
  #refilledAt: number;

  constructor(perSecond: number, now: number) {
    this.perSecond = perSecond;
    this.#tokens = 2 * perSecond;
    this.#refilledAt = now;
  }

  /** A ping arrived at `now`. false: one too many (a flood). */
  admit(now: number): boolean {
    this.#tokens = Math.min(2 * this.perSecond, this.#tokens + ((now - this.#refilledAt) / 1000) * this.perSecond);
    this.#refilledAt = now;
    return --this.#tokens >= 0;
  }
}
