/** Server frames as they arrive, each stamped with its arrival time, read one at a time with a timeout. */
import type { ServerFrame } from "@sluice/core";

/** One server frame as it arrived. */
export interface Received {
  /** The frame, decoded. */
  readonly frame: ServerFrame;
  /** performance.now() when it arrived. */
  readonly at: number;
  /** The encoded size of the message that carried it (without the envelope prefix). */
  readonly bytes: number;
}

export class Inbox {
  #items: Received[] = [];
  #head = 0;
  #ended = false;
  #error: Error | undefined;
  #waiter: (() => void) | undefined;

  push(frame: ServerFrame, bytes: number): void {
    this.#items.push({ frame, at: performance.now(), bytes });
    this.#wake();
  }

  /** No more frames; `error` when the stream could not be read (a bad message). */
  end(error?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#wake();
  }

  get ended(): boolean {
    return this.#ended && this.#head >= this.#items.length;
  }

  /** The next frame, undefined at the end; rejects after `timeoutMs` without one. */
  async next(timeoutMs: number): Promise<Received | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.#head < this.#items.length) return this.#items[this.#head++];
      if (this.#ended) {
        if (this.#error) throw this.#error;
        return undefined;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new TimeoutError(`no server frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}

/** No server frame arrived within the time a check allows. */
export class TimeoutError extends Error {
  /** Always "TimeoutError". */
  override readonly name = "TimeoutError";
}
