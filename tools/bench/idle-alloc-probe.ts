/**
 * Where an idle subscription's server heap goes: opens IDLE_SUBS (2 000)
 * idle subscriptions on one HTTP/2 connection while V8's sampling heap
 * profiler runs in the server (idle-alloc-server.ts), and attributes what is
 * still live after GC to the innermost Sluice frame (packages/ or tools/)
 * of the stack that allocated it, per subscription. Objects allocated with
 * no Sluice frame on the stack (Node's http2 internals) are listed by their
 * own innermost frame.
 *
 *   node --import tsx tools/bench/idle-alloc-probe.ts      (IDLE_SUBS, TOP)
 *
 * The sampled total is an estimate (V8 samples allocations on average every
 * 32 bytes); http2-bench.ts's heapUsed delta over 10 000 subscriptions is
 * the figure the goal is measured by.
 */
import { readFileSync } from "node:fs";
import { createSluiceClient } from "@sluice/client-node";
import { startBenchServer } from "./bench-common.js";

const SUBS = Number(process.env.IDLE_SUBS ?? 2_000);
const TOP = Number(process.env.TOP ?? 30);

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly ProfileNode[];
}

const { child, urls } = await startBenchServer<{ url: string }>("./idle-alloc-server.ts", ["--expose-gc"]);
const client = createSluiceClient({ baseUrl: urls.url });
const prof = async () => {
  for await (const e of client.subscribe<{ heapUsed: number }>("prof")) if (e.kind === "item") return e.value.heapUsed;
  throw new Error("no answer from prof");
};
const openIdle = (n: number) => {
  const streams = Array.from({ length: n }, () => client.subscribe("idle", { window: { items: 64, bytes: 65_536 } }));
  return { streams, pending: streams.map((s) => s[Symbol.asyncIterator]().next()) };
};
// Warm-up: the paths compiled, the first-use allocations made.
const warm = openIdle(200);
await new Promise((resolve) => setTimeout(resolve, 2_000));
for (const s of warm.streams) s.cancel();
await Promise.allSettled(warm.pending);

await prof();
const idle = openIdle(SUBS);
await new Promise((resolve) => setTimeout(resolve, 4_000));
await prof();

const { head } = JSON.parse(readFileSync(process.env.PROF_OUT ?? "/tmp/idle-alloc.heapprofile", "utf8")) as { head: ProfileNode };
const bytes = new Map<string, number>();
const short = (url: string) => url.replace(/.*\/(packages|tools)\//, "").replace(/^file:\/\//, "");
const walk = (node: ProfileNode, owner: string | undefined) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const ours = /\/(packages|tools)\//.test(url) && !url.includes("node_modules");
  const here = ours ? `${functionName || "(anonymous)"} ${short(url)}:${lineNumber + 1}` : owner;
  if (node.selfSize > 0) {
    const key = here ?? `(no Sluice frame) ${functionName || "(anonymous)"} ${url.replace(/.*\//, "")}`;
    bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
  }
  for (const c of node.children) walk(c, here);
};
walk(head, undefined);
let total = 0;
for (const b of bytes.values()) total += b;
console.log(`${SUBS} idle subscriptions: sampled live allocations ${(total / SUBS / 1024).toFixed(2)} KiB per subscription`);
for (const [where, b] of [...bytes].sort((x, y) => y[1] - x[1]).slice(0, TOP)) console.log(`${String(Math.round(b / SUBS)).padStart(6)} B  ${where}`);
for (const s of idle.streams) s.cancel();
await Promise.allSettled(idle.pending);
client.close();
child.kill("SIGTERM");
process.exit(0);
