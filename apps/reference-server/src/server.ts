/**
 * Starts the reference server from a validated config: one port for
 * Connect over HTTP/1.1 (half duplex), h2c (full duplex) and WebSocket, the
 * example page at /, /healthz and /readyz. Stops gracefully: sessions are
 * told UNAVAILABLE with a retry hint, so clients resume elsewhere.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { SluiceError, SluiceServer, listen, type Listening } from "@sluice/server-node";
import { NatsControlRelay } from "@sluice/topic-nats";
import { pino, type Logger } from "pino";
import { ConfigError, type Config } from "./config.js";
import { createAuthorizer } from "./auth.js";
import { createMetrics, type LogCounts } from "./metrics.js";
import { buildStreams, describeStreams, type StreamDescription } from "./streams.js";
import { readFile } from "./shipped-files.js";

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Drains sessions (UNAVAILABLE, retryable) for at most `graceMs`, then closes. Resolves with the sessions drained. */
  stop(graceMs?: number): Promise<{ drained: number; ended: boolean }>;
}

const PUBLIC_FILES: Record<string, string> = { "/": "index.html", "/index.html": "index.html", "/main.js": "main.js" };

/** `limits` keys that are not session Limits: they go to listen() and the server's buffer budget. */
const LISTEN_AND_BUDGET_KEYS = new Set(["maxConnections", "maxStreamsPerConnection", "maxBufferedBytes", "maxConnectionBufferedBytes"]);

export async function startServer(config: Config, baseDir: string, publicDir: string, log: Logger = pino({ level: "silent" }), logCounts?: LogCounts): Promise<RunningServer> {
  const metrics = createMetrics(logCounts);
  const built = await buildStreams(config, baseDir, { onNatsPublish: (topic, ms) => metrics.natsPublished(topic, ms) });
  // A table that cannot take the items is a configuration problem: refused now, not at the first publish.
  // A database that does not answer yet is not: the sink retries, /readyz says so.
  const sinkProblems: string[] = [];
  for (const [name, sink] of built.sinks) {
    try {
      await sink.ready();
    } catch (error) {
      if (error instanceof SluiceError && error.retryable) log.warn({ stream: name, error: error.message }, "publish sink not reachable yet");
      else sinkProblems.push(`streams.${name}.publish.sink: ${(error as Error).message}`);
    }
  }
  if (sinkProblems.length > 0) {
    await built.stop();
    throw new ConfigError("publish sinks", sinkProblems);
  }
  const authorize = createAuthorizer(config, baseDir);
  // Instances on one NATS sit behind one load balancer: a half-duplex
  // session's Control calls may reach any of them, and are forwarded to the
  // instance that owns the session (PROTOCOL.md §3.3).
  const controlRelay = built.nats ? new NatsControlRelay({ connection: built.nats }) : undefined;
  if (controlRelay) log.info({ instanceId: controlRelay.instanceId, subject: controlRelay.subject }, "forwarding Control calls over NATS");
  const sluice = new SluiceServer({
    streams: built.streams,
    ...(authorize ? { authorize } : {}),
    ...(controlRelay ? { controlRelay } : {}),
    onSessionEnd: (outcome) => {
      metrics.sessionEnded(outcome);
      const fields = {
        stream: outcome.stream,
        sessionId: outcome.sessionId,
        client: outcome.clientInfo,
        items: outcome.items,
        bytes: outcome.bytes,
        creditStallMs: Math.round(outcome.counters.creditStallMs),
        resumed: outcome.resumed,
        outcome: outcome.error ? outcome.error.code : outcome.cancelled ? "cancelled" : outcome.disconnected ? "disconnected" : "end",
      };
      const error = outcome.error;
      // Failures are logged at warn with their text: every one that is
      // final, and the server's own retryable ones (a source or database
      // failing: clients retry, and the operator must see why). A drain's
      // unavailable is the server telling clients to move, not a failure.
      const failed = error && (!error.retryable || (error.blame !== "remote" && error.code !== "unavailable"));
      if (failed) log.warn({ ...fields, error: error.message, retryable: error.retryable }, "session failed");
      else log.info(error ? { ...fields, error: error.message } : fields, "session ended");
    },
    onPublished: (stream, accepted, deadLettered) => metrics.published(stream, accepted, deadLettered),
    onPublishEnd: (outcome) => {
      metrics.publishEnded(outcome);
      const fields = { stream: outcome.stream, publisher: outcome.publisherId, accepted: outcome.accepted, deadLettered: outcome.deadLettered, doneSeq: outcome.doneSeq, outcome: outcome.error ? outcome.error.code : outcome.disconnected ? "disconnected" : "end" };
      const error = outcome.error;
      // As for subscriptions: final failures and the server's own (a sink failing) at warn, with their text.
      if (error && (!error.retryable || (error.blame !== "remote" && error.code !== "unavailable"))) log.warn({ ...fields, error: error.message, retryable: error.retryable }, "publish session failed");
      else log.info(error ? { ...fields, error: error.message } : fields, "publish session ended");
    },
    onRtt: (stream, rttMs) => metrics.rtt(stream, rttMs),
    onItemLatency: (stream, stage, latencyMs) => metrics.itemLatency(stream, stage, latencyMs),
    limits: Object.fromEntries(Object.entries(config.limits).filter(([k, v]) => v !== undefined && !LISTEN_AND_BUDGET_KEYS.has(k))),
    ...(config.limits.maxBufferedBytes !== undefined ? { maxBufferedBytes: config.limits.maxBufferedBytes } : {}),
    ...(config.limits.maxConnectionBufferedBytes !== undefined ? { maxConnectionBufferedBytes: config.limits.maxConnectionBufferedBytes } : {}),
    ...(config.chunk ? { chunk: config.chunk } : {}),
  });
  metrics.attach(sluice, built.topics, Object.keys(built.streams));
  const described = describeStreams(config);
  let stopping = false;
  let listening: Listening | undefined;
  listening = await listen(sluice, {
    host: config.server.host,
    port: config.server.port,
    websocket: { path: config.server.websocketPath },
    corsOrigins: config.server.corsOrigins,
    onCallError: (error, procedure) => log.warn({ procedure, code: error.code, error: error.rawMessage }, "call failed"),
    timeouts: {
      prefaceTimeoutMs: config.server.timeouts.prefaceMs,
      headersTimeoutMs: config.server.timeouts.headersMs,
      requestTimeoutMs: config.server.timeouts.requestMs,
      idleTimeoutMs: config.server.timeouts.idleMs,
    },
    ...(config.server.tls
      ? {
          tls: {
            cert: readFileSync(resolve(baseDir, config.server.tls.certFile)),
            key: readFileSync(resolve(baseDir, config.server.tls.keyFile)),
            ...(config.server.tls.keyPassphraseEnv ? { passphrase: process.env[config.server.tls.keyPassphraseEnv] ?? "" } : {}),
          },
        }
      : {}),
    ...(config.limits.maxConnections !== undefined ? { maxConnections: config.limits.maxConnections } : {}),
    ...(config.limits.maxStreamsPerConnection !== undefined ? { maxStreamsPerConnection: config.limits.maxStreamsPerConnection } : {}),
    fallback: (request, response) => {
      const path = new URL(request.url ?? "/", "http://x").pathname;
      if (path === "/healthz") return void response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      if (path === "/streams") {
        // Discovery for the example page and `sluice streams`: with auth on,
        // only the streams this caller may subscribe to (nobody learns the
        // others exist), and nothing at all without valid credentials.
        const headers = new Headers();
        for (const [name, value] of Object.entries(request.headers)) if (typeof value === "string" && !name.startsWith(":")) headers.set(name, value);
        void (async () => {
          const visible = [];
          let authenticated = !authorize;
          // A topic's retained seqs, now: where a reader of its whole history starts (`dlq replay`).
          const withHistory = async (stream: StreamDescription) => {
            const topic = built.topics.get(stream.name);
            // A topic that cannot say its range now (NATS reconnecting) is listed without it.
            const range = await Promise.resolve(topic?.retainedRange?.()).catch(() => undefined);
            return range ? { ...stream, history: range } : stream;
          };
          for (const stream of described) {
            if (!authorize) {
              visible.push(withHistory(stream));
              continue;
            }
            try {
              await authorize({ stream: stream.name, headers, action: "subscribe" });
              authenticated = true;
              visible.push(withHistory(stream));
            } catch (error) {
              if ((error as { code?: string }).code === "permission_denied") authenticated = true;
            }
          }
          if (!authenticated) return void response.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: "unauthenticated: credentials are required to list streams" }) + "\n");
          response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ streams: await Promise.all(visible) }) + "\n");
        })();
        return;
      }
      if (path === "/metrics") {
        void metrics.registry.metrics().then(
          (text) => response.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
          (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${String(error)}\n`),
        );
        return;
      }
      if (path === "/readyz") {
        if (stopping) return void response.writeHead(503, { "content-type": "text/plain" }).end("draining\n");
        // Ready when every configured database answers and every JSON Lines file is readable; never while draining.
        void built.ready().then(({ ok, problems }) =>
          response.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ready\n" : `${problems.join("\n")}\n`),
        );
        return;
      }
      const file = PUBLIC_FILES[path];
      if (file && request.method === "GET") {
        try {
          const body = readFile(join(publicDir, file));
          return void response.writeHead(200, { "content-type": file.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/html; charset=utf-8" }).end(body);
        } catch {
          // fall through to 404 (the page was not built)
        }
      }
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    },
  });
  return {
    url: listening.url,
    port: listening.port,
    async stop(graceMs = config.server.shutdownGraceMs) {
      stopping = true;
      const deadline = performance.now() + graceMs;
      const drained = sluice.activeSessions;
      // Every session is told UNAVAILABLE (retryable, retry-after 0); then the
      // connections close gracefully, so those Error frames and the Connect
      // end of stream are written before the sockets go.
      const ended = await Promise.race([sluice.drain().then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), graceMs).unref())]);
      await listening?.close({ graceMs: Math.max(0, deadline - performance.now()) });
      listening = undefined;
      // Before the NATS connection drains: nothing is left here to answer for.
      await controlRelay?.close();
      await built.stop();
      return { drained, ended };
    },
  };
}
