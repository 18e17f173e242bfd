/**
 * Publishing through the built CLI (PROTOCOL.md §3.4): the embedded `news`
 * topic takes publishing, so `npm start` shows both directions; a config's
 * publish permissions are separate from subscribe permissions and enforced;
 * configs that cannot be enforced are refused.
 */
import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSluiceClient } from "@sluice/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, startCli } from "./start-cli.js";

const WRITER = "writer-key-0123456789";
const READER = "reader-key-0123456789";

describe("the embedded defaults", () => {
  let child: ChildProcess;
  let url = "";
  beforeAll(async () => {
    ({ child, url } = await startCli([]));
  });
  afterAll(() => {
    child?.kill("SIGKILL");
  });

  it("take publishing into news: a subscriber gets what was published, and GET /streams says which streams take it", async () => {
    const client = createSluiceClient({ baseUrl: url });
    const streams = (await (await fetch(`${url}/streams`)).json()) as { streams: { name: string; publish: boolean }[] };
    expect(streams.streams.filter((s) => s.publish).map((s) => s.name)).toEqual(["news"]);
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const got: string[] = [];
    const reading = (async () => {
      for await (const event of client.subscribe<{ headline?: string }>("news", { onState: (s) => s.state === "open" && opened() })) {
        if (event.kind === "item" && event.value.headline?.startsWith("published ")) got.push(event.value.headline);
        if (got.length === 3) break;
      }
    })();
    await open;
    const publisher = client.publish<{ headline: string }>("news");
    const receipts = await Promise.all([1, 2, 3].map((n) => publisher.send({ headline: `published ${n}` })));
    expect(receipts.map((r) => r.seq)).toEqual([1, 2, 3]);
    await reading;
    expect(got).toEqual(["published 1", "published 2", "published 3"]);
    await publisher.close();
    client.close();
  });

  it("refuse publishing into a stream that takes none, naming it", async () => {
    const client = createSluiceClient({ baseUrl: url });
    await expect(client.publish("ticks").send({})).rejects.toMatchObject({ code: "permission_denied", message: "stream ticks does not take publishing" });
    client.close();
  });
});

describe("publish permissions", () => {
  let child: ChildProcess;
  let url = "";
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-publish-"));
    const config = join(dir, "publish.yaml");
    writeFileSync(
      config,
      [
        "auth:",
        `  apiKeys: [{ key: ${WRITER}, principal: writer, claims: { role: writer } }, { key: ${READER}, principal: reader, claims: { role: reader } }]`,
        "streams:",
        "  orders:",
        "    allow: [{ role: [reader, writer] }]",
        "    publish: { allow: [{ role: writer }], window: { items: 100, bytes: 65536 } }",
        "    source: { type: topic, historyItems: 100 }",
      ].join("\n"),
    );
    ({ child, url } = await startCli(["--config", config]));
  });
  afterAll(() => {
    child?.kill("SIGKILL");
  });

  it("let a principal that publish.allow names publish, and refuse one that may only subscribe", async () => {
    const writer = createSluiceClient({ baseUrl: url, apiKey: WRITER });
    expect((await writer.publish("orders").send({ id: 1 })).seq).toBe(1);
    writer.close();
    const reader = createSluiceClient({ baseUrl: url, apiKey: READER });
    await expect(reader.publish("orders").send({ id: 2 })).rejects.toMatchObject({ code: "permission_denied", message: "reader may not publish to orders" });
    const anonymous = createSluiceClient({ baseUrl: url });
    await expect(anonymous.publish("orders").send({ id: 3 })).rejects.toMatchObject({ code: "unauthenticated" });
    reader.close();
    anonymous.close();
  });
});

describe("publish in a config", () => {
  it("is refused where it cannot work or cannot be enforced, every problem in one pass", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-publish-"));
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      [
        "streams:",
        "  ticks:",
        "    source: { type: generator }",
        "    publish: {}",
        "  news:",
        "    source: { type: topic }",
        "    publish: { allow: [\"*\"], window: { items: 0, bytes: 10 } }",
      ].join("\n"),
    );
    const result = spawnSync(process.execPath, [cli, "validate", file], { encoding: "utf8" });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split("\n").slice(1)).toEqual([
      "  streams.news.publish.window.items: must be above 0, got 0",
      "  streams.ticks.publish: only topic streams take publishing (this one's source is generator)",
      "  streams.news.publish.allow: restricts who may publish, but there is no auth section to tell who is asking: add auth (apiKeys or jwt), or remove publish.allow",
    ]);
  });
});
