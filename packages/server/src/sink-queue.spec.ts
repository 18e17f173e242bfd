/** The ingest queue in front of a sink (PROTOCOL.md §3.4 rule 10): concurrency, turns by priority, and each overflow policy. */
import { Priority, SluiceError } from "@sluice/core";
import { describe, expect, it } from "vitest";
import { SinkQueue, type SinkQueueResult } from "./sink-queue.js";

/** A write that finishes when the test says so, recording when it started. */
function gate(log: string[], name: string) {
  let open!: () => void;
  const done = new Promise<void>((resolve) => (open = resolve));
  return {
    write: async () => {
      log.push(name);
      await done;
      return name;
    },
    open: () => open(),
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("SinkQueue", () => {
  it("runs at most `concurrency` writes at once, then the waiting ones by priority, CRITICAL first", async () => {
    const log: string[] = [];
    const queue = new SinkQueue("orders", { concurrency: 1 });
    const first = gate(log, "first");
    const running = queue.run(1, Priority.LOW, first.write);
    const later = (["low", "normal", "high", "critical"] as const).map((name, i) => {
      const g = gate(log, name);
      g.open();
      return queue.run(1, (3 - i) as Priority, g.write);
    });
    await settle();
    expect(log).toEqual(["first"]);
    expect(queue.running).toBe(1);
    expect(queue.waitingAt(Priority.CRITICAL) + queue.waitingAt(Priority.LOW)).toBe(2);
    first.open();
    await Promise.all([running, ...later]);
    expect(log).toEqual(["first", "critical", "high", "normal", "low"]);
  });

  it("gives LOW its turns under a steady flow of CRITICAL (8:4:2:1)", async () => {
    const log: string[] = [];
    const queue = new SinkQueue("orders", { concurrency: 1 });
    const first = gate(log, "first");
    const runs: Promise<unknown>[] = [queue.run(1, Priority.NORMAL, first.write)];
    for (let i = 0; i < 20; i++) runs.push(queue.run(1, Priority.CRITICAL, async () => log.push("c")));
    for (let i = 0; i < 2; i++) runs.push(queue.run(1, Priority.LOW, async () => log.push("l")));
    first.open();
    await Promise.all(runs);
    // One round is 8 CRITICAL turns and 1 LOW: LOW does not wait for all 20.
    expect(log.slice(1, 10).join("")).toBe("ccccccccl");
  });

  it("drop_newest: a batch arriving at a full queue is dropped, named and counted by level", async () => {
    const log: string[] = [];
    const queue = new SinkQueue("orders", { concurrency: 1, capacity: 1, overflow: "drop_newest" });
    const first = gate(log, "first");
    const running = queue.run(3, Priority.NORMAL, first.write);
    const queued = queue.run(3, Priority.NORMAL, async () => "queued");
    const dropped = await queue.run(5, Priority.HIGH, async () => "never");
    expect(dropped).toEqual({ kind: "dropped", reason: "the ingest queue of orders is full (1 batches waiting for its sink): the drop_newest policy dropped this high batch" });
    expect(queue.droppedItems).toEqual([0, 5, 0, 0]);
    first.open();
    expect(await running).toEqual({ kind: "written", value: "first" });
    expect(await queued).toEqual({ kind: "written", value: "queued" });
  });

  it("drop_oldest: evicts the oldest batch of the least important level, never a more important one than the newcomer", async () => {
    const log: string[] = [];
    const queue = new SinkQueue("orders", { concurrency: 1, capacity: 1, overflow: "drop_oldest" });
    const first = gate(log, "first");
    const running = queue.run(1, Priority.NORMAL, first.write);
    const low = queue.run(2, Priority.LOW, async () => "low");
    const critical = queue.run(4, Priority.CRITICAL, async () => "critical");
    expect(await low).toMatchObject({ kind: "dropped", reason: expect.stringContaining("the drop_oldest policy dropped this low batch for a critical one") });
    // A LOW newcomer cannot evict the CRITICAL batch: it is dropped itself.
    expect(await queue.run(1, Priority.LOW, async () => "late")).toMatchObject({ kind: "dropped" });
    expect(queue.droppedItems).toEqual([0, 0, 0, 3]);
    first.open();
    await running;
    expect(await critical).toEqual({ kind: "written", value: "critical" });
  });

  it("error: a batch arriving at a full queue fails, retryable, so its publisher backs off and sends it again", async () => {
    const log: string[] = [];
    const queue = new SinkQueue("orders", { concurrency: 1, capacity: 1, overflow: "error" });
    const first = gate(log, "first");
    const running = queue.run(1, Priority.NORMAL, first.write);
    const queued = queue.run(1, Priority.NORMAL, async () => "queued");
    const refused = await queue.run(1, Priority.CRITICAL, async () => "never").catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SluiceError);
    expect(refused).toMatchObject({ code: "unavailable", retryable: true, message: "the ingest queue of orders is full (1 batches waiting for its sink): publish again later (overflow policy error)" });
    first.open();
    await Promise.all([running, queued]);
  });

  it("block: a batch waits for room, and the most important waiting batch gets in first", async () => {
    const log: string[] = [];
    const queue = new SinkQueue("orders", { concurrency: 1, capacity: 1, overflow: "block" });
    const first = gate(log, "first");
    const results: Promise<SinkQueueResult<string>>[] = [queue.run(1, Priority.NORMAL, first.write)];
    results.push(queue.run(1, Priority.NORMAL, async () => (log.push("queued"), "queued")));
    results.push(queue.run(1, Priority.LOW, async () => (log.push("blocked low"), "blocked low")));
    results.push(queue.run(1, Priority.HIGH, async () => (log.push("blocked high"), "blocked high")));
    await settle();
    expect(queue.waitingAt(Priority.LOW) + queue.waitingAt(Priority.HIGH) + queue.waitingAt(Priority.NORMAL)).toBe(3);
    first.open();
    const all = await Promise.all(results);
    expect(all.every((result) => result.kind === "written")).toBe(true);
    // The queued batch had the room first; of the blocked ones, HIGH gets in before LOW though it came later.
    expect(log).toEqual(["first", "queued", "blocked high", "blocked low"]);
    expect(queue.droppedItems).toEqual([0, 0, 0, 0]);
  });

  it("passes a failed write's error to its batch and goes on with the next", async () => {
    const queue = new SinkQueue("orders", { concurrency: 1 });
    const failing = queue.run(1, Priority.NORMAL, async () => {
      throw new Error("disk full");
    });
    const next = queue.run(1, Priority.NORMAL, async () => "next");
    await expect(failing).rejects.toThrow("disk full");
    expect(await next).toEqual({ kind: "written", value: "next" });
  });

  it("refuses settings no queue can run under, naming the field", () => {
    expect(() => new SinkQueue("orders", { concurrency: 0 })).toThrow("stream orders: publish.queue.concurrency must be a positive integer, got 0");
    expect(() => new SinkQueue("orders", { capacity: 0 })).toThrow("stream orders: publish.queue: queue capacity must be a positive integer, got 0");
  });
});
