/**
 * An in-memory client <-> server link of frame pipes (h11's ConnectionPair,
 * quinn's test Pair): lets SDK code and tests run a real session without a
 * socket. `break()` kills it like a dropped connection.
 */
import { SluiceError } from "@sluice/core";
import { FrameQueue, type FramePipe } from "./frame-pipe.js";

export interface MemoryLink<A, B> {
  readonly a: FramePipe<B, A>;
  readonly b: FramePipe<A, B>;
  /** Fails both directions, as a reset connection does. */
  break(): void;
}

export function createMemoryLink<A, B>(): MemoryLink<A, B> {
  const aToB = new FrameQueue<A>();
  const bToA = new FrameQueue<B>();
  const reset = () => new SluiceError("unavailable", "memory link broken");
  return {
    a: { inbound: bToA, send: (f) => aToB.push(f), close: (e) => aToB.close(e) },
    b: { inbound: aToB, send: (f) => bToA.push(f), close: (e) => bToA.close(e) },
    break() {
      aToB.close(reset());
      bToA.close(reset());
    },
  };
}
