/**
 * The server's memory of its publishers (PROTOCOL.md §3.4): per stream and
 * publisher id, the last seq accepted or dead-lettered and the dead letters
 * the publisher may not have heard of. It is what makes a resend harmless:
 * a new session continues at that seq + 1, so items the publisher sends
 * again are never taken twice. One session per publisher at a time: a newer
 * PublishOpen fences the older session (it ends with `cancelled`), after its
 * sink write settles, so the position is final when the new one opens.
 *
 * A publisher is remembered for `windowMs` after its last session ends (the
 * deduplication window, JetStream's duplicate window); after that a
 * reconnecting publisher is trusted with its own resume_after_seq.
 */
import { SluiceError, type DeadLetter } from "@sluice/core";
import type { IngestOutcome } from "@sluice/driver";

/** How long, and how many, publishers are remembered. */
export interface PublisherRegistryOptions {
  /** How long a publisher's position is kept after its last session ended (default 120 000 ms). */
  readonly windowMs?: number;
  /** The most publishers remembered at once (the longest idle are forgotten first; default 100 000). */
  readonly maxPublishers?: number;
  /** The most unconfirmed dead letters kept per publisher (the oldest go first; default 10 000). */
  readonly maxDeadLetters?: number;
  /** Milliseconds on a monotonic clock (default performance.now). */
  readonly now?: () => number;
}

interface PublisherRecord {
  /** The last seq accepted or dead-lettered. */
  doneSeq: number;
  /** Dead letters after the publisher's last resume_after_seq, oldest first. */
  deadLetters: DeadLetter[];
  /** The session now open, if any: how to fence it, and when it has ended. */
  session: { readonly fence: AbortController; readonly ended: Promise<IngestOutcome> } | undefined;
  /** When the last session ended (for the window). */
  idleSince: number;
}

/** Where a new publish session continues, and what it reports again. */
export interface PublisherPosition {
  /** The publisher's next seq. */
  readonly nextSeq: number;
  /** Dead letters after its resume_after_seq (their acks may have been lost). */
  readonly deadLetters: readonly DeadLetter[];
}

/** The last position of every recent publisher, per stream. */
export class PublisherRegistry {
  readonly #windowMs: number;
  readonly #maxPublishers: number;
  readonly #maxDeadLetters: number;
  readonly #now: () => number;
  /** By stream and publisher id; Map order is the order of last use (a touched record moves to the end). */
  readonly #records = new Map<string, PublisherRecord>();

  constructor(options: PublisherRegistryOptions = {}) {
    this.#windowMs = options.windowMs ?? 120_000;
    this.#maxPublishers = options.maxPublishers ?? 100_000;
    this.#maxDeadLetters = options.maxDeadLetters ?? 10_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Publishers remembered now. */
  get size(): number {
    return this.#records.size;
  }

  /**
   * A session of `publisherId` opens on `stream`: fences the one before it
   * (and waits for it to end), then answers where this one continues.
   * `fence` aborts this session when a newer one opens; `ended` settles
   * when it has ended.
   */
  async open(stream: string, publisherId: string, resumeAfterSeq: number, fence: AbortController, ended: Promise<IngestOutcome>): Promise<PublisherPosition> {
    if (publisherId.length === 0 || publisherId.length > 256) throw new SluiceError("invalid_argument", `open.publisher_id: must be 1 to 256 characters, got ${publisherId.length}`, { field: "open.publisher_id", blame: "remote" });
    this.#forgetExpired();
    const key = `${stream}\u0000${publisherId}`;
    let record = this.#records.get(key);
    const previous = record?.session;
    if (previous) {
      previous.fence.abort(new SluiceError("cancelled", `superseded: a newer session of publisher ${JSON.stringify(publisherId)} opened`));
      await previous.ended;
      record = this.#records.get(key);
    }
    if (!record) {
      if (this.#records.size >= this.#maxPublishers) this.#records.delete(this.#records.keys().next().value!);
      record = { doneSeq: 0, deadLetters: [], session: undefined, idleSince: this.#now() };
    }
    this.#records.delete(key);
    this.#records.set(key, record);
    // Without a record the publisher is trusted: it knows what was acked.
    record.doneSeq = Math.max(record.doneSeq, resumeAfterSeq);
    // Dead letters at or below what the publisher confirms it knows are reported.
    record.deadLetters = record.deadLetters.filter((dead) => dead.seq > resumeAfterSeq);
    record.session = { fence, ended };
    const session = record.session;
    const current = record;
    void ended.then(() => {
      if (current.session === session) {
        current.session = undefined;
        current.idleSince = this.#now();
      }
    });
    return { nextSeq: record.doneSeq + 1, deadLetters: [...record.deadLetters] };
  }

  /** The sink took `seq` (accepted). */
  accepted(stream: string, publisherId: string, seq: number): void {
    const record = this.#records.get(`${stream}\u0000${publisherId}`);
    if (record && seq > record.doneSeq) record.doneSeq = seq;
  }

  /** The sink refused `seq` into the stream. */
  deadLettered(stream: string, publisherId: string, dead: DeadLetter): void {
    const record = this.#records.get(`${stream}\u0000${publisherId}`);
    if (!record) return;
    if (dead.seq > record.doneSeq) record.doneSeq = dead.seq;
    record.deadLetters.push(dead);
    if (record.deadLetters.length > this.#maxDeadLetters) record.deadLetters.shift();
  }

  /** The publisher's dead letters above `seq` that it may not have heard of. */
  deadLettersAfter(stream: string, publisherId: string, seq: number): DeadLetter[] {
    return (this.#records.get(`${stream}\u0000${publisherId}`)?.deadLetters ?? []).filter((dead) => dead.seq > seq);
  }

  /** Forgets publishers idle for longer than the window (oldest use first, so the walk stops at the first recent one). */
  #forgetExpired(): void {
    const oldest = this.#now() - this.#windowMs;
    for (const [key, record] of this.#records) {
      if (record.session || record.idleSince > oldest) break;
      this.#records.delete(key);
    }
  }
}
