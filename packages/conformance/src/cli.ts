#!/usr/bin/env node
/**
 * sluice-conformance URL [options]: checks the Sluice server at URL against
 * PROTOCOL.md from the wire; one line per check; exit 0 when all pass, 1
 * when one fails, 2 on a usage error.
 */
import { formatResult, runConformance } from "./runner.js";
import { CODECS, MODES, type Mode } from "./wire/raw-session.js";
import type { Codec } from "./wire/codec.js";

const USAGE = `usage: sluice-conformance URL [--websocket-url URL] [--mode ${MODES.join(",")}] [--codec ${CODECS.join(",")}]
                          [--only PATTERN] [--token TOKEN] [--api-key KEY] [--insecure] [--json]`;

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
    console.log(USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  const baseUrl = argv[0]!;
  const headers: Record<string, string> = {};
  let websocketUrl: string | undefined;
  let modes: Mode[] | undefined;
  let codecs: Codec[] | undefined;
  let only: RegExp | undefined;
  let insecure = false;
  let json = false;
  for (let i = 1; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === "--websocket-url") websocketUrl = value();
    else if (flag === "--mode") modes = value().split(",") as Mode[];
    else if (flag === "--codec") codecs = value().split(",") as Codec[];
    else if (flag === "--only") only = new RegExp(value(), "i");
    else if (flag === "--token") headers.authorization = `Bearer ${value()}`;
    else if (flag === "--api-key") headers["x-api-key"] = value();
    else if (flag === "--insecure") insecure = true;
    else if (flag === "--json") json = true;
    else {
      console.error(`unknown argument ${JSON.stringify(flag)}\n${USAGE}`);
      return 2;
    }
  }
  for (const mode of modes ?? []) if (!MODES.includes(mode)) return usage(`--mode: unknown mode ${JSON.stringify(mode)}`);
  for (const codec of codecs ?? []) if (!CODECS.includes(codec)) return usage(`--codec: unknown codec ${JSON.stringify(codec)}`);
  try {
    new URL(baseUrl);
  } catch {
    return usage(`not a URL: ${JSON.stringify(baseUrl)}`);
  }
  const summary = await runConformance({
    target: { baseUrl, ...(websocketUrl ? { websocketUrl } : {}), ...(Object.keys(headers).length ? { headers } : {}), ...(insecure ? { insecure } : {}) },
    ...(modes ? { modes } : {}),
    ...(codecs ? { codecs } : {}),
    ...(only ? { only } : {}),
    onResult: (result) => {
      if (json) console.log(JSON.stringify(result));
      else console.log(formatResult(result));
    },
  });
  if (!json) console.log(`\n${summary.passed} passed, ${summary.failed} failed`);
  return summary.failed === 0 && summary.passed > 0 ? 0 : 1;
}

function usage(message: string): number {
  console.error(`${message}\n${USAGE}`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
// Sockets of checks that timed out must not keep the process alive.
setTimeout(() => process.exit(process.exitCode ?? 0), 100).unref();
