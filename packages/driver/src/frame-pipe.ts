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

/** What the driver's consumeFrames hands a pipe's inbound frames to. */
export interface FrameSink<T> {
  /** One frame; `false` stops the reading (what follows is dropped, and `end` is not called). */
  frame(frame: T): boolean | void;
  /** The frames ended: cleanly, or with what the transport failed with, or what `frame` threw. */
  end(error?: unknown): void;
}

/**
 * Reads `inbound` into `sink` until it ends or the sink stops it. A
 * FrameQueue (what the direct transports fill) hands each frame over as it
 * is pushed, in the transport's own callback; anything else is iterated,
 * an async hop a frame. With 10 000 idle sessions those hops (a promise and
 * an iterator result per frame, on both sides) were a good part of what
 * their heartbeats cost.
 */
export function consumeFrames<T>(inbound: AsyncIterable<T>, sink: FrameSink<T>): void {
  if (inbound instanceof FrameQueue) {
    // Attached a microtask later, as an iteration would start: what is queued
    // (or a close) never reaches the sink inside the caller's own setup.
    const queue = inbound as FrameQueue<T>;
    void Promise.resolve().then(() => queue.deliverTo(sink));
    return;
  }
  void (async () => {
    try {
      for await (const frame of inbound) if (sink.frame(frame) === false) return;
    } catch (error) {
      sink.end(error);
      return;
    }
    sink.end();
  })();
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
  /** The consumer items are handed to as they come ({@link FrameQueue.deliverTo}), instead of an iterator. */
  #sink: FrameSink<T> | undefined;
  /** An iterator or a sink has taken the queue: it has one consumer. */
  #consumed = false;
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
    if (this.#sink) {
      this.#hand(this.#sink, item);
      return;
    }
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
    const sink = this.#sink;
    this.#sink = undefined;
    sink?.end(error);
  }

  /**
   * Hands the queued items, then each one pushed, to `sink` synchronously
   * instead of queueing it for an iterator, and the close to `sink.end`.
   * What `sink.frame` throws ends the delivery: `end` gets it. Use
   * the driver's consumeFrames, which takes any inbound.
   */
  deliverTo(sink: FrameSink<T>): void {
    if (this.#consumed) throw new Error("this FrameQueue has a consumer already");
    this.#consumed = true;
    this.#sink = sink;
    while (this.#sink === sink && this.#items.length > 0) this.#hand(sink, this.#items.shift()!);
    this.#releaseSenders();
    if (this.#closed && this.#sink === sink) {
      this.#sink = undefined;
      sink.end(this.#error);
    }
  }

  #hand(sink: FrameSink<T>, item: T): void {
    let more: boolean | void;
    try {
      more = sink.frame(item);
    } catch (error) {
      if (this.#sink !== sink) return;
      this.#sink = undefined;
      this.#stop();
      sink.end(error);
      return;
    }
    if (more === false && this.#sink === sink) {
      this.#sink = undefined;
      this.#stop();
    }
  }

  /** The consumer is gone: nothing more is taken. */
  #stop(): void {
    this.#closed = true;
    this.#items.clear();
    this.#releaseSenders();
  }

  /** Yields the queued items as they come; ending the iteration closes the queue. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.#consumed) throw new Error("this FrameQueue has a consumer already");
    this.#consumed = true;
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
