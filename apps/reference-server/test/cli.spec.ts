/**
 * The built CLI (dist/cli.js) as a child process, with the example configs,
 * driven by the Node client over HTTP/2, HTTP/1.1 and WebSocket on 127.0.0.1.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { createSluiceClient } from "@sluice/client-node";
import { selfSignedCertificate } from "@sluice/testing";
import { parse as parseYaml } from "yaml";
import { ConfigError, parseConfig } from "../src/config.js";
import { cli, startCli } from "./start-cli.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const examples = join(root, "examples");

function validate(file: string) {
  return spawnSync(process.execPath, [cli, "validate", file], { encoding: "utf8" });
}

const start = startCli;

describe("sluice-server start-up failures", () => {
  it("says in one line that the port is taken, instead of a stack trace, and exits 1", async () => {
    const squatter = net.createServer().listen(0, "127.0.0.1");
    await new Promise((resolve) => squatter.once("listening", resolve));
    const { port } = squatter.address() as net.AddressInfo;
    try {
      const result = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [cli, "--port", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        child.once("exit", (status) => resolve({ status, stderr }));
      });
      expect(result.stderr).toBe(`sluice-server: cannot listen on 127.0.0.1:${port}: the port is in use (another process listens there; pick another with --port or server.port)\n`);
      expect(result.status).toBe(1);
    } finally {
      squatter.close();
    }
  });
});

describe("sluice-server log format", () => {
  it("writes pretty lines with LOG_FORMAT=pretty, JSON otherwise, and refuses another value", async () => {
    const child = spawn(process.execPath, [cli, "--port", "0"], { stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, LOG_FORMAT: "pretty" } });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 20_000);
        child.stdout.on("data", (d) => {
          out += d;
          const m = /^.*listening.*$/m.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[0]);
          }
        });
      });
      expect(line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}listening url=http:\/\/127\.0\.0\.1:\d+ streams=\["ticks","numbers","books","news","news.dlq"\] page=http:\/\/127\.0\.0\.1:\d+\/$/);
    } finally {
      child.kill("SIGKILL");
    }
    const bad = spawnSync(process.execPath, [cli, "--port", "0"], { encoding: "utf8", env: { ...process.env, LOG_FORMAT: "yaml" } });
    expect(bad.stderr).toBe('sluice-server: LOG_FORMAT must be pretty or json, got "yaml"\n');
    expect(bad.status).toBe(2);
  });
});

describe("sluice-server validate", () => {
  it.each(["embedded.yaml", "tuned.json", "postgres.yaml", "ingest.yaml", "ingest-postgres.yaml"])("accepts examples/%s", (file) => {
    const result = validate(join(examples, file));
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/: valid \(\d+ streams/);
  });

  it("names the path and the reason of every problem", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      [
        "server:",
        "  port: 99999",
        "streams:",
        "  books:",
        "    source: { type: jsonl }",
        "  feed:",
        "    source: { type: kafka }",
        "  ticks:",
        "    source: { type: generator, rate: 5 }",
        "  slow:",
        "    source: { type: generator }",
        "    window: { default: { items: 10, bytes: 1000 }, max: { items: 5 } }",
        "    heartbeat: { intervalMs: 1000, timeoutMs: 500 }",
      ].join("\n"),
    );
    const result = validate(file);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("server.port: must be at most 65535, got 99999");
    expect(result.stderr).toContain("streams.books.source.path: required");
    expect(result.stderr).toContain('streams.ticks.source: unknown key "rate"');
    expect(result.stderr).toContain("streams.feed.source.type: must be one of the source types: generator, jsonl, topic, postgres");
    expect(result.stderr).toContain("streams.slow.window.default.items: 10 is above max.items 5");
    expect(result.stderr).toContain("streams.slow.heartbeat.timeoutMs: heartbeat timeout 500 ms must exceed a positive interval 1000 ms");
  });

  it("reports every problem in one pass: the schema's, unreadable files and unenforceable rules together", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));
    const file = join(dir, "all.yaml");
    writeFileSync(file, ["streams:", "  books:", "    source: { type: jsonl, path: missing.jsonl }", "  ticks:", "    source: { type: generator, rate: 5 }", "    allow: [\"*\"]"].join("\n"));
    const result = validate(file);
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split("\n").slice(1)).toEqual([
      '  streams.ticks.source: unknown key "rate"',
      "  streams.ticks.allow: restricts who may subscribe, but there is no auth section to tell who is asking: add auth (apiKeys or jwt), or remove allow",
      `  streams.books.source.path: cannot read ${join(dir, "missing.jsonl")} (ENOENT)`,
    ]);
  });

  it("reports checks across fields in the same pass as a wrong type elsewhere", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));
    const file = join(dir, "cross.yaml");
    writeFileSync(
      file,
      [
        "server: { port: eighteen, timeouts: { idleMs: 4000 } }",
        "limits: { heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 4000 }",
        "streams:",
        "  ticks:",
        "    source: { type: generator, itemBytes: 2048 }",
        "    maxItemBytes: 1024",
        "  orders:",
        "    source: { type: postgres, query: \"SELECT id FROM orders WHERE owner = :who\", key: id }",
      ].join("\n"),
    );
    const result = validate(file);
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split("\n").slice(1)).toEqual([
      '  server.port: expected an integer, got the string "eighteen"',
      "  limits.heartbeatTimeoutMs: heartbeat timeout 4000 ms must exceed a positive interval 5000 ms",
      "  streams.ticks.source.itemBytes: items of 2048 bytes, over the max item size 1024",
      "  streams.orders.source.query: query uses :who, which is not declared in params",
    ]);
  });

  it("finds what start-up would refuse: a query placeholder that is not declared in params", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));
    const file = join(dir, "pg.yaml");
    writeFileSync(file, ["streams:", "  orders:", "    source: { type: postgres, query: \"SELECT id FROM orders WHERE owner = :who\", key: id }"].join("\n"));
    const result = validate(file);
    expect(result.stderr).toContain("streams.orders.source.query: query uses :who, which is not declared in params");
    expect(result.status).toBe(1);
  });

  it("ends a YAML syntax error with its line and column, and refuses a config without streams", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));
    writeFileSync(join(dir, "syntax.yaml"), "server:\n  port: 1\n streams: {a: b\n");
    const syntax = validate(join(dir, "syntax.yaml"));
    expect(syntax.stderr).toMatch(/\(file\): not valid YAML: .+ \(line 3, column 1\)\n$/);
    expect(syntax.status).toBe(1);
    writeFileSync(join(dir, "empty.yaml"), "server: { port: 8080 }\nstreams: {}\n");
    const empty = validate(join(dir, "empty.yaml"));
    expect(empty.stderr).toContain("streams: configure at least one stream: a server without streams serves nothing");
    expect(empty.status).toBe(1);
  });

  it("tells a wrong type from a missing key, quoting the value, from the file and from --port", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));
    const file = join(dir, "types.yaml");
    writeFileSync(file, ["server:", "  port: eighteen", "  shutdownGraceMs: 1.5", "streams:", "  ticks:", "    source: { type: generator, count: yes }"].join("\n"));
    const result = validate(file);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('server.port: expected an integer, got the string "eighteen"');
    expect(result.stderr).toContain("server.shutdownGraceMs: expected an integer, got the number 1.5");
    expect(result.stderr).toContain('streams.ticks.source.count: expected an integer, got the string "yes"');
    expect(result.stderr).not.toContain("required");
    const flag = spawnSync(process.execPath, [cli, "--port", "abc"], { encoding: "utf8" });
    expect(flag.stderr).toContain('server.port: expected an integer, got the string "abc"');
    expect(flag.status).toBe(1);
  });

  it("checks the server-wide limits and each stream's by core's rules, naming the path", () => {
    const problems = (document: unknown): readonly string[] => {
      try {
        parseConfig(document, "spec");
        return [];
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        return error.problems;
      }
    };
    const source = { type: "generator" };
    // A timeout at or below the interval used to pass here and end every session with source_failed.
    expect(problems({ limits: { heartbeatTimeoutMs: 1000 }, streams: { a: { source } } })).toEqual(["limits.heartbeatTimeoutMs: heartbeat timeout 1000 ms must exceed a positive interval 5000 ms"]);
    expect(problems({ limits: { maxWindowItems: 0 }, streams: { a: { source } } })).toEqual(["limits.maxWindowItems: must be at least 1, got 0"]);
    expect(problems({ streams: { a: { source, window: { default: { items: 0, bytes: 10 } } } } })).toEqual(["streams.a.window.default.items: must be at least 1, got 0"]);
    expect(problems({ streams: { a: { source, maxItemBytes: 0 } } })).toEqual(["streams.a.maxItemBytes: must be at least 1, got 0"]);
    expect(problems({ streams: { a: { source: { ...source, itemBytes: 5000 }, maxItemBytes: 4096 } } })).toEqual(["streams.a.source.itemBytes: items of 5000 bytes, over the max item size 4096"]);
    expect(problems({ limits: { maxItemBytes: 100 }, streams: { a: { source: { ...source, itemBytes: 101 } } } })).toEqual(["streams.a.source.itemBytes: items of 101 bytes, over the max item size 100"]);
    expect(problems({ limits: { heartbeatIntervalMs: 2000, heartbeatTimeoutMs: 6000 }, streams: { a: { source, heartbeat: { intervalMs: 100, timeoutMs: 300 } } } })).toEqual([]);
  });

  it("names files the config refers to that cannot be read (examples/tls.yaml without its certificate)", () => {
    const result = validate(join(examples, "tls.yaml"));
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/server\.tls\.certFile: cannot read \S+certs\/cert\.pem \(ENOENT\)/);
    expect(result.stderr).toMatch(/server\.tls\.keyFile: cannot read \S+certs\/key\.pem \(ENOENT\)/);
    const certificate = selfSignedCertificate();
    const withEnv = spawnSync(process.execPath, [cli, "validate", join(examples, "tls.yaml")], { encoding: "utf8", env: { ...process.env, SLUICE_TLS_CERT_FILE: certificate.certFile, SLUICE_TLS_KEY_FILE: certificate.keyFile } });
    expect(withEnv.stderr).toBe("");
    expect(withEnv.status).toBe(0);
  });

  it("refuses an idle timeout that a healthy session's heartbeats would not beat", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));
    const file = join(dir, "idle.yaml");
    writeFileSync(
      file,
      [
        "server:",
        "  timeouts: { idleMs: 8000, headersMs: 5000, requestMs: 4000 }",
        "streams:",
        "  slow:",
        "    source: { type: generator }",
        "    heartbeat: { intervalMs: 60000, timeoutMs: 180000 }",
      ].join("\n"),
    );
    const result = validate(file);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("server.timeouts.requestMs: must be at least headersMs");
    writeFileSync(file, ["server:", "  timeouts: { idleMs: 8000 }", "streams:", "  slow:", "    source: { type: generator }", "    heartbeat: { intervalMs: 60000, timeoutMs: 180000 }"].join("\n"));
    const second = validate(file);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain("server.timeouts.idleMs: 8000 must exceed twice limits.heartbeatIntervalMs (5000), or be 0");
    expect(second.stderr).toContain("server.timeouts.idleMs: 8000 must exceed twice streams.slow.heartbeat.intervalMs (60000), or be 0");
  });

  it("accepts the annotated example in the README", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const example = /```yaml\n(server:[\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const config = parseConfig(parseYaml(example!), "README.md");
    expect(config.server.timeouts).toEqual({ prefaceMs: 10_000, headersMs: 10_000, requestMs: 30_000, idleMs: 120_000 });
    expect(config.limits.maxConnectionBufferedBytes).toBe(64 * 1024 * 1024);
  });

  it("reports unreadable and unparsable files", () => {
    expect(validate("/nonexistent/sluice.yaml").stderr).toMatch(/\(file\): cannot read/);
    const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));
    writeFileSync(join(dir, "broken.json"), "{ nope");
    expect(validate(join(dir, "broken.json")).stderr).toMatch(/\(file\): not valid JSON/);
  });
});

describe("sluice-server serving examples/embedded.yaml", () => {
  let server: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    server = await start(["--config", join(examples, "embedded.yaml")]);
  });
  afterAll(() => {
    server.child.kill("SIGKILL");
  });

  it.each([
    ["HTTP/2", { transport: "http" as const, httpVersion: "2" as const }],
    ["HTTP/1.1", { transport: "http" as const, httpVersion: "1.1" as const }],
    ["WebSocket", { transport: "websocket" as const }],
  ])("serves the generator, the filtered JSON Lines file and the topic over %s", async (_name, options) => {
    const client = createSluiceClient({ baseUrl: server.url, ...options });
    const numbers: number[] = [];
    for await (const event of client.subscribe<{ seq: number }>("numbers", { params: { count: 5_000 } })) if (event.kind === "item") numbers.push(event.value.seq);
    expect(numbers).toEqual(Array.from({ length: 5_000 }, (_, i) => i + 1));

    const genres = new Set<string>();
    let books = 0;
    for await (const event of client.subscribe<{ genre: string }>("books", { params: { genre: "poetry" } })) {
      if (event.kind !== "item") continue;
      genres.add(event.value.genre);
      books++;
    }
    expect([...genres]).toEqual(["poetry"]);
    expect(books).toBe(310); // every poetry row of data/books.jsonl

    const news: number[] = [];
    for await (const event of client.subscribe<{ n: number }>("news")) {
      if (event.kind === "item") news.push(event.value.n);
      if (news.length === 2) break;
    }
    expect(news[1]).toBe(news[0]! + 1);
    client.close();
  }, 60_000);

  it("answers bad params with invalid_argument naming the field, and keeps serving", async () => {
    const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
    let error: { code?: string; field?: string } | undefined;
    try {
      for await (const _ of client.subscribe("numbers", { params: { count: -1 } })) void _;
    } catch (e) {
      error = e as { code?: string; field?: string };
    }
    expect(error).toMatchObject({ code: "invalid_argument", field: "params.count" });
    client.close();
  });

  it("exposes Prometheus metrics with the traffic of the tests above", async () => {
    const response = await fetch(`${server.url}/metrics`);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await response.text();
    const value = (pattern: RegExp) => Number(text.match(pattern)?.[1] ?? NaN);
    // Three transports x 5 000 items of "numbers", 3 x 310 poetry rows.
    expect(value(/^sluice_items_sent_total\{stream="numbers"\} (\d+)/m)).toBe(15_000);
    expect(value(/^sluice_items_sent_total\{stream="books"\} (\d+)/m)).toBe(930);
    expect(value(/^sluice_bytes_sent_total\{stream="numbers"\} (\d+)/m)).toBe(15_000 * 64);
    expect(value(/^sluice_errors_total\{stream="numbers",code="invalid_argument"\} (\d+)/m)).toBe(1);
    expect(value(/^sluice_sessions_ended_total\{stream="numbers",outcome="end"\} (\d+)/m)).toBe(3);
    // Sampled item latency, source yield to transport: every session samples its first item.
    const latencyCount = value(/^sluice_item_latency_seconds_count\{stream="numbers",stage="sent"\} (\d+)/m);
    expect(latencyCount).toBeGreaterThanOrEqual(3);
    const latencySum = value(/^sluice_item_latency_seconds_sum\{stream="numbers",stage="sent"\} ([\d.e-]+)/m);
    expect(latencySum).toBeGreaterThan(0);
    // A generator's items leave within the 5 ms flush deadline; 250 ms is the bound a busy CI machine cannot reach by accident.
    expect(latencySum / latencyCount).toBeLessThan(0.25);
    for (const name of ["sluice_active_streams", "sluice_credit_stall_seconds_total", "sluice_resumes_total", "sluice_heartbeat_rtt_seconds", "sluice_topic_dropped_total", "sluice_topic_queue_utilisation", "process_cpu_seconds_total"]) {
      expect(text).toContain(`# HELP ${name} `);
    }
  });

  it("labels metrics with configured streams only: 40 unknown names add no series", async () => {
    const series = (text: string) => text.split("\n").filter((l) => l.startsWith("sluice_")).length;
    const before = await (await fetch(`${server.url}/metrics`)).text();
    const client = createSluiceClient({ baseUrl: server.url });
    for (let i = 0; i < 40; i++) {
      const stream = client.subscribe(`no-such-stream-${i}`, { backoff: { maxAttempts: 0 } });
      await expect((async () => {
        for await (const _ of stream) void _;
      })()).rejects.toMatchObject({ code: "stream_not_found" });
    }
    client.close();
    const after = await (await fetch(`${server.url}/metrics`)).text();
    expect(after).not.toContain("no-such-stream");
    expect(Number(/^sluice_errors_total\{stream="\(unknown\)",code="stream_not_found"\} (\d+)/m.exec(after)?.[1])).toBeGreaterThanOrEqual(40);
    // At most the "(unknown)" series themselves are new.
    expect(series(after) - series(before)).toBeLessThanOrEqual(2);
  });

  it("lists its streams at GET /streams: name, source, params, whether live, whether it takes publishing", async () => {
    const response = await fetch(`${server.url}/streams`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      streams: [
        { name: "ticks", source: "generator", params: ["count"], contentType: "application/json", live: true, publish: false },
        { name: "numbers", source: "generator", params: ["count"], contentType: "application/json", live: false, publish: false },
        { name: "books", source: "jsonl", params: ["genre"], contentType: "application/json", live: false, publish: false },
        { name: "news", source: "topic", params: [], contentType: "application/json", live: true, publish: true, deadLetterStream: "news.dlq", history: { oldestSeq: expect.any(Number), nextSeq: expect.any(Number) } },
        // Created for news's dead letters.
        { name: "news.dlq", source: "topic", params: [], contentType: "application/json", live: true, publish: false, history: { oldestSeq: expect.any(Number), nextSeq: expect.any(Number) } },
      ],
    });
  });

  it("serves the example page, /healthz and /readyz", async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Sluice live stream");
    const script = await fetch(`${server.url}/main.js`);
    expect(script.headers.get("content-type")).toMatch(/javascript/);
    expect((await script.text()).length).toBeGreaterThan(10_000);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });
});

describe("sluice-server serving examples/tls.yaml (certificate from SLUICE_TLS_CERT_FILE / SLUICE_TLS_KEY_FILE)", () => {
  const certificate = selfSignedCertificate();
  let server: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    server = await start(["--config", join(examples, "tls.yaml")], { SLUICE_TLS_CERT_FILE: certificate.certFile, SLUICE_TLS_KEY_FILE: certificate.keyFile });
  });
  afterAll(() => {
    server.child.kill("SIGKILL");
  });

  it.each([
    ["HTTP/2", { transport: "http" as const, httpVersion: "2" as const }, "http2"],
    ["HTTP/1.1", { transport: "http" as const, httpVersion: "1.1" as const }, "http1.1"],
    ["WebSocket", { transport: "websocket" as const }, "websocket"],
  ])("serves https: and wss: over %s to a client that trusts the certificate", async (_name, options, transport) => {
    expect(server.url).toMatch(/^https:\/\//);
    const client = createSluiceClient({ baseUrl: server.url, ...options, tls: { ca: certificate.cert } });
    const stream = client.subscribe<{ seq: number }>("numbers", { params: { count: 5_000 } });
    const numbers: number[] = [];
    for await (const event of stream) if (event.kind === "item") numbers.push(event.value.seq);
    expect(stream.stats.transport).toBe(transport);
    expect(numbers).toEqual(Array.from({ length: 5_000 }, (_, i) => i + 1));
    client.close();
  });

  it("refuses a client that does not trust the certificate, naming it", async () => {
    const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
    await expect(
      (async () => {
        for await (const _ of client.subscribe("numbers", { params: { count: 10 }, backoff: { maxAttempts: 0 } })) void _;
      })(),
    ).rejects.toThrow(/self[- ]signed certificate/i);
    client.close();
  });
});

describe("sluice-server with examples/tuned.json", () => {
  it("answers CORS preflights for the configured origin only", async () => {
    const server = await start(["--config", join(examples, "tuned.json")]);
    try {
      const path = `${server.url}/sluice.v1.SubscribeService/SubscribeHalfDuplex`;
      const preflight = (origin: string) =>
        fetch(path, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type,authorization" } });
      const allowed = await preflight("https://app.example.com");
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
      expect(allowed.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
      expect(allowed.headers.get("access-control-allow-methods")).toMatch(/POST/);
      const other = await preflight("https://evil.example.net");
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      server.child.kill("SIGKILL");
    }
  });
});

describe("sluice-server limits (examples/tuned.json: 3 connections, 2 streams each)", () => {
  it("gives a stream's default window to clients that ask for none, and clamps larger requests to its max", async () => {
    const server = await start(["--config", join(examples, "tuned.json")]);
    const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
    try {
      // A retry or two: what is checked is the window each Opened announces, and a busy CI
      // machine once reset one of these short streams (NGHTTP2_ENHANCE_YOUR_CALM).
      const windowOf = async (window?: { items: number; bytes: number }) => {
        const stream = client.subscribe("metrics", { ...(window ? { window } : {}), backoff: { maxAttempts: 2, initialMs: 20 } });
        const iterator = stream[Symbol.asyncIterator]();
        await iterator.next();
        await iterator.return?.();
        return stream.stats.window;
      };
      // examples/tuned.json: metrics.window = { default: 500 items / 256 KiB, max: 2 000 items / 1 MiB }.
      expect(await windowOf()).toEqual({ items: 500, bytes: 262_144 });
      expect(await windowOf({ items: 100_000, bytes: 64 << 20 })).toEqual({ items: 2_000, bytes: 1_048_576 });
      expect(await windowOf({ items: 10, bytes: 4_096 })).toEqual({ items: 10, bytes: 4_096 });
      // The topic stream sets no window: the server default (8 192 items / 4 MiB), under the server-wide max.
      const alerts = client.subscribe("alerts", { backoff: { maxAttempts: 2, initialMs: 20 } });
      const iterator = alerts[Symbol.asyncIterator]();
      await iterator.next();
      await iterator.return?.();
      expect(alerts.stats.window).toEqual({ items: 8_192, bytes: 4 * 1024 * 1024 });
    } finally {
      client.close();
      server.child.kill("SIGKILL");
    }
  });

  it("refuses a stream whose window does not fit the buffer budgets (6 MiB for the server, 8 MiB per connection), naming the budget", async () => {
    const server = await start(["--config", join(examples, "tuned.json")]);
    const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
    try {
      const refusal = async (bytes: number) => {
        const iterator = client.subscribe("alerts", { window: { items: 1_000, bytes }, backoff: { maxAttempts: 0 } })[Symbol.asyncIterator]();
        return iterator.next().then(
          () => undefined,
          (error: { code?: string; message?: string }) => error,
        );
      };
      expect(await refusal(7 << 20)).toMatchObject({ code: "limit_exceeded", message: expect.stringMatching(/server budget: .* of 6\.0 MiB; a window of 7\.0 MiB does not fit/) });
      expect(await refusal(9 << 20)).toMatchObject({ code: "limit_exceeded", message: expect.stringMatching(/connection budget: .* of 8\.0 MiB; a window of 9\.0 MiB does not fit/) });
    } finally {
      client.close();
      server.child.kill("SIGKILL");
    }
  });

  it("refuses a third concurrent call on one WebSocket with resource_exhausted", async () => {
    const server = await start(["--config", join(examples, "tuned.json")]);
    const client = createSluiceClient({ baseUrl: server.url, transport: "websocket" });
    try {
      const open = async () => {
        const iterator = client.subscribe("metrics", { backoff: { maxAttempts: 1, initialMs: 1 } })[Symbol.asyncIterator]();
        await iterator.next();
        return iterator;
      };
      const first = await open();
      const second = await open();
      const third = await open().then(
        () => undefined,
        (error: { code?: string; message?: string }) => error,
      );
      expect(third).toMatchObject({ code: "unavailable", message: expect.stringMatching(/too many concurrent calls on this socket \(limit 2\)/) });
      await first.return?.();
      await second.return?.();
    } finally {
      client.close();
      server.child.kill("SIGKILL");
    }
  });

  it("answers a connection over the limit with 503 and closes it", async () => {
    const server = await start(["--config", join(examples, "tuned.json")]);
    const port = Number(new URL(server.url).port);
    const held = [0, 1, 2].map(() => net.connect(port, "127.0.0.1"));
    try {
      await Promise.all(held.map((socket) => new Promise((resolve) => socket.once("connect", resolve))));
      await new Promise((resolve) => setTimeout(resolve, 100)); // let the server count them
      const raw = await new Promise<string>((resolve) => {
        const fourth = net.connect(port, "127.0.0.1");
        let text = "";
        fourth.on("data", (d: Buffer) => (text += d.toString()));
        fourth.on("close", () => resolve(text));
      });
      expect(raw).toMatch(/^HTTP\/1\.1 503 Service Unavailable/);
      expect(raw).toMatch(/too many connections \(limit 3\)/);
    } finally {
      for (const socket of held) socket.destroy();
      server.child.kill("SIGKILL");
    }
  });
});

describe("sluice-server timeouts (examples/tuned.json: preface 1 s, headers 2 s)", () => {
  it("closes a connection that sends nothing, and one that never finishes its headers, and keeps serving", async () => {
    const server = await start(["--config", join(examples, "tuned.json")]);
    const port = Number(new URL(server.url).port);
    const closedAfter = (first?: string) =>
      new Promise<number>((resolve) => {
        const started = Date.now();
        const socket = net.connect(port, "127.0.0.1", () => {
          if (first) socket.write(first);
        });
        socket.resume();
        socket.on("error", () => undefined); // a reset is how some closes arrive
        socket.on("close", () => resolve(Date.now() - started));
      });
    try {
      const [silent, slowHeaders] = await Promise.all([closedAfter(), closedAfter("GET /healthz HTTP/1.1\r\nHost: x\r\n")]);
      expect(silent).toBeGreaterThanOrEqual(900);
      expect(silent).toBeLessThan(2_500);
      expect(slowHeaders).toBeGreaterThanOrEqual(1_900);
      expect(slowHeaders).toBeLessThan(4_000);
      const health = await fetch(new URL("/healthz", server.url));
      expect(health.status).toBe(200);
    } finally {
      server.child.kill("SIGKILL");
    }
  });
});

describe("sluice-server and connections reset before their first byte", () => {
  it("keeps serving when clients connect and reset at once (a port scanner, a load balancer's TCP check)", async () => {
    const server = await start(["--config", join(examples, "embedded.yaml")]);
    const port = Number(new URL(server.url).port);
    try {
      await Promise.all(
        Array.from(
          { length: 50 },
          () =>
            new Promise<void>((resolve) => {
              const socket = net.connect(port, "127.0.0.1", () => setTimeout(() => socket.resetAndDestroy(), 5));
              socket.on("error", () => undefined);
              socket.on("close", () => resolve());
            }),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(server.child.exitCode).toBeNull();
      expect((await fetch(new URL("/healthz", server.url))).status).toBe(200);
    } finally {
      server.child.kill("SIGKILL");
    }
  });
});

describe("sluice-server /readyz", () => {
  it("answers 503 naming a JSON Lines file that became unreadable, and 200 again once it is back", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-ready-"));
    writeFileSync(join(dir, "rows.jsonl"), '{"n":1}\n{"n":2}\n');
    writeFileSync(join(dir, "sluice.yaml"), ["streams:", "  rows:", "    source: { type: jsonl, path: rows.jsonl }"].join("\n"));
    const server = await start(["--config", join(dir, "sluice.yaml")]);
    try {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      renameSync(join(dir, "rows.jsonl"), join(dir, "moved.jsonl"));
      const missing = await fetch(`${server.url}/readyz`);
      expect(missing.status).toBe(503);
      expect(await missing.text()).toMatch(/stream rows: cannot read \S+rows\.jsonl \(ENOENT\)/);
      renameSync(join(dir, "moved.jsonl"), join(dir, "rows.jsonl"));
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      server.child.kill("SIGKILL");
    }
  });
});

describe("sluice-server lifecycle", () => {
  it("refuses to start with an invalid config, naming the problem", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ streams: { x: { source: { type: "generator", itemBytes: 0 } } } }));
    const result = spawnSync(process.execPath, [cli, "--config", join(dir, "bad.json")], { encoding: "utf8", env: { ...process.env, SLUICE_PORT: "0" } });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("streams.x.source.itemBytes: must be above 0, got 0");
  });

  it("on SIGTERM tells open sessions to go elsewhere (unavailable) and exits 0 within the grace time", async () => {
    const server = await start(["--config", join(examples, "tuned.json")]);
    const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
    const stream = client.subscribe("metrics", { backoff: { maxAttempts: 2, initialMs: 10, maxMs: 20 } });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    const exited = new Promise<number | null>((resolve) => server.child.once("exit", resolve));
    const signalledAt = performance.now();
    server.child.kill("SIGTERM");
    let error: { code?: string; message?: string } | undefined;
    try {
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) void r;
    } catch (e) {
      error = e as { code?: string; message?: string };
    }
    expect(await exited).toBe(0);
    expect(performance.now() - signalledAt).toBeLessThan(2_000 + 1_000);
    // The drain's UNAVAILABLE was retryable: the client tried to resume
    // (elsewhere would have worked; here the only server is gone) and gave up.
    expect(stream.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(error?.code).toBe("unavailable");
    expect(error?.message).toMatch(/gave up after 2 attempts/);
    const logs = server.output.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logs.find((l) => l.msg === "shutting down")).toMatchObject({ signal: "SIGTERM", level: 30 });
    // The open session was told UNAVAILABLE and ended before the grace time, and says so in the log.
    expect(logs.find((l) => l.msg === "stopped")).toMatchObject({ sessionsDrained: 1, allEndedInTime: true });
    const ended = logs.find((l) => l.msg === "session ended" && l.stream === "metrics");
    expect(ended).toMatchObject({ outcome: "unavailable", service: "sluice-server" });
    expect(ended?.sessionId).toMatch(/\S+-\S+/);
    expect(ended?.items).toBeGreaterThan(0);
    client.close();
  }, 30_000);
});
