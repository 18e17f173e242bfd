/**
 * Where the server's JSON log lines go: file descriptor 1, written so that
 * logging can never stop serving or shutdown (issue 14). pino's default
 * destination (sonic-boom) retries a write that fails forever, sleeping on the
 * main thread when it flushes at exit, and buffers without bound while the
 * reader is slow; a log reader that hangs or dies then wedged the server and
 * made it ignore SIGTERM. Here:
 *
 * - one write is in flight at a time, off the main thread (fs.write);
 * - lines queue up to `maxQueuedBytes` while it is busy; beyond that they are
 *   dropped and counted, and the next write says how many were lost;
 * - a write that fails with anything but EAGAIN means the reader is gone:
 *   every later line is dropped at once;
 * - flush() waits for the queue at most `timeoutMs`, and never blocks.
 */
import { write as fsWrite } from "node:fs";

export interface LogDestinationStats {
  /** Lines handed to the file descriptor. */
  written: number;
  /** Lines dropped: the queue was full, or the reader is gone. */
  dropped: number;
  /** The error that ended logging (the reader is gone), if any. */
  dead: string | undefined;
}

const RETRY_EAGAIN_MS = 100;

export class LogDestination {
  readonly fd: number;
  readonly maxQueuedBytes: number;
  readonly stats: LogDestinationStats = { written: 0, dropped: 0, dead: undefined };
  #queue: string[] = [];
  /** Counted in UTF-16 units: log lines are JSON and nearly all ASCII, and this is a bound, not an account. */
  #queuedBytes = 0;
  #writing = false;
  #droppedSinceWrite = 0;
  #idle: (() => void)[] = [];

  constructor(fd = 1, maxQueuedBytes = 4 * 1024 * 1024) {
    this.fd = fd;
    this.maxQueuedBytes = maxQueuedBytes;
  }

  /** pino's stream interface: one serialized line (with its newline). */
  write(line: string): void {
    if (this.stats.dead !== undefined || this.#queuedBytes + line.length > this.maxQueuedBytes) {
      this.stats.dropped++;
      this.#droppedSinceWrite++;
      return;
    }
    this.#queue.push(line);
    this.#queuedBytes += line.length;
    if (!this.#writing) this.#writeNext();
  }

  /** Resolves once every queued line was written, or after `timeoutMs`, whichever is first. */
  flush(timeoutMs: number): Promise<void> {
    if (!this.#writing) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #writeNext(): void {
    if (this.#queue.length === 0 || this.stats.dead !== undefined) {
      this.#writing = false;
      for (const resolve of this.#idle.splice(0)) resolve();
      return;
    }
    this.#writing = true;
    const lines = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    if (this.#droppedSinceWrite > 0) {
      lines.unshift(`${JSON.stringify({ level: 40, time: Date.now(), msg: "log lines dropped: the log reader was not keeping up", dropped: this.#droppedSinceWrite })}\n`);
      this.#droppedSinceWrite = 0;
    }
    this.#writeBuffer(Buffer.from(lines.join("")), lines.length);
  }

  #writeBuffer(buffer: Buffer, lines: number): void {
    fsWrite(this.fd, buffer, 0, buffer.length, null, (error, written) => {
      if (error) {
        if (error.code === "EAGAIN") {
          setTimeout(() => this.#writeBuffer(buffer, lines), RETRY_EAGAIN_MS);
          return;
        }
        // EPIPE, EBADF, ...: nobody reads these logs any more.
        this.stats.dead = error.code ?? error.message;
        this.stats.dropped += lines + this.#queue.length;
        this.#queue = [];
        this.#queuedBytes = 0;
        this.#writeNext();
        return;
      }
      if (written < buffer.length) {
        this.#writeBuffer(buffer.subarray(written), lines);
        return;
      }
      this.stats.written += lines;
      this.#writeNext();
    });
  }
}
