#!/usr/bin/env node
/**
 * sluice-server [--config FILE] [--port N]   serve (embedded defaults without --config)
 * sluice-server validate FILE                check a config and exit 0, or print every problem and exit 1
 */
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { ConfigError, loadConfig } from "./config.js";
import { startServer } from "./server.js";

const USAGE = "usage: sluice-server [--config FILE] [--port N]\n       sluice-server validate FILE";

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--help" || argv[0] === "-h") {
    console.log(USAGE);
    return 0;
  }
  if (argv[0] === "validate") {
    if (!argv[1]) {
      console.error(USAGE);
      return 2;
    }
    try {
      const { config } = loadConfig(argv[1]);
      console.log(`${argv[1]}: valid (${Object.keys(config.streams).length} streams: ${Object.keys(config.streams).join(", ")})`);
      return 0;
    } catch (error) {
      if (error instanceof ConfigError) {
        console.error(error.message);
        return 1;
      }
      throw error;
    }
  }
  let configPath: string | undefined;
  const env = { ...process.env };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--config") configPath = argv[++i];
    else if (argv[i] === "--port") env.SLUICE_PORT = argv[++i];
    else {
      console.error(`unknown argument ${JSON.stringify(argv[i])}\n${USAGE}`);
      return 2;
    }
  }
  let loaded;
  try {
    loaded = loadConfig(configPath, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  const publicDir = fileURLToPath(new URL("./public", import.meta.url));
  // Structured JSON logs on stdout (pino); LOG_LEVEL=debug|info|warn|error.
  const log = pino({ level: process.env.LOG_LEVEL ?? "info", base: { service: "sluice-server" } });
  const server = await startServer(loaded.config, loaded.baseDir, publicDir, log);
  log.info({ url: server.url, streams: Object.keys(loaded.config.streams), page: `${server.url}/` }, "listening");
  // One human line for people who ran `npm start`.
  process.stderr.write(`Sluice reference server: open ${server.url}/ (streams: ${Object.keys(loaded.config.streams).join(", ")})\n`);
  const shutdown = (signal: string) => {
    log.info({ signal, graceMs: loaded.config.server.shutdownGraceMs }, "shutting down");
    void server.stop().then(({ drained, ended }) => {
      log.info({ sessionsDrained: drained, allEndedInTime: ended }, "stopped");
      log.flush();
      process.exit(0);
    });
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  return -1; // keep running
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
