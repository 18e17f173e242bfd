#!/usr/bin/env node
/**
 * sluice-server [--config FILE] [--port N]   serve (embedded defaults without --config)
 * sluice-server validate FILE [--connect]    check a config and exit 0, or print every problem and exit 1;
 *                                            --connect also checks each source against its service
 * sluice-server dlq replay STREAM [--url URL] [--from SEQ] [--token T] [--api-key K]
 *                                            publish a running server's dead letters again (after a fix);
 *                                            exit 0 when every one was accepted, 1 when some were refused again
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SluiceError } from "@sluice/core";
import { pino } from "pino";
import { ConfigError, loadConfig } from "./config.js";
import { connectProblems } from "./connect-check.js";
import { replayDeadLetters } from "./dlq-replay.js";
import { LogDestination } from "./log-destination.js";
import { startServer } from "./server.js";
import { packageRoot } from "./shipped-files.js";
import { logFormatOf, prettyLine, type LogFormat } from "./log-format.js";

/** How long the last log lines may take to reach a slow reader before the process exits without them. */
const LAST_WORDS_MS = 500;

const USAGE = "usage: sluice-server [--config FILE] [--port N]\n       sluice-server validate FILE [--connect]\n       sluice-server dlq replay STREAM [--url URL] [--from SEQ] [--token T] [--api-key K]";

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--help" || argv[0] === "-h") {
    console.log(USAGE);
    return 0;
  }
  if (argv[0] === "dlq") return dlq(argv.slice(1));
  if (argv[0] === "validate") {
    if (!argv[1]) {
      console.error(USAGE);
      return 2;
    }
    try {
      const { config } = loadConfig(argv[1]);
      if (argv.includes("--connect")) {
        const problems = await connectProblems(config);
        if (problems.length > 0) throw new ConfigError(argv[1], problems);
      }
      console.log(`${argv[1]}: valid (${Object.keys(config.streams).length} streams: ${Object.keys(config.streams).join(", ")})${argv.includes("--connect") ? "; every source answered" : ""}`);
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
  const publicDir = join(packageRoot, "dist", "public");
  // Structured JSON logs on stdout (pino); LOG_LEVEL=debug|info|warn|error.
  // Written so that a log reader that hangs or dies never stops the server (log-destination.ts).
  const logs = new LogDestination(1, Number(process.env.SLUICE_LOG_MAX_QUEUED_BYTES ?? 4 * 1024 * 1024));
  let format: LogFormat;
  try {
    format = logFormatOf(process.env.LOG_FORMAT, process.stdout.isTTY === true);
  } catch (error) {
    console.error(`sluice-server: ${(error as Error).message}`);
    return 2;
  }
  const destination = format === "pretty" ? { write: (line: string) => logs.write(prettyLine(line)) } : logs;
  const log = pino({ level: process.env.LOG_LEVEL ?? "info", base: { service: "sluice-server" } }, destination);
  // A write to a closed stdout or stderr must not crash the server: logging is lost, serving is not.
  process.stdout.on("error", () => undefined);
  process.stderr.on("error", () => undefined);
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(loaded.config, loaded.baseDir, publicDir, log, logs.stats);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 1;
    }
    // A topic engine that cannot be reached (NATS down): one line naming it.
    if (error instanceof SluiceError && error.code === "unavailable") {
      console.error(`sluice-server: ${error.message}`);
      return 1;
    }
    // The usual reasons a port cannot be had, in one line instead of a stack trace.
    const { code, port } = error as NodeJS.ErrnoException & { port?: number };
    const at = `${loaded.config.server.host}:${port ?? loaded.config.server.port}`;
    if (code === "EADDRINUSE") console.error(`sluice-server: cannot listen on ${at}: the port is in use (another process listens there; pick another with --port or server.port)`);
    else if (code === "EACCES") console.error(`sluice-server: cannot listen on ${at}: permission denied (ports below 1024 need privileges)`);
    else if (code === "EADDRNOTAVAIL") console.error(`sluice-server: cannot listen on ${at}: no such address on this machine (server.host)`);
    else throw error;
    return 1;
  }
  log.info({ url: server.url, streams: Object.keys(loaded.config.streams), page: `${server.url}/` }, "listening");
  // One human line for people who ran `npm start`.
  const websocket = server.url.replace(/^http/, "ws");
  process.stderr.write(
    [
      `Sluice reference server: open ${server.url}/`,
      `  streams:    ${Object.keys(loaded.config.streams).join(", ")}`,
      `  transports: Connect over ${server.url.startsWith("https") ? "HTTP/2 and HTTP/1.1 (TLS)" : "HTTP/2 (h2c) and HTTP/1.1"} at ${server.url}, WebSocket at ${websocket}/connect`,
      `  logs:       ${format === "pretty" ? "pretty" : "JSON"} on stdout (LOG_FORMAT=${format}, LOG_LEVEL=${process.env.LOG_LEVEL ?? "info"}); metrics at ${server.url}/metrics`,
      "",
    ].join("\n"),
  );
  const shutdown = (signal: string) => {
    const graceMs = loaded.config.server.shutdownGraceMs;
    log.info({ signal, graceMs }, "shutting down");
    // Whatever happens below, the process ends soon after its grace time.
    setTimeout(() => process.exit(1), graceMs + LAST_WORDS_MS + 500);
    void server.stop().then(async ({ drained, ended }) => {
      log.info({ sessionsDrained: drained, allEndedInTime: ended, logLinesDropped: logs.stats.dropped }, "stopped");
      await logs.flush(LAST_WORDS_MS);
      process.exit(0);
    });
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  return -1; // keep running
}

/** `dlq replay STREAM [flags]`. */
async function dlq(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { url: { type: "string" }, from: { type: "string" }, token: { type: "string" }, "api-key": { type: "string" } } });
  } catch (error) {
    console.error(`sluice-server dlq: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command, stream, ...rest] = parsed.positionals;
  if (command !== "replay" || !stream || rest.length > 0) {
    console.error(USAGE);
    return 2;
  }
  const { url = "http://127.0.0.1:8080", from, token, "api-key": apiKey } = parsed.values;
  const first = from === undefined ? undefined : Number(from);
  if (first !== undefined && !(Number.isSafeInteger(first) && first >= 1)) {
    console.error(`sluice-server dlq: --from must be a seq (an integer from 1), got ${from}`);
    return 2;
  }
  try {
    const result = await replayDeadLetters({
      url,
      stream,
      ...(first !== undefined ? { from: first } : {}),
      client: { ...(token !== undefined ? { token } : {}), ...(apiKey !== undefined ? { apiKey } : {}) },
      report: (line) => console.log(line),
    });
    return result.deadLetteredAgain > 0 ? 1 : 0;
  } catch (error) {
    if (!(error instanceof SluiceError)) throw error;
    console.error(`sluice-server dlq: ${error.code}: ${error.message}`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
