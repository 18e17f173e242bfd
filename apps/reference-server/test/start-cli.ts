/** Starts the built CLI (dist/cli.js) as a child process and waits until it listens. */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

export interface StartedCli {
  readonly child: ChildProcess;
  readonly url: string;
  /** Every line it printed (stdout and stderr), as it prints them. */
  readonly output: string[];
}

/**
 * Port 0 unless `env.SLUICE_PORT` says otherwise; resolves with the URL from its "listening" log line.
 * `script` is the CLI to run (the single-file build, for one), `cwd` where.
 */
export async function startCli(args: string[], env: Record<string, string> = {}, { script = cli, cwd }: { script?: string; cwd?: string } = {}): Promise<StartedCli> {
  const child = spawn(process.execPath, [script, ...args], { cwd, env: { ...process.env, SLUICE_PORT: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => output.push(line));
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`exited with ${code}: ${output.join("\n")}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(line);
      if (line.startsWith("{")) {
        const message = JSON.parse(line) as { url?: string };
        if (message.url) resolve(message.url);
      }
    });
  });
  return { child, url, output };
}
