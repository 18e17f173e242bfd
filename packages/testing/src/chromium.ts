/**
 * The browser harness: Debian's Chromium driven by playwright-core
 * (`npx playwright install` cannot download browsers on this project's
 * machines, so the system binary is used).
 */
import { spawnSync } from "node:child_process";
import { chromium, type Browser } from "playwright-core";

/** Headless, no sandbox (containers run as root), no GPU, no background traffic. */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"] as const;

/**
 * The Chromium binary ($CHROMIUM_PATH, else chromium / chromium-browser /
 * google-chrome on the PATH), or undefined after a loud warning naming the
 * suite that will skip. `.ci/run` installs Chromium, so CI never skips.
 */
export function findChromium(suite: string): string | undefined {
  const path = process.env.CHROMIUM_PATH ?? ["chromium", "chromium-browser", "google-chrome"].map((name) => spawnSync("which", [name], { encoding: "utf8" }).stdout.trim()).find(Boolean);
  if (!path) console.warn(`\n!!! ${suite} SKIPPED: no Chromium found (apt-get install -y chromium, or set CHROMIUM_PATH) !!!\n`);
  return path;
}

export function launchChromium(executablePath: string, extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath, args: [...CHROMIUM_ARGS, ...extraArgs] });
}
