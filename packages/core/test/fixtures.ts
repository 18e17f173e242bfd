/** Shared fixtures of core's unit specs. */
import { expect } from "vitest";
import { SluiceError } from "../src/errors.js";
import type { Limits, OpenFrame } from "../src/frames.js";

/** Small limits with a 1 s heartbeat (timeout 3 s). */
export const testLimits: Limits = {
  maxFrameBytes: 1 << 20,
  maxItemBytes: 1 << 16,
  maxWindowItems: 100,
  maxWindowBytes: 1 << 20,
  heartbeatIntervalMs: 1_000,
  heartbeatTimeoutMs: 3_000,
};

/** An Open of stream "books" with a window of 4 items / 1 000 bytes. */
export const openFrame = (overrides: Partial<OpenFrame> = {}): OpenFrame => ({
  type: "open",
  stream: "books",
  params: {},
  window: { items: 4, bytes: 1_000 },
  heartbeatIntervalMs: 0,
  clientInfo: "spec",
  ...overrides,
});

/** The SluiceError `fn` throws (the test fails if it throws nothing, or something else). */
export function thrown(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SluiceError);
    return error as SluiceError;
  }
  throw new Error("expected a SluiceError");
}
