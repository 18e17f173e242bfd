/**
 * The deadlines of a sans-IO machine, one slot per kind of timer, in the
 * shape of quinn-proto's `connection/timer.rs`: the machine sets and stops a
 * timer where the state it depends on changes, `pollTimeout()` is the
 * earliest deadline, and `handleTimeout(now)` handles each expired timer.
 * Nothing here runs a timer: the driver owns the only real one.
 */

/** Every timer a Sluice machine has, in the order `handleTimeout` handles them. */
export const Timer = {
  /** The peer has been silent for the heartbeat timeout (PROTOCOL.md §6); ahead of ping: a dead peer gets no ping. */
  heartbeatTimeout: 0,
  /** The next heartbeat ping is due (§6). */
  ping: 1,
  /** Sender: the open chunk's flush deadline (§5.1). */
  flush: 2,
  /** Sender: credit has stayed exhausted for the stall timeout (§4.9). */
  stall: 3,
  /** Sender: the source has yielded nothing for the yield timeout while there is credit (§4.9). */
  yield: 4,
  /** Receiver: the oldest unsent ack has waited its delay (§7.2). */
  ack: 5,
} as const;
export type Timer = (typeof Timer)[keyof typeof Timer];

const TIMER_COUNT = 6;

export class TimerTable {
  /** Deadline per timer; Infinity while stopped (a typed array keeps the scan cheap: pollTimeout runs after every input). */
  readonly #at = new Float64Array(TIMER_COUNT).fill(Infinity);

  /** Starts or moves the timer; undefined stops it. */
  set(timer: Timer, at: number | undefined): void {
    this.#at[timer] = at ?? Infinity;
  }

  /** The timer's deadline, or undefined while it is stopped. */
  get(timer: Timer): number | undefined {
    const at = this.#at[timer]!;
    return at === Infinity ? undefined : at;
  }

  stop(timer: Timer): void {
    this.#at[timer] = Infinity;
  }

  stopAll(): void {
    this.#at.fill(Infinity);
  }

  /** The earliest deadline of any running timer. */
  nextTimeout(): number | undefined {
    let next = Infinity;
    for (let timer = 0; timer < TIMER_COUNT; timer++) {
      const at = this.#at[timer]!;
      if (at < next) next = at;
    }
    return next === Infinity ? undefined : next;
  }

  isExpired(timer: Timer, now: number): boolean {
    const at = this.#at[timer]!;
    return at <= now && at !== Infinity;
  }

  /**
   * The timers expired at `now`, in Timer order. Each is checked when the
   * iteration reaches it, so one that an earlier handler stopped or moved
   * (a failure stops them all) is not reported.
   */
  *expired(now: number): IterableIterator<Timer> {
    for (let timer = 0; timer < TIMER_COUNT; timer++) {
      if (this.isExpired(timer as Timer, now)) yield timer as Timer;
    }
  }
}
