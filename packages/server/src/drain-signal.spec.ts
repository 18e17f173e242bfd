import { describe, expect, it } from "vitest";
import { DrainSignal } from "./drain-signal.js";

describe("DrainSignal", () => {
  it("runs each listener once at abort, and none that was removed or came after", () => {
    const drain = new DrainSignal();
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
