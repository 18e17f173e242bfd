/**
 * @sluice/server served by `listen` passes the wire-level conformance suite
 * (@sluice/conformance, every check) on every transport it serves: HTTP/2
 * full duplex, HTTP/1.1 half duplex and WebSocket, binary and JSON. The
 * reference server runs the same suite from its CLI (apps/reference-server);
 * this runs it where the server lives, with the five streams the suite needs
 * built from this package's sources and topics.
 */
import { runConformance, formatResult } from "@sluice/conformance";
import type { JsonObject } from "@sluice/core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SluiceServer, Topic, indexCursor, invalidParam, listen, readSeqCursor, type Listening, type Source, type StreamDefinition } from "../src/index.js";

const encoder = new TextEncoder();
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });

/** Items of `itemBytes` JSON bytes ({"seq","at","pad"}), `perSecond` a second (0: as fast as credit allows), `count` of them (0: endless). */
function generator(itemBytes: number, perSecond: number, count: number): StreamDefinition<{ count: number }> {
  const source: Source<{ count: number }> = {
    cursorAfter: (_params, seq) => indexCursor(seq),
    length: (params) => (params.count > 0 ? params.count : undefined),
    open(params, cursor, { signal, cursorSeq }) {
      const first = readSeqCursor(cursor, cursorSeq) + 1;
      return (async function* () {
        let next = performance.now();
        for (let seq = first; params.count === 0 || seq <= params.count; seq++) {
          if (perSecond > 0) {
            next += 1000 / perSecond;
            if (next > performance.now()) await sleep(next - performance.now(), signal);
            if (signal.aborted) return;
          }
          const head = `{"seq":${seq},"at":${Date.now()},"pad":"`;
          yield { data: encoder.encode(`${head}${"x".repeat(Math.max(0, itemBytes - head.length - 2))}"}`), cursor: indexCursor(seq) };
        }
      })();
    },
  };
  return {
    source,
    params: (params: JsonObject) => {
      for (const name of Object.keys(params)) if (name !== "count") throw invalidParam(name, "unknown parameter (this stream takes count)");
      const asked = params.count ?? count;
      if (typeof asked !== "number" || !Number.isInteger(asked) || asked < 0 || (count > 0 && asked > count)) throw invalidParam("count", `must be an integer from 0 to ${count}, got ${JSON.stringify(asked)}`);
      return { count: asked };
    },
  };
}

function topic(name: string, resumeExpired: "gap" | "fail"): { definition: StreamDefinition; timer: ReturnType<typeof setInterval> } {
  const t = new Topic(name, { historyItems: 50, resumeExpired });
  let n = 0;
  const timer = setInterval(() => t.publish(encoder.encode(JSON.stringify({ n: ++n, at: Date.now() }))), 20);
  return {
    definition: { topic: t, params: (params) => {
      for (const key of Object.keys(params)) throw invalidParam(key, "unknown parameter (this stream takes none)");
      return params;
    } },
    timer,
  };
}

let server: Listening;
const topics = [topic("conformance.topic", "gap"), topic("conformance.topic-strict", "fail")];

beforeAll(async () => {
  const sluice = new SluiceServer({
    streams: {
      "conformance.items": generator(64, 0, 100_000),
      "conformance.large": generator(300_000, 0, 20),
      "conformance.ticks": { ...generator(64, 20, 0), limits: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 600 } },
      "conformance.topic": topics[0]!.definition,
      "conformance.topic-strict": topics[1]!.definition,
    },
  });
  server = await listen(sluice, { port: 0 });
});

afterAll(async () => {
  for (const t of topics) clearInterval(t.timer);
  await server.close();
});

it("passes every conformance check in every mode and codec", async () => {
  const summary = await runConformance({ target: { baseUrl: server.url } });
  const failures = summary.results.filter((r) => !r.ok).map(formatResult);
  expect(failures).toEqual([]);
  for (const mode of ["http2", "http1.1", "websocket"]) for (const codec of ["binary", "json"]) expect(summary.results.some((r) => r.mode === mode && r.codec === codec && r.ok), `${mode}/${codec}`).toBe(true);
  expect(summary.passed).toBeGreaterThan(100);
}, 300_000);
