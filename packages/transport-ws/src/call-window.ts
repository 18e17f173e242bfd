/**
 * Flow-control windows of one call (PROTOCOL.md §14.3), one per direction,
 * in the style of python-h2's `windows.py`: bookkeeping and decisions only
 * (may the peer send this? is a window_update due?), no I/O. The call sends
 * what they decide.
 */

/** The window each direction of a call starts with unless CallStart says otherwise. */
export const DEFAULT_CALL_WINDOW_BYTES = 256 * 1024;
/** No window may grow past this (a peer adding without bound is an error). */
export const MAX_WINDOW_BYTES = 2 ** 31 - 1;
/**
 * The most response window a server grants a call, whatever its start asks:
 * what a call may hold in the socket's send path for a reader that does not
 * read (a call asking for 4 GiB held 88 MiB per call, issue 14).
 */
export const MAX_CALL_WINDOW_BYTES = 16 * 1024 * 1024;

/** The response window a server gives a call whose start asked for `requested` bytes (0: the default). */
export function grantedResponseWindow(requested: number): number {
  return Math.min(requested || DEFAULT_CALL_WINDOW_BYTES, MAX_CALL_WINDOW_BYTES);
}

/**
 * What the peer may still send us on one call. Window goes back to the peer
 * as the application *processes* bytes, not as they arrive, so a call whose
 * reader stalls stops its sender at one window.
 */
export class ReceiveWindow {
  readonly initialBytes: number;
  /** Smallest window_update sent: half the window, as HTTP/2 implementations do, so the peer keeps streaming without an update per chunk. */
  readonly updateThreshold: number;
  #available: number;
  /** Arrived, not yet processed by the application. */
  #unprocessed = 0;
  /** Processed, not yet given back. */
  #unacknowledged = 0;

  constructor(initialBytes: number) {
    if (!(Number.isInteger(initialBytes) && initialBytes > 0 && initialBytes <= MAX_WINDOW_BYTES)) throw new RangeError(`a call window must be 1 to ${MAX_WINDOW_BYTES} bytes, not ${initialBytes}`);
    this.initialBytes = initialBytes;
    this.#available = initialBytes;
    this.updateThreshold = Math.max(1, Math.floor(initialBytes / 2));
  }

  /** Bytes the peer may send before it hears from us again. */
  get available(): number {
    return this.#available;
  }

  /** The peer sent `bytes` of data. false: more than the window, which is the peer's protocol error (the window is unchanged). */
  consume(bytes: number): boolean {
    if (bytes > this.#available) return false;
    this.#available -= bytes;
    this.#unprocessed += bytes;
    return true;
  }

  /** The application processed `bytes` of what arrived; returns the window_update to send now (0: none yet). */
  process(bytes: number): number {
    if (bytes > this.#unprocessed) throw new RangeError(`processed ${bytes} bytes of ${this.#unprocessed} received`);
    this.#unprocessed -= bytes;
    this.#unacknowledged += bytes;
    if (this.#unacknowledged < this.updateThreshold) return 0;
    const increment = this.#unacknowledged;
    this.#unacknowledged = 0;
    this.#available += increment;
    return increment;
  }
}

/** What we may still send the peer on one call. */
export class SendWindow {
  #available: number;

  constructor(initialBytes: number) {
    if (!(Number.isInteger(initialBytes) && initialBytes >= 0 && initialBytes <= MAX_WINDOW_BYTES)) throw new RangeError(`a call window must be 0 to ${MAX_WINDOW_BYTES} bytes, not ${initialBytes}`);
    this.#available = initialBytes;
  }

  get available(): number {
    return this.#available;
  }

  /** Takes up to `wanted` bytes of window for one data frame; returns how many (0: wait for a window_update). */
  take(wanted: number): number {
    const bytes = Math.min(wanted, this.#available);
    this.#available -= bytes;
    return bytes;
  }

  /** The peer's window_update. false: it would take the window past 2³¹−1, the peer's protocol error (the window is unchanged). */
  open(bytes: number): boolean {
    if (this.#available + bytes > MAX_WINDOW_BYTES) return false;
    this.#available += bytes;
    return true;
  }
}
