/**
 * What a run shows while it runs: on a terminal, a block redrawn every
 * sample (stage progress, items/s, p99, reconnects, the last chaos event);
 * elsewhere (CI logs, a pipe), one line per sample.
 */
import type { Progress } from "./runner.js";
import type { RunEvent } from "./results.js";

const number = (n: number) => Math.round(n).toLocaleString("en-US");

function bar(done: number, width = 24): string {
  const filled = Math.max(0, Math.min(width, Math.round(done * width)));
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

const faults = (p: Progress) => (p.faultsSoFar === 0 ? "0 ✓" : `${p.faultsSoFar} ✗`);

/** One progress line (also the first line of the terminal block). */
export function progressLine(p: Progress): string {
  const phase = p.phase === "load" ? `${Math.min(p.t, p.loadSeconds).toFixed(0)}/${p.loadSeconds.toFixed(0)} s` : p.phase;
  const stage = p.stage ? ` stage ${p.stage.index}/${p.stage.of}` : "";
  const p99 = p.p99Ms === null ? "p99 -" : `p99 ${p.p99Ms.toFixed(1)} ms`;
  return `${phase}${stage}  delivered ${number(p.deliveredPerSecond)}/s  acked ${number(p.ackedPerSecond)}/s  ${p99}  faults ${faults(p)}  open ${p.subscribersOpen}/${p.subscribers}  reconnects ${p.reconnects}  loadgen cpu ${p.loadgenCpuPercent} %`;
}

/** The live view: redraws in place on a TTY, prints a line per sample otherwise. */
export class LiveView {
  #lines = 0;
  readonly #events: RunEvent[] = [];

  constructor(
    readonly out: NodeJS.WriteStream,
    readonly tty = out.isTTY === true,
  ) {}

  event(e: RunEvent): void {
    this.#events.push(e);
    if (!this.tty) this.out.write(`  t=${e.t.toFixed(1)}s ${e.kind}: ${e.detail}\n`);
  }

  update(p: Progress): void {
    if (!this.tty) {
      this.out.write(`${progressLine(p)}\n`);
      return;
    }
    const done = p.phase === "load" ? p.t / Math.max(1, p.loadSeconds) : 1;
    const lines = [
      `sluice-loadgen  ${bar(done)} ${p.phase}${p.stage ? `, stage ${p.stage.index} of ${p.stage.of}` : ""}`,
      `  delivered  ${number(p.deliveredPerSecond).padStart(10)} items/s    acked ${number(p.ackedPerSecond).padStart(10)} items/s`,
      `  latency    ${p.p99Ms === null ? "         -" : `${p.p99Ms.toFixed(1).padStart(7)} ms`} p99        subscribers open ${p.subscribersOpen}/${p.subscribers}, publishers ${p.publishers}`,
      `  faults     ${faults(p).padStart(10)} (duplicated, reordered, seq)   loss: counted when the load ends`,
      `  reconnects ${String(p.reconnects).padStart(10)}            loadgen cpu ${p.loadgenCpuPercent} %${p.loadgenCpuPercent > 90 ? " (saturated: figures show the loadgen's limit)" : ""}`,
      ...this.#events.slice(-3).map((e) => `  t=${e.t.toFixed(1).padStart(6)} s  ${e.kind}: ${e.detail}`),
      `  Ctrl-C stops and still writes the report`,
    ];
    // Up to the start of the last block, clear it, draw the new one.
    if (this.#lines > 0) this.out.write(`\x1b[${this.#lines}A\x1b[J`);
    this.out.write(`${lines.join("\n")}\n`);
    this.#lines = lines.length;
  }
}
