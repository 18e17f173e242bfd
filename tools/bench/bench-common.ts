/**
 * What the transport benchmarks share: the item cases, the server child
 * process, the payload and the median.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { bytes, createSluiceClient, type NodeClientOptions } from "@sluice/client-node";

/** Runs per case (BENCH_RUNS, default 5). */
export const RUNS = Number(process.env.BENCH_RUNS ?? 5);

/**
 * Runs per case before the counted ones (BENCH_WARMUP, default 1), for
 * every peer alike: the first run of a size pays for V8 compiling the hot
 * paths of that size, which a 0.1–0.4 s run does not amortize.
 */
export const WARMUP_RUNS = Number(process.env.BENCH_WARMUP ?? 1);

const ALL_CASES = [
  { size: 64, count: 300_000 },
  { size: 1024, count: 100_000 },
  { size: 16 * 1024, count: 10_000 },
  { size: 64 * 1024, count: 3_000 },
];

/** The item cases; BENCH_SIZES=16384 keeps only that size (profiling). */
export const CASES = (() => {
  const sizes = process.env.BENCH_SIZES?.split(",").map(Number);
  return sizes ? ALL_CASES.filter((c) => sizes.includes(c.size)) : ALL_CASES;
})();

/**
 * Starts a bench server script (next to this file) in its own process, so
 * client and server each get a core, and returns the JSON line it prints.
 * BENCH_SERVER_ARGS passes node flags to it (e.g. --cpu-prof).
 */
export async function startBenchServer<T>(script: string, nodeArgs: string[] = []): Promise<{ child: ChildProcess; urls: T }> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child = spawn(process.execPath, [...nodeArgs, ...(process.env.BENCH_SERVER_ARGS?.split(" ") ?? []), ...process.execArgv, path], { stdio: ["ignore", "pipe", "inherit"] });
  // The first line that is a JSON object is the server's answer; anything else it prints (node's
  // --trace-gc, say) goes on to stderr, and stdout is read to the end so the server never blocks on it.
  let text = "";
  for (;;) {
    const [piece] = (await once(child.stdout!, "data")) as [Buffer];
    text += piece.toString();
    const lines = text.split("\n");
    text = lines.pop()!;
    const answer = lines.find((line) => line.startsWith("{"));
    for (const line of lines) if (line !== answer) process.stderr.write(`${line}\n`);
    if (answer) {
      if (text) process.stderr.write(text);
      child.stdout!.on("data", (more: Buffer) => process.stderr.write(more));
      return { child, urls: JSON.parse(answer) as T };
    }
  }
}

/** JSON-like text rows cut to `size`, so compression sees realistic (not all-zero) data. */
export function payload(size: number): Uint8Array {
  let text = "";
  for (let i = 0; text.length < size; i++) text += JSON.stringify({ id: 100_000 + i * 7919, name: `row-${(i * 2654435761) % 1_000_003}`, value: ((i * 48271) % 2147483647) / 2147483647 }) + "\n";
  return new TextEncoder().encode(text.slice(0, size));
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * One Sluice run: `count` items of `size` bytes from the bench server's
 * "items" stream (window 65 536 items / 8 MiB); returns milliseconds.
 */
export async function sluiceRun(client: NodeClientOptions, size: number, count: number): Promise<number> {
  const sluice = createSluiceClient(client);
  const start = performance.now();
  let n = 0;
  for await (const e of sluice.subscribe("items", { params: { count, size }, codec: bytes(), window: { items: 65_536, bytes: 8 << 20 } })) if (e.kind === "item") n++;
  const ms = performance.now() - start;
  sluice.close();
  if (n !== count) throw new Error(`sluice: ${n} of ${count}`);
  return ms;
}

/**
 * sluiceRun that also checks every item: exactly `count` items, each of
 * exactly `size` bytes (throws otherwise); returns milliseconds.
 */
export async function sluiceCheckedRun(client: NodeClientOptions, size: number, count: number): Promise<number> {
  const sluice = createSluiceClient(client);
  const start = performance.now();
  let n = 0;
  let wrongSize = 0;
  for await (const e of sluice.subscribe("items", { params: { count, size }, codec: bytes(), window: { items: 65_536, bytes: 8 << 20 } })) {
    if (e.kind !== "item") continue;
    n++;
    if (e.value.byteLength !== size) wrongSize++;
  }
  const ms = performance.now() - start;
  sluice.close();
  if (n !== count || wrongSize) throw new Error(`sluice: ${n} of ${count} items, ${wrongSize} not of ${size} bytes`);
  return ms;
}

/** The contenders of a bench that BENCH_PEERS (a comma list of keys) names, all by default; and the set of their keys. */
export function selectContenders<K extends string, C extends { readonly key: K }>(all: readonly C[]): { active: C[]; peers: Set<K> } {
  const peers = new Set((process.env.BENCH_PEERS ?? all.map((c) => c.key).join(",")).split(",") as K[]);
  return { active: all.filter((c) => peers.has(c.key)), peers };
}

/** A progress line on stderr, prefixed with the bench's name (stdout carries the results). */
export const benchLog = (bench: string) => (line: string) => process.stderr.write(`[${bench}] ${line}\n`);

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Milliseconds since the epoch, with performance.now()'s resolution (comparable across processes). */
export const wallClock = () => performance.timeOrigin + performance.now();

/** `promise`, or a rejection naming `what` after `ms`: a bench never hangs. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A bench's life: set up, run its steps in order, always clean up (whatever failed), and exit 0, or 1 naming the failure. */
export async function runBench(log: (line: string) => void, setup: () => Promise<void>, steps: readonly (() => void | Promise<void>)[], cleanup: () => Promise<void>): Promise<never> {
  try {
    await setup();
    for (const step of steps) await step();
  } catch (error) {
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await cleanup();
    process.exit(1);
  }
  await cleanup();
  process.exit(0);
}

/**
 * Full GCs (the process needs --expose-gc; without it, nothing), three with
 * a 50 ms turn between, so weak callbacks and freed backing stores are in
 * before a heap figure is read.
 */
export async function collectGarbage(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
