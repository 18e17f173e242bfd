import { describe, expect, it } from "vitest";
import { consumeFrames, FrameQueue, type FrameSink } from "./frame-pipe.js";

/** A sink that records what it was handed. */
function recording(stopAt?: number) {
  const frames: number[] = [];
  const ends: unknown[] = [];
  const sink: FrameSink<number> = {
    frame(frame) {
      frames.push(frame);
      if (frame === stopAt) return false;
    },
    end(error) {
      ends.push(error ?? "clean");
    },
  };
  return { sink, frames, ends };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("consumeFrames over a FrameQueue", () => {
  it("hands what was queued, then each pushed frame within push itself, then the close", async () => {
    const queue = new FrameQueue<number>(2);
    void queue.push(1);
    const { sink, frames, ends } = recording();
    consumeFrames(queue, sink);
    expect(frames).toEqual([]); // attached a microtask later, never inside the caller's set-up
    await tick();
    expect(frames).toEqual([1]);
    // Delivered at once, and no backpressure promise: nothing waits in the queue.
    for (let i = 2; i <= 5; i++) expect(queue.push(i)).toBeUndefined();
    expect(frames).toEqual([1, 2, 3, 4, 5]);
    expect(queue.size).toBe(0);
    queue.close();
    expect(ends).toEqual(["clean"]);
    void queue.push(6);
    expect(frames).toHaveLength(5);
  });

  it("passes a close's error to end, and what the sink throws, after which it takes nothing", async () => {
    const failing = new FrameQueue<number>();
    const first = recording();
    consumeFrames(failing, first.sink);
    await tick();
    failing.close(new Error("reset"));
    expect(first.ends).toEqual([new Error("reset")]);

    const queue = new FrameQueue<number>();
    const ends: unknown[] = [];
    consumeFrames(queue, {
      frame(frame) {
        if (frame === 2) throw new Error("bad frame");
      },
      end: (error) => ends.push(error),
    });
    await tick();
    void queue.push(1);
    void queue.push(2);
    void queue.push(3);
    queue.close();
    expect(ends).toEqual([new Error("bad frame")]);
  });

  it("stops when the sink says false: no end, nothing more, and senders waiting for room are released", async () => {
    const queue = new FrameQueue<number>(2);
    void queue.push(1);
    const waiting = queue.push(2);
    expect(waiting).toBeInstanceOf(Promise);
    const { sink, frames, ends } = recording(1);
    consumeFrames(queue, sink);
    await tick();
    await waiting;
    expect(frames).toEqual([1]);
    void queue.push(3);
    queue.close();
    expect(frames).toEqual([1]);
    expect(ends).toEqual([]);
  });

  it("has one consumer: a second sink or an iterator is refused", async () => {
    const queue = new FrameQueue<number>();
    queue.deliverTo(recording().sink);
    expect(() => queue.deliverTo(recording().sink)).toThrow(/has a consumer already/);
    await expect(queue[Symbol.asyncIterator]().next()).rejects.toThrow(/has a consumer already/);
  });

  it("iterates anything else, ending with its error", async () => {
    const { sink, frames, ends } = recording();
    consumeFrames(
      (async function* () {
        yield 1;
        yield 2;
        throw new Error("gone");
      })(),
      sink,
    );
    await tick();
    expect(frames).toEqual([1, 2]);
    expect(ends).toEqual([new Error("gone")]);
  });
});
