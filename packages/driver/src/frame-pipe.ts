/**
 * The contract between the driver and a transport: inbound
 * frames as an async iterable, a `send` whose promise is the transport's
 * backpressure, and `close`. HTTP/2 bidi, half-duplex fetch and WebSocket all
 * reduce to this; none of them re-implements windows, acks or heartbeats.
 */
import { Queue, type SluiceError } from "@sluice/core";

/**
 * One direction pair of a transport as the driver sees it: frames in, frames
 * out with backpressure, and close. Every transport adapts to this.
 */
export interface FramePipe<In, Out> {
  /** Frames from the peer. Ends when the peer half-closes; throws on transport failure. */
  readonly inbound: AsyncIterable<In>;
  /** Queues a frame; the promise settles when the transport can take more. */
  send(frame: Out): void | Promise<void>;
  /** Ends the outbound direction (after queued frames) or aborts with an error. */
  close(error?: SluiceError): void;
  /**
   * How long a receiver may hold an ack on this pipe (PROTOCOL.md §7.2),
   * when the transport wants longer than the receiver's own delay: one that
   * pays a request for every batch of client frames (half duplex) does.
   */
  readonly ackDelayMs?: number;
}

/**
 * An unbounded-by-design outbound queue exposed as an async iterable, for
 * transports (Connect handlers and clients) that pull the messages they
 * write. It is bounded in practice by the core's credit: the sender never
 * produces more than the window, and the receiver's control frames are tiny.
 */
export class FrameQueue<T> implements AsyncIterable<T> {
  readonly #items = new Queue<T>();
  #closed = false;
  #error: unknown;
  #waiter: (() => void) | undefined;
  /** Resolvers of senders waiting for the consumer to drain below `highWater`. */
  #drained: (() => void)[] = [];
  /** Queued items at which push() starts returning a promise (default 64). */
  readonly highWater: number;

  constructor(highWater = 64) {
    this.highWater = highWater;
  }

  /** Items queued and not yet taken. */
  get size(): number {
    return this.#items.length;
  }

  /**
   * Queues `item`; at `highWater` the returned promise settles once the
   * consumer has drained half the queue. Ignored after close.
   */
  push(item: T): void | Promise<void> {
    if (this.#closed) return;
    this.#items.push(item);
    this.#wake();
    if (this.size >= this.highWater) return new Promise<void>((resolve) => this.#drained.push(resolve));
  }

  /** Ends the queue: the iterator yields what is queued, then ends, or throws `error` if one is given. */
  close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error;
    this.#wake();
    this.#releaseSenders();
  }

  /** Yields the queued items as they come; ending the iteration closes the queue. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        if (this.#items.length > 0) {
          const item = this.#items.shift()!;
          if (this.size < this.highWater / 2) this.#releaseSenders();
          yield item;
          continue;
        }
        if (this.#closed) {
          if (this.#error !== undefined) throw this.#error;
          return;
        }
        await new Promise<void>((resolve) => {
          this.#waiter = resolve;
        });
      }
    } finally {
      this.#closed = true;
      this.#releaseSenders();
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  #releaseSenders(): void {
    const senders = this.#drained;
    this.#drained = [];
    for (const resolve of senders) resolve();
  }
}
