/** The `sluice` command (src/cli.ts) against a real server on 127.0.0.1: tail a finite and a live stream, as text and JSON, publish from an argument and from stdin, on HTTP and WebSocket; errors and exit codes. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { SluiceServer, Topic, fromIterable, listen, type Listening } from "@sluice/server-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const cli = join(import.meta.dirname, "..", "src", "cli.ts");
let server: Listening;
let publisher: ReturnType<typeof setInterval>;
const inbox = new Topic("inbox", { historyItems: 10_000 });
const inboxItems = () => inbox.stats.published;

beforeAll(async () => {
  const ticks = new Topic("ticks");
  const sensors = new Topic("sensors");
  publisher = setInterval(() => {
    ticks.publish(new TextEncoder().encode(JSON.stringify({ at: Date.now() })));
    sensors.publish(new TextEncoder().encode(JSON.stringify({ t: 20 })), { subject: "sensors.a.temp" });
    sensors.publish(new TextEncoder().encode(JSON.stringify({ h: 50 })), { subject: "sensors.a.hum" });
  }, 10);
  const sluice = new SluiceServer({
    streams: {
      numbers: { source: fromIterable((p: { count?: number }) => Array.from({ length: p.count ?? 10 }, (_, i) => ({ n: i }))) },
      ticks: { topic: ticks },
      sensors: { topic: sensors },
      inbox: { topic: inbox, publish: {} },
      checked: { publish: { sink: { write: (items) => items.map((item) => (new TextDecoder().decode(item.data).includes("bad") ? { accepted: false, reason: "contains bad", deadLetterTopic: "checked.dlq" } : { accepted: true })) } } },
    },
  });
  server = await listen(sluice, { port: 0 });
});

afterAll(async () => {
  clearInterval(publisher);
  await server.close();
});

function sluice(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return sluiceWithInput(undefined, ...args);
}

function sluiceWithInput(input: string | undefined, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--conditions=@sluice/source", "--import", "tsx", cli, ...args], { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"], env: { ...process.env, FORCE_COLOR: "0" } });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.each(["http", "websocket"])("sluice publish over %s", (transport) => {
  it("publishes VALUE and prints its seq once the server accepted it", async () => {
    const before = inboxItems();
    const result = await sluice("publish", server.url, "inbox", '{"order":1}', "--transport", transport);
    expect(result).toEqual({ code: 0, stdout: "1\n", stderr: "" });
    expect(inboxItems() - before).toBe(1);
  });

  it("publishes every line of stdin, in order, skipping empty lines; --json prints one object per item", async () => {
    const before = inboxItems();
    const lines = Array.from({ length: 2_000 }, (_, i) => JSON.stringify({ i })).join("\n");
    const result = await sluiceWithInput(`${lines}\n\n`, "publish", server.url, "inbox", "--json", "--transport", transport, "--publisher-id", `cli-${transport}`);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
    expect(inboxItems() - before).toBe(2_000);
  });

  it("exits 1 naming each refused line: not JSON (unless --raw), dead-lettered with its reason", async () => {
    const result = await sluiceWithInput('{"a":1}\nnot json\n{"bad":true}\n{"b":2}\n', "publish", server.url, "checked", "--transport", transport);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("1\n3\n"); // seq 2 was the dead letter
    expect(result.stderr).toBe(`sluice: line 2 is not JSON (Unexpected token 'o', "not json" is not valid JSON); send it with --raw\nsluice: line 3: dead-lettered: contains bad\n`);
    const raw = await sluice("publish", server.url, "checked", "plain text", "--raw", "--transport", transport);
    expect(raw).toEqual({ code: 0, stdout: "1\n", stderr: "" });
  });

  it("exits 1 with the reason when the stream takes no publishing", async () => {
    const result = await sluice("publish", server.url, "numbers", "{}", "--transport", transport);
    expect(result).toEqual({ code: 1, stdout: "", stderr: "sluice: numbers: permission_denied: stream numbers does not take publishing\n" });
  });
});

describe.each(["http", "websocket"])("sluice tail over %s", (transport) => {
  it("prints every item of a finite stream, seq and text, and exits 0 at its end", async () => {
    const result = await sluice("tail", server.url, "numbers", "--params", '{"count":3}', "--transport", transport);
    expect(result).toEqual({ code: 0, stdout: '1\t{"n":0}\n2\t{"n":1}\n3\t{"n":2}\n', stderr: "" });
  });

  it("starts at --from SEQ", async () => {
    const result = await sluice("tail", server.url, "numbers", "--params", '{"count":10}', "--from", "8", "--transport", transport);
    expect(result).toEqual({ code: 0, stdout: '8\t{"n":7}\n9\t{"n":8}\n10\t{"n":9}\n', stderr: "" });
  });

  it("stops a live stream after --count items, one JSON object per line with --json", async () => {
    const result = await sluice("tail", server.url, "ticks", "--count", "4", "--json", "--transport", transport);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split("\n").map((l) => JSON.parse(l) as { seq: number; item: { at: number } });
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(typeof line.item.at).toBe("number");
    expect(lines.map((l) => l.seq - lines[0]!.seq)).toEqual([0, 1, 2, 3]);
  });
});

describe("sluice tail of a subject pattern", () => {
  it("prints each item's subject: seq, subject and text, or a subject field with --json", async () => {
    const text = await sluice("tail", server.url, "sensors.*.temp", "--count", "2");
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split("\n")).toEqual(['1\tsensors.a.temp\t{"t":20}', '2\tsensors.a.temp\t{"t":20}']);
    const json = await sluice("tail", server.url, "sensors.a.>", "--count", "2", "--json");
    expect(json.stdout.trim().split("\n").map((l) => JSON.parse(l) as unknown)).toEqual([
      { seq: 1, subject: "sensors.a.temp", item: { t: 20 } },
      { seq: 2, subject: "sensors.a.hum", item: { h: 50 } },
    ]);
  });
});

describe("sluice errors", () => {
  it("names the stream and the server's error, and exits 1", async () => {
    const result = await sluice("tail", server.url, "nope");
    expect(result).toEqual({ code: 1, stdout: "", stderr: "sluice: nope: stream_not_found: stream not configured: nope\n" });
  });

  it("refuses bad arguments with exit 2 and the usage", async () => {
    expect((await sluice("tail", server.url, "numbers", "--params", "{nope")).stderr).toMatch(/^sluice: --params is not JSON: /);
    expect(await sluice("tail", server.url, "numbers", "--from", "0")).toEqual({ code: 2, stdout: "", stderr: "sluice: --from must be a seq (an integer from 1), got 0\n" });
    const usage = await sluice("tail");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("sluice tail URL STREAM");
  });

  it("says when a server does not list its streams", async () => {
    const result = await sluice("streams", server.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/answered 404 \(not a server that lists its streams: GET \/streams\)/);
  });
});
