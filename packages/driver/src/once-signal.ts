/**
 * What a session needs of a signal: an AbortSignal has it, and so has a
 * {@link OnceSignal}. Sessions take this, not AbortSignal, because an idle
 * session's heap is mostly what it holds: an AbortSignal is an EventTarget
 * of ~750 bytes, and a shared one scans its listener list on every add and
 * remove (Node's EventTarget), so n sessions on one cost O(n²) to open.
 */
export interface SessionSignal {
  /** True once the signal fired: a session started after that ends at once. */
  readonly aborted: boolean;
  /** Calls `listener` when the signal fires. */
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  /** Forgets a listener: a session that ended on its own stops being told. */
  removeEventListener(type: "abort", listener: () => void): void;
}

/**
 * A signal that fires once: the server's drain (one for all its sessions),
 * a session's end, a call gone. Most have one listener or none, kept in a
 * field; a Set is made at the second.
 */
export class OnceSignal implements SessionSignal {
  #aborted = false;
  #listener: (() => void) | undefined;
  #more: Set<() => void> | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  /** Listeners run once, at abort(); one added after it never runs (the caller checks `aborted`). */
  addEventListener(_type: "abort", listener: () => void): void {
    if (this.#aborted || listener === this.#listener) return;
    if (this.#listener === undefined && this.#more === undefined) this.#listener = listener;
    else (this.#more ??= new Set()).add(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    if (this.#listener === listener) this.#listener = undefined;
    else this.#more?.delete(listener);
  }

  /** Fires the signal: runs every listener once (the first added first). Later calls do nothing. */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const first = this.#listener;
    const more = this.#more;
    this.#listener = undefined;
    this.#more = undefined;
    first?.();
    if (more) for (const listener of more) listener();
  }
}

/**
 * An AbortSignal that aborts with `signal`, for code that needs a real one
 * (a user's source, fetch): made only where it is asked for.
 */
export function abortSignalOf(signal: SessionSignal): AbortSignal {
  const controller = new AbortController();
  if (signal.aborted) controller.abort();
  else signal.addEventListener("abort", () => controller.abort(), { once: true });
  return controller.signal;
}
