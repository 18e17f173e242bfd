/**
 * Dead letters through the built CLI: a stream's publish.validate (JSON
 * Schema or protobuf) and publish.maxItemBytes refuse items into its
 * dead-letter stream (`<stream>.dlq`, created), which a subscriber reads
 * like any topic, and `sluice-server dlq replay` publishes again.
 */
import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, TimestampSchema, file_google_protobuf_timestamp } from "@bufbuild/protobuf/wkt";
import { bytes, createSluiceClient, type PublishError } from "@sluice/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, startCli } from "./start-cli.js";
import type { DeadLetterRecord } from "@sluice/server-node";

interface Described {
  name: string;
  publish: boolean;
  deadLetterStream?: string;
  history?: { oldestSeq: number; nextSeq: number };
}

const ORDER_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  required: ["id", "amount"],
  properties: { id: { type: "string" }, amount: { type: "number", minimum: 0 } },
};

function writeConfig(dir: string, streams: string): string {
  const path = join(dir, "sluice.yaml");
  writeFileSync(path, `server:\n  port: 0\nstreams:\n${streams}`);
  return path;
}

describe("dead letters of a configured server", () => {
  let child: ChildProcess;
  let url = "";
  const dir = mkdtempSync(join(tmpdir(), "sluice-dlq-"));
  beforeAll(async () => {
    writeFileSync(join(dir, "order.schema.json"), JSON.stringify(ORDER_SCHEMA));
    writeFileSync(join(dir, "timestamp.binpb"), toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [file_google_protobuf_timestamp.proto] })));
    const config = writeConfig(
      dir,
      [
        "  orders:",
        "    source: { type: topic, historyItems: 1000 }",
        "    publish:",
        "      maxItemBytes: 300",
        "      validate: { jsonSchema: order.schema.json }",
        "  stamps:",
        "    source: { type: topic }",
        "    contentType: application/x-protobuf",
        "    publish:",
        "      validate: { protobuf: { descriptorSet: timestamp.binpb, message: google.protobuf.Timestamp } }",
        "      deadLetters: { stream: rejected-stamps, historyItems: 50 }",
        "",
      ].join("\n"),
    );
    ({ child, url } = await startCli(["--config", config]));
  });
  afterAll(() => {
    child?.kill("SIGKILL");
  });

  const describeStreams = async () => ((await (await fetch(`${url}/streams`)).json()) as { streams: Described[] }).streams;
  /** Every record the dead-letter stream holds now, read from its oldest. */
  const deadLetters = async (stream: string): Promise<(DeadLetterRecord & { dlqSeq: number })[]> => {
    const { history } = (await describeStreams()).find((s) => s.name === stream)!;
    const records: (DeadLetterRecord & { dlqSeq: number })[] = [];
    if (history!.nextSeq === history!.oldestSeq) return records;
    const client = createSluiceClient({ baseUrl: url });
    for await (const event of client.subscribe<DeadLetterRecord>(stream, { startAfter: { seq: history!.oldestSeq - 1 } })) {
      if (event.kind !== "item") continue;
      records.push({ ...event.value, dlqSeq: event.seq });
      if (event.seq === history!.nextSeq - 1) break;
    }
    client.close();
    return records;
  };

  it("creates each publishable stream's dead-letter stream, and GET /streams names it and tells its retained seqs", async () => {
    const streams = await describeStreams();
    expect(streams.map((s) => s.name)).toEqual(["orders", "stamps", "orders.dlq", "rejected-stamps"]);
    expect(streams.find((s) => s.name === "orders")).toMatchObject({ publish: true, deadLetterStream: "orders.dlq" });
    expect(streams.find((s) => s.name === "stamps")).toMatchObject({ publish: true, deadLetterStream: "rejected-stamps" });
    expect(streams.find((s) => s.name === "orders.dlq")).toMatchObject({ publish: false, history: { oldestSeq: expect.any(Number), nextSeq: expect.any(Number) } });
  });

  it("dead-letters items that fail the JSON Schema or exceed maxItemBytes, naming why, into orders.dlq; the rest reach orders", async () => {
    const client = createSluiceClient({ baseUrl: url });
    const publisher = client.publish<Record<string, unknown>>("orders", { publisherId: "shop-1" });
    const items = [{ id: "a", amount: 5 }, { id: "b", amount: -1 }, { id: "c" }, { id: "d", amount: 1, note: "x".repeat(400) }, { id: "e", amount: 7 }];
    const results = await Promise.allSettled(items.map((item) => publisher.send(item)));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "rejected", "fulfilled"]);
    const reasons = results.map((r) => (r.status === "rejected" ? (r.reason as PublishError).message : "accepted"));
    expect(reasons).toEqual(["accepted", "dead-lettered: validation: /amount: must be >= 0", "dead-lettered: validation: (item): must have required property 'amount'", expect.stringMatching(/^dead-lettered: too large: 4\d\d bytes, over the stream's maxItemBytes 300$/), "accepted"]);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ failure: "dead_lettered", deadLetterTopic: "orders.dlq", seq: 2 });
    const records = await deadLetters("orders.dlq");
    expect(records.map((r) => [r.publisherId, r.seq, r.stream])).toEqual([
      ["shop-1", 2, "orders"],
      ["shop-1", 3, "orders"],
      ["shop-1", 4, "orders"],
    ]);
    expect(records[0]).toMatchObject({ reason: "validation: /amount: must be >= 0", value: { id: "b", amount: -1 } });
    // /metrics counts both outcomes by stream.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^sluice_dead_lettered_items_total\{stream="orders"\} 3$/m);
    expect(metrics).toMatch(/^sluice_published_items_total\{stream="orders"\} 2$/m);
    // A reader from seq 1 (`sluice tail URL orders.dlq --from 1`) gets a gap for the seqs before the topic's first, then every record.
    const fromOne: string[] = [];
    for await (const event of client.subscribe<DeadLetterRecord>("orders.dlq", { startAfter: { seq: 0 } })) {
      fromOne.push(event.kind === "gap" ? `gap ${event.reason}` : `${event.value.publisherId} ${event.value.seq}`);
      if (fromOne.length === 4) break;
    }
    expect(fromOne).toEqual(["gap restarted", "shop-1 2", "shop-1 3", "shop-1 4"]);
    await publisher.close();
    client.close();
  });

  it("checks protobuf items against the message type of a descriptor set, into the configured dead-letter stream", async () => {
    const client = createSluiceClient({ baseUrl: url });
    const publisher = client.publish<Uint8Array>("stamps", { codec: bytes() });
    const good = toBinary(TimestampSchema, create(TimestampSchema, { seconds: 1_700_000_000n }));
    await expect(publisher.send(good)).resolves.toMatchObject({ seq: 1 });
    const bad = await publisher.send(new Uint8Array([0x0a, 0xff, 0xff])).catch((error: unknown) => error as PublishError);
    expect(bad).toMatchObject({ failure: "dead_lettered", deadLetterTopic: "rejected-stamps" });
    expect((bad as PublishError).message).toMatch(/^dead-lettered: validation: not a google\.protobuf\.Timestamp: /);
    const records = await deadLetters("rejected-stamps");
    expect(records).toHaveLength(1);
    expect(Buffer.from(records[0]!.data, "base64")).toEqual(Buffer.from([0x0a, 0xff, 0xff]));
    expect(records[0]).not.toHaveProperty("value");
    await publisher.close();
    client.close();
  });

  it("replays a dead-letter stream with `sluice-server dlq replay`: what is refused again becomes a new dead letter, not replayed in a loop, and the exit code says so", async () => {
    const before = await deadLetters("orders.dlq");
    const replay = spawnSync(process.execPath, [cli, "dlq", "replay", "orders.dlq", "--url", url], { encoding: "utf8", timeout: 30_000 });
    expect(replay.stderr).toBe("");
    const lines = replay.stdout.trim().split("\n");
    const first = before[0]!.dlqSeq;
    const last = before.at(-1)!.dlqSeq;
    expect(lines.slice(0, -1)).toEqual([
      `orders.dlq seq ${first} (orders, publisher shop-1 seq 2): dead-lettered again: validation: /amount: must be >= 0`,
      `orders.dlq seq ${first + 1} (orders, publisher shop-1 seq 3): dead-lettered again: validation: (item): must have required property 'amount'`,
      expect.stringMatching(new RegExp(`^orders\\.dlq seq ${first + 2} \\(orders, publisher shop-1 seq 4\\): dead-lettered again: too large: `)),
    ]);
    expect(lines.at(-1)).toBe(`orders.dlq: replayed 3 dead letters (seqs ${first}-${last}): 0 accepted, 3 dead-lettered again; to go on from here next time: --from ${last + 1}`);
    expect(replay.status).toBe(1);
    // The refused replays are new records after the old ones, from the replay's own publisher.
    const after = await deadLetters("orders.dlq");
    expect(after).toHaveLength(6);
    expect(after.slice(3).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(new Set(after.slice(3).map((r) => r.publisherId)).size).toBe(1);
    expect(after[3]!.publisherId).not.toBe("shop-1");
    // Going on from there replays only the new ones; past the end there is nothing to do.
    const nothing = spawnSync(process.execPath, [cli, "dlq", "replay", "orders.dlq", "--url", url, "--from", String(after.at(-1)!.dlqSeq + 1)], { encoding: "utf8", timeout: 30_000 });
    expect(nothing.stdout.trim()).toBe(`orders.dlq: nothing to replay (it holds seqs ${first}-${after.at(-1)!.dlqSeq})`);
    expect(nothing.status).toBe(0);
  });

  it("says what is wrong when the replay cannot start: an unknown stream, a bad --from", () => {
    const unknown = spawnSync(process.execPath, [cli, "dlq", "replay", "nope.dlq", "--url", url], { encoding: "utf8", timeout: 30_000 });
    expect(unknown.stderr.trim()).toBe(`sluice-server dlq: stream_not_found: ${url} has no stream nope.dlq that these credentials may read (it has orders, stamps, orders.dlq, rejected-stamps)`);
    expect(unknown.status).toBe(1);
    const badFrom = spawnSync(process.execPath, [cli, "dlq", "replay", "orders.dlq", "--from", "zero"], { encoding: "utf8", timeout: 30_000 });
    expect(badFrom.stderr.trim()).toBe("sluice-server dlq: --from must be a seq (an integer from 1), got zero");
    expect(badFrom.status).toBe(2);
  });
});

describe("dead-letter settings that cannot work are refused by validate", () => {
  const validate = (streams: string, files: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-dlq-config-"));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const result = spawnSync(process.execPath, [cli, "validate", writeConfig(dir, streams)], { encoding: "utf8" });
    return { status: result.status, problems: result.stderr.trim().split("\n").slice(1), dir };
  };

  it("a JSON Schema that does not compile, a missing schema file, a message the descriptor set lacks", () => {
    const result = validate(
      ["  a:", "    source: { type: topic }", "    publish: { validate: { jsonSchema: bad.json } }", "  b:", "    source: { type: topic }", "    publish: { validate: { jsonSchema: missing.json } }", ""].join("\n"),
      { "bad.json": JSON.stringify({ type: "object", properties: { n: { type: "numbr" } } }) },
    );
    expect(result.status).toBe(1);
    expect(result.problems).toEqual([expect.stringMatching(/^ {2}streams\.b\.publish\.validate\.jsonSchema: cannot read .*missing\.json \(ENOENT\)$/)]);
    const compiled = validate(["  a:", "    source: { type: topic }", "    publish: { validate: { jsonSchema: bad.json } }", ""].join("\n"), { "bad.json": JSON.stringify({ type: "object", properties: { n: { type: "numbr" } } }) });
    expect(compiled.problems).toEqual([expect.stringMatching(/^ {2}streams\.a\.publish\.validate: .*bad\.json: not a usable JSON Schema: schema is invalid: data\/properties\/n\/type/)]);
    const proto = validate(["  a:", "    source: { type: topic }", "    publish: { validate: { protobuf: { descriptorSet: ts.binpb, message: acme.Order } } }", ""].join("\n"));
    writeFileSync(join(proto.dir, "ts.binpb"), toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [file_google_protobuf_timestamp.proto] })));
    const again = spawnSync(process.execPath, [cli, "validate", join(proto.dir, "sluice.yaml")], { encoding: "utf8" });
    expect(again.stderr).toMatch(/streams\.a\.publish\.validate: .*ts\.binpb: has no message acme\.Order \(it has google\.protobuf\.Timestamp\)/);
  });

  it("a dead-letter stream that is not a topic, or takes publishing itself; deadLetters.allow without auth", () => {
    const result = validate(
      [
        "  a:",
        "    source: { type: topic }",
        "    publish: { deadLetters: { stream: gen } }",
        "  b:",
        "    source: { type: topic }",
        "    publish: { deadLetters: { stream: a } }",
        "  c:",
        "    source: { type: topic }",
        "    publish: { deadLetters: { allow: ['*'] } }",
        "  gen:",
        "    source: { type: generator }",
        "",
      ].join("\n"),
    );
    expect(result.status).toBe(1);
    expect(result.problems).toEqual([
      "  streams.a.publish.deadLetters.stream: gen is a generator stream; dead letters need a topic stream (or a name that is not configured, and it is created)",
      "  streams.b.publish.deadLetters.stream: a takes publishing itself; a dead-letter stream takes only dead letters",
      "  streams.c.publish.deadLetters.allow: restricts who may read the dead letters, but there is no auth section to tell who is asking: add auth (apiKeys or jwt), or remove deadLetters.allow",
    ]);
  });
});
