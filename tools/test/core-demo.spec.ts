/** `npm run demo:core` does what the README says: every item once, in order, across two dropped connections. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

it("runs the demo to the end: 30 000 items exactly once, in order, across 2 reconnects", async () => {
  const root = join(import.meta.dirname, "..", "..");
  const child = spawn(process.execPath, ["--conditions=@sluice/source", "--import", "tsx", "tools/demo/core-demo.ts"], { cwd: root, env: { ...process.env, SLUICE_DEMO_ITEMS: "30000", FORCE_COLOR: "0" }, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  expect(out).toMatch(/connection dropped after item 10000[\s\S]*resumed after seq \d+ \(session 2\)[\s\S]*connection dropped after item 20000[\s\S]*resumed after seq \d+ \(session 3\)/);
  expect(out).toMatch(/Sluice core demo: 30,000 of 30,000 items exactly once, in order, across 2 reconnects/);
  expect(code).toBe(0);
});
