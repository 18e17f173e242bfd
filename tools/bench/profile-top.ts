/**
 * The top frames of V8 CPU profiles (`node --cpu-prof`), by self time, as
 * BENCHMARKS.md reports them: where a process spent its time, idle and GC
 * included.
 *
 *   node --import tsx tools/bench/profile-top.ts <file.cpuprofile>... [--top 15] [--last 20]
 *
 * `--last S` counts only the last S seconds of each profile: the steady
 * phase of a probe whose set-up came first (the idle-CPU probe's 10 000
 * subscriptions being opened).
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const args = process.argv.slice(2);
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args[topAt + 1]) : 15;
const lastAt = args.indexOf("--last");
const lastUs = lastAt >= 0 ? Number(args[lastAt + 1]) * 1e6 : Infinity;
// A flag and the value after it are not files (an absent flag excludes nothing).
const files = args.filter((a, i) => a !== "--top" && a !== "--last" && (topAt < 0 || i !== topAt + 1) && (lastAt < 0 || i !== lastAt + 1));

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const span = profile.timeDeltas.reduce((sum, dt) => sum + dt, 0);
  let elapsed = 0;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    elapsed += dt;
    if (span - elapsed > lastUs) return;
    total += dt;
    const frame = byId.get(id)!.callFrame;
    const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|packages)\//, "$1/")}:${frame.lineNumber + 1}` : "";
    const key = `${frame.functionName || "(anonymous)"} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`);
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${key}`);
}
