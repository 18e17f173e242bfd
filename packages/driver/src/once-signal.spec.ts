import { describe, expect, it } from "vitest";
import { OnceSignal, abortSignalOf } from "./once-signal.js";

describe("OnceSignal", () => {
  it("runs each listener once at abort, and none that was removed or came after", () => {
    const drain = new OnceSignal();
    const calls: string[] = [];
    const a = () => calls.push("a");
    const b = () => calls.push("b");
    drain.addEventListener("abort", a);
    drain.addEventListener("abort", b);
    drain.removeEventListener("abort", b);
    expect(drain.aborted).toBe(false);
    drain.abort();
    drain.abort();
    drain.addEventListener("abort", () => calls.push("late"));
    expect(drain.aborted).toBe(true);
    expect(calls).toEqual(["a"]);
  });
});

describe("abortSignalOf", () => {
  it("aborts when the signal fires, and at once for one that already fired", () => {
    const signal = new OnceSignal();
    const derived = abortSignalOf(signal);
    expect(derived.aborted).toBe(false);
    signal.abort();
    expect(derived.aborted).toBe(true);
    expect(abortSignalOf(signal).aborted).toBe(true);
  });
});

describe("OnceSignal with many listeners", () => {
  it("runs each once, whichever were removed, and none twice when added twice", () => {
    const signal = new OnceSignal();
    const calls: number[] = [];
    const listeners = [0, 1, 2, 3].map((i) => () => calls.push(i));
    for (const listener of listeners) signal.addEventListener("abort", listener);
    signal.addEventListener("abort", listeners[0]!);
    signal.removeEventListener("abort", listeners[0]!);
    signal.removeEventListener("abort", listeners[2]!);
    signal.abort();
    expect(calls.sort()).toEqual([1, 3]);
  });
});
