/**
 * The server's buffered-bytes budgets (issue 14): payload that sessions have
 * pulled from their sources and sent or queued, and that their clients have
 * not consumed yet, is what slow or stalled clients make the server hold (at
 * most each session's window). Two budgets bound it, per connection and for
 * the whole server:
 *
 * - a new stream is refused (limit_exceeded, retryable after 1 s) when its
 *   window does not fit next to what is held now;
 * - sessions stop pulling from their sources while a budget they count
 *   against is spent, so a burst of streams admitted together still cannot
 *   take memory past it by more than a chunk each.
 *
 * Sums are recomputed at most every few milliseconds, and less often the
 * more sessions a sum walks (5 µs of period per session): an item pulled,
 * or an idle session's heartbeat asking whether it may pull, must not cost
 * a walk over every session. 10 000 idle subscriptions on one connection
 * spent ~20 % of a core in these walks with a fixed 10 ms period (each
 * heartbeat wake-up found the sum stale). Between refreshes each pulled item is
 * added to the cached sums, so sessions pulling together within one refresh
 * period see each other's bytes (without it, a WebSocket whose writes are
 * corked for a turn let 20 greedy sessions overshoot the budget by 6 MiB).
 */
import { SluiceError } from "@sluice/core";
import type { SessionView } from "@sluice/driver";

const CONNECTION_REFRESH_MS = 10;
const SERVER_REFRESH_MS = 50;
/** Refresh period per session a sum walks: the walk then costs a bounded share of a core, however many sessions there are. */
const REFRESH_MS_PER_SESSION = 0.005;

/**
 * Up to this many sessions on a connection, admitting one walks them all
 * (exact); beyond, the cached sum decides, which only overestimates (pulls
 * are added at once, consumption at the next walk): a connection opening
 * 10 000 streams must not walk 50 million sessions.
 */
const EXACT_ADMIT_MAX_SESSIONS = 256;

/** How old a sum over `sessions` may be before it is walked again. */
const refreshAfter = (baseMs: number, sessions: number) => Math.max(baseMs, sessions * REFRESH_MS_PER_SESSION);

interface Held {
  at: number;
  bytes: number;
}

export class BufferBudget {
  readonly maxBytes: number;
  readonly maxConnectionBytes: number;
  readonly #all = new Set<SessionView>();
  readonly #byConnection = new Map<object, { views: Set<SessionView>; held: Held }>();
  #held: Held = { at: -Infinity, bytes: 0 };

  constructor(maxBytes: number, maxConnectionBytes: number) {
    this.maxBytes = maxBytes;
    this.maxConnectionBytes = maxConnectionBytes;
  }

  add(view: SessionView, connection: object | undefined): void {
    this.#all.add(view);
    if (!connection) return;
    let entry = this.#byConnection.get(connection);
    if (!entry) this.#byConnection.set(connection, (entry = { views: new Set(), held: { at: -Infinity, bytes: 0 } }));
    entry.views.add(view);
  }

  remove(view: SessionView, connection: object | undefined): void {
    this.#all.delete(view);
    if (!connection) return;
    const entry = this.#byConnection.get(connection);
    entry?.views.delete(view);
    if (entry?.views.size === 0) this.#byConnection.delete(connection);
  }

  /** What all sessions hold (as of at most SERVER_REFRESH_MS ago). */
  get heldBytes(): number {
    return this.#serverHeld(performance.now());
  }

  /** Throws limit_exceeded when a new session's window does not fit its connection's or the server's budget. */
  admit(windowBytes: number, connection: object | undefined): void {
    const now = performance.now();
    const refuse = (what: string, held: number, max: number, advice: string) =>
      new SluiceError("limit_exceeded", `${what} budget: sessions hold ${mib(held)} their clients have not consumed, of ${mib(max)}; a window of ${mib(windowBytes)} does not fit (${advice})`, { retryable: true, retryAfterMs: 1_000 });
    if (connection) {
      const held = this.#connectionHeld(connection, now, true);
      if (held + windowBytes > this.maxConnectionBytes) throw refuse("connection", held, this.maxConnectionBytes, "use another connection, or a smaller window");
    }
    const held = this.#serverHeld(now);
    if (held + windowBytes > this.maxBytes) throw refuse("server", held, this.maxBytes, "try later, or another instance");
  }

  /** Whether a session on `connection` may pull more from its source now. */
  mayPull(connection: object | undefined): boolean {
    const now = performance.now();
    if (connection && this.#connectionHeld(connection, now, false) >= this.maxConnectionBytes) return false;
    return this.#serverHeld(now) < this.maxBytes;
  }

  /** A session on `connection` pulled an item of `bytes`: it is held until the next refresh says otherwise. */
  pulled(bytes: number, connection: object | undefined): void {
    this.#held.bytes += bytes;
    if (!connection) return;
    const entry = this.#byConnection.get(connection);
    if (entry) entry.held.bytes += bytes;
  }

  #connectionHeld(connection: object, now: number, exact: boolean): number {
    const entry = this.#byConnection.get(connection);
    if (!entry) return 0;
    if ((exact && entry.views.size <= EXACT_ADMIT_MAX_SESSIONS) || now - entry.held.at > refreshAfter(CONNECTION_REFRESH_MS, entry.views.size)) {
      let bytes = 0;
      for (const view of entry.views) bytes += view.bufferedBytes;
      entry.held = { at: now, bytes };
    }
    return entry.held.bytes;
  }

  #serverHeld(now: number): number {
    if (now - this.#held.at > refreshAfter(SERVER_REFRESH_MS, this.#all.size)) {
      let bytes = 0;
      for (const view of this.#all) bytes += view.bufferedBytes;
      this.#held = { at: now, bytes };
    }
    return this.#held.bytes;
  }
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
