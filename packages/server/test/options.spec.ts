import { describe, expect, it } from "vitest";
import { SluiceServer, fromIterable } from "../src/index.js";

const numbers = { source: fromIterable(() => [1, 2, 3]) };

describe("SluiceServer options", () => {
  it("refuses server-wide limits no session could run under, naming the limit", () => {
    expect(() => new SluiceServer({ streams: { numbers }, limits: { heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 5_000 } })).toThrow(
      /^limits\.heartbeatTimeoutMs: heartbeat timeout 5000 ms must exceed a positive interval 5000 ms$/,
    );
    expect(() => new SluiceServer({ streams: { numbers }, limits: { maxWindowItems: 0 } })).toThrow(/^limits\.maxWindowItems: must be at least 1, got 0$/);
  });

  it("refuses a stream's limits that, over the server's, no session could run under, naming the stream", () => {
    expect(() => new SluiceServer({ streams: { numbers: { ...numbers, limits: { heartbeatTimeoutMs: 1_000 } } } })).toThrow(
      /^streams\.numbers\.limits\.heartbeatTimeoutMs: heartbeat timeout 1000 ms must exceed a positive interval 5000 ms$/,
    );
  });

  it("accepts limits that can work", () => {
    expect(new SluiceServer({ streams: { numbers }, limits: { heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 3_000 } }).limits.heartbeatTimeoutMs).toBe(3_000);
  });
});
