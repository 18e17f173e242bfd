/**
 * A clock that moves only when the test says so (the driver's injectable
 * Clock). Deadlines (flush, heartbeats, timeouts, retries) then fire at
 * exact virtual times, so a test can tell "sent at the 5 ms flush deadline"
 * from "sent at the next heartbeat" without waiting or flaking: the check
 * that would have caught items waiting for the heartbeat (issue 13).
 */
import type { Clock } from "@sluice/driver";

interface Timer {
  readonly at: number;
  readonly order: number;
  readonly fn: () => void;
  cancelled: boolean;
}

const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

export class VirtualClock implements Clock {
  #now: number;
  #order = 0;
  #timers: Timer[] = [];
  /** How many timers were ever scheduled (to count wake-ups). */
  scheduled = 0;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  schedule(at: number, fn: () => void): () => void {
    const timer: Timer = { at: Math.max(at, this.#now), order: this.#order++, fn, cancelled: false };
    this.#timers.push(timer);
    this.scheduled++;
    return () => {
      timer.cancelled = true;
    };
  }

  /** Real macrotasks (I/O and promise chains run), no virtual time passes. */
  yield(): Promise<void> {
    return macrotask();
  }

  /** Timers still to fire. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** The earliest pending deadline (undefined: none). */
  get nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const t of this.#timers) if (!t.cancelled && (next === undefined || t.at < next)) next = t.at;
    return next;
  }

  /**
   * Lets everything that is ready run (promise chains, pipes, yields)
   * without moving time: a few macrotask turns, until a turn changes
   * nothing scheduled.
   */
  async settle(): Promise<void> {
    for (let turn = 0; turn < 20; turn++) {
      const before = this.#order;
      await macrotask();
      await macrotask();
      if (this.#order === before) return;
    }
  }

  /** Moves time forward by `ms`, firing every timer due on the way at its own time, in order, settling after each. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await this.settle();
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!due) break;
      this.#timers.splice(this.#timers.indexOf(due), 1);
      this.#now = due.at;
      due.fn();
      await this.settle();
    }
    this.#now = target;
    await this.settle();
  }
}
