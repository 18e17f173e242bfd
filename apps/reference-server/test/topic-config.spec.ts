/**
 * A topic's configured history bounds reach the engine (README, "Sources"):
 * count, bytes and age, and unbounded bytes and age when not set.
 */
import { expect, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { buildStreams } from "../src/streams.js";

it("builds topics with the configured history bounds, and refuses bounds that are not positive", async () => {
  const config = parseConfig(
    {
      streams: {
        bounded: { source: { type: "topic", historyItems: 500, historyBytes: 1_048_576, historyMaxAgeMs: 60_000 } },
        plain: { source: { type: "topic" } },
      },
    },
    "spec",
  );
  const built = await buildStreams(config, ".");
  try {
    expect(built.topics.get("bounded")!.history).toEqual({ maxItems: 500, maxBytes: 1_048_576, maxAgeMs: 60_000 });
    expect(built.topics.get("plain")!.history).toEqual({ maxItems: 10_000, maxBytes: Infinity, maxAgeMs: Infinity });
  } finally {
    await built.stop();
  }
  expect(() => parseConfig({ streams: { t: { source: { type: "topic", historyMaxAgeMs: 0 } } } }, "spec")).toThrow(/streams\.t\.source\.historyMaxAgeMs/);
});
