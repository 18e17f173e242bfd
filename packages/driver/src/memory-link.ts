/**
 * An in-memory client <-> server link of frame pipes (h11's ConnectionPair,
 * quinn's test Pair): lets SDK code and tests run a real session without a
 * socket. `break()` kills it like a dropped connection.
 */
import { SluiceError } from "@sluice/core";
import { FrameQueue, type FramePipe } from "./frame-pipe.js";

/** The two ends of an in-memory link: `a` sends A and receives B, `b` the opposite. */
export interface MemoryLink<A, B> {
  /** One end (say, the client's): sends A frames, receives B frames. */
  readonly a: FramePipe<B, A>;
  /** The other end (the server's): sends B frames, receives A frames. */
  readonly b: FramePipe<A, B>;
  /** Fails both directions, as a reset connection does. */
  break(): void;
}

/** A new in-memory link, its two ends connected. */
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
