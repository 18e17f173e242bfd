import type { StreamCounters } from "@sluice/core";
import type { SessionView } from "@sluice/driver";
import { describe, expect, it } from "vitest";
import { BufferBudget } from "./buffer-budget.js";

/** Sessions whose bufferedBytes reads are counted: the cost of a walk. */
function countedViews(n: number, bytesEach: number) {
  const reads = { count: 0 };
  const views: SessionView[] = Array.from({ length: n }, () => ({
    stream: "s",
    counters: {} as StreamCounters,
    get bufferedBytes() {
      reads.count++;
      return bytesEach;
    },
  }));
  return { views, reads };
}

/** A budget with `n` counted sessions on one connection (walks counted from here on). */
function connectionOf(n: number, bytesEach: number, maxConnectionBytes = 2 ** 40) {
  const budget = new BufferBudget(2 ** 40, maxConnectionBytes);
  const connection = {};
  const { views, reads } = countedViews(n, bytesEach);
  for (const view of views) budget.add(view, connection);
  reads.count = 0;
  return { budget, connection, reads };
}

describe("BufferBudget", () => {
  it("walks 10 000 sessions of one connection at most once per 50 ms however often they ask to pull (an idle session asks at each heartbeat)", () => {
    const { budget, connection, reads } = connectionOf(10_000, 10);
    // As often as 20 000 asks come, however long they take on a loaded machine.
    const start = performance.now();
    let refused = 0;
    for (let i = 0; i < 20_000; i++) if (!budget.mayPull(connection)) refused++;
    const periods = Math.floor((performance.now() - start) / 50) + 1;
    expect(refused).toBe(0);
    // At most one walk of the connection and one of the server per 50 ms period (5 µs a session); a walk per ask would be 10 000 times that.
    expect(reads.count).toBeLessThanOrEqual(2 * periods * 10_000);
    expect(reads.count).toBeGreaterThanOrEqual(2 * 10_000);
  });

  it("admits a connection's 10 001st session on the cached sum, not a walk per admission", () => {
    const { budget, connection, reads } = connectionOf(10_000, 10);
    for (let i = 0; i < 300; i++) budget.admit(65_536, connection);
    expect(reads.count).toBeLessThanOrEqual(2 * 10_000);
  });

  it("admits exactly on a connection with few sessions: what they consumed counts at once", () => {
    const budget = new BufferBudget(2 ** 40, 1_000_000);
    const connection = {};
    let held = 900_000;
    const view: SessionView = {
      stream: "s",
      counters: {} as StreamCounters,
      get bufferedBytes() {
        return held;
      },
    };
    budget.add(view, connection);
    expect(() => budget.admit(200_000, connection)).toThrow(/connection budget/);
    held = 100_000; // the client consumed
    expect(() => budget.admit(200_000, connection)).not.toThrow();
  });

  it("refuses on the cached sum beyond 256 sessions, which only overestimates: pulls count at once, consumption at the next walk", () => {
    const { budget, connection } = connectionOf(300, 1_000, 1_000_000);
    expect(() => budget.admit(600_000, connection)).not.toThrow(); // 300 000 held
    budget.pulled(200_000, connection);
    expect(() => budget.admit(600_000, connection)).toThrow(/connection budget: sessions hold 0.5 MiB/);
  });
});
