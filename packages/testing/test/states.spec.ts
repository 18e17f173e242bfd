/**
 * A subscription's connection states (issue 16, Socket.IO's connection
 * events) on the virtual clock: the whole life of a stream that is cut
 * twice, and the end of one that cannot succeed.
 */
import type { SubscriptionState } from "@sluice/driver";
import { SluiceError } from "@sluice/core";
import { describe, expect, it } from "vitest";
import { createPair } from "../src/index.js";

const item = (n: number) => new Uint8Array([n % 256]);
const brief = (s: SubscriptionState) => {
  switch (s.state) {
    case "connecting":
      return `connecting ${s.attempt}`;
    case "reconnecting":
      return `reconnecting ${s.attempt} in ${s.delayMs} ms (${s.error.code})`;
    case "resumed":
      return `resumed after ${s.resume.requestedSeq}`;
    case "failed":
      return `failed ${s.error.code}`;
    case "closed":
      return `closed ${s.reason}`;
    default:
      return s.state;
  }
};

describe("subscription states", () => {
  it("connecting → open → reconnecting → connecting → resumed … → closed, with attempts, delays and the error", async () => {
    const seen: string[] = [];
    const pair = createPair({
      source: (open) =>
        (async function* () {
          for (let n = (open.resume?.seq ?? 0) + 1; n <= 100; n++) yield { data: item(n) };
        })(),
      // A fixed jitter: with Math.random a draw below 0.01 made the first delay 0 ms, and the retry ran before the check of "reconnecting".
      subscription: { window: { items: 8, bytes: 1 << 16 }, backoff: { initialMs: 100, maxMs: 100 }, random: () => 0.5, onState: (s) => seen.push(brief(s)) },
    });
    const events = pair.subscription[Symbol.asyncIterator]();
    const seqs: number[] = [];
    const take = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await events.next();
        if (!r.done && r.value.kind === "item") seqs.push(r.value.seq);
      }
    };
    await take(10);
    expect(pair.subscription.state.state).toBe("open");
    pair.break();
    await pair.clock.advance(0);
    expect(pair.subscription.state).toMatchObject({ state: "reconnecting", attempt: 1, error: { code: "unavailable" } });
    await pair.clock.advance(100);
    await take(10);
    pair.break();
    await pair.clock.advance(100);
    for (let r = await events.next(); !r.done; r = await events.next()) if (r.value.kind === "item") seqs.push(r.value.seq);
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(seen.map((s) => s.replace(/in \d+(\.\d+)? ms/, "in D ms"))).toEqual([
      "connecting 1",
      "open",
      "reconnecting 1 in D ms (unavailable)",
      "connecting 2",
      expect.stringMatching(/^resumed after \d+$/),
      "reconnecting 1 in D ms (unavailable)",
      "connecting 2",
      expect.stringMatching(/^resumed after \d+$/),
      "closed ended",
    ]);
    expect(pair.subscription.state).toEqual({ state: "closed", reason: "ended" });
  });

  it("ends in failed with the error iteration throws, and every listener hears it; a throwing listener breaks nothing", async () => {
    const pair = createPair({
      source: () => {
        throw new SluiceError("permission_denied", "not for you", { blame: "remote" });
      },
      subscription: {
        onState: () => {
          throw new Error("a listener's bug");
        },
      },
    });
    const heard: string[] = [];
    const stop = pair.subscription.onStateChange((s) => heard.push(brief(s)));
    const error = await (async () => {
      try {
        for await (const _ of pair.subscription) void _;
      } catch (e) {
        return e as SluiceError;
      }
    })();
    expect(error?.code).toBe("permission_denied");
    expect(heard).toEqual(["connecting 1", "failed permission_denied"]);
    expect(pair.subscription.state).toMatchObject({ state: "failed", error: { code: "permission_denied" } });
    stop();
  });

  it("closes as cancelled when the app cancels", async () => {
    const pair = createPair({ source: () => (async function* () { for (let n = 1; ; n++) yield { data: item(n) }; })() });
    const events = pair.subscription[Symbol.asyncIterator]();
    await events.next();
    pair.subscription.cancel();
    await pair.clock.advance(2_000);
    for (let r = await events.next(); !r.done; r = await events.next()) void r;
    expect(pair.subscription.state).toEqual({ state: "closed", reason: "cancelled" });
  });
});
