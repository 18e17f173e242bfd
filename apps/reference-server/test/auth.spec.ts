/**
 * Authentication and per-stream permissions through the built CLI, over every
 * transport (HTTP/2, HTTP/1.1 half duplex including its Control calls, and
 * WebSocket): no token, a bad token, an expired token, the wrong stream, an
 * API key, and a Control call from someone else. Errors are precise and leak
 * nothing: no token material, and no stream names to unauthenticated callers.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createSluiceClient } from "@sluice/client-node";
import { clientFrameToWire, serverFrameFromWire, SubscribeHalfDuplexRequestSchema, SubscribeService } from "@sluice/protocol";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCli } from "./start-cli.js";

const SECRET = "test-secret-that-is-long-enough-for-hs256!";
const API_KEY = "key-0123456789abcdef";

let child: ChildProcess;
let url = "";

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-auth-"));
  const config = join(dir, "auth.yaml");
  writeFileSync(
    config,
    [
      "auth:",
      "  jwt: { hs256SecretEnv: TEST_JWT_SECRET, issuer: sluice-tests }",
      `  apiKeys: [{ key: ${API_KEY}, principal: batch-job, claims: { role: reader } }]`,
      "streams:",
      "  public:",
      '    allow: ["*"]',
      "    source: { type: generator, ratePerSecond: 0, count: 1000 }",
      "  reports:",
      "    allow: [{ role: [reader, admin] }]",
      "    source: { type: generator, ratePerSecond: 0, count: 1000 }",
      "  admin-only:",
      "    allow: [{ role: admin }]",
      "    source: { type: generator, ratePerSecond: 50 }",
      "  nobody:",
      "    source: { type: generator }",
    ].join("\n"),
  );
  ({ child, url } = await startCli(["--config", config], { TEST_JWT_SECRET: SECRET }));
});
afterAll(() => {
  child?.kill("SIGKILL");
});

const token = (claims: Record<string, unknown>, options: { secret?: string; expiresIn?: string | number; issuer?: string } = {}) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(options.issuer ?? "sluice-tests")
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "5m")
    .sign(new TextEncoder().encode(options.secret ?? SECRET));

type Credentials = { token?: string; apiKey?: string };

async function attempt(transport: { transport: "http" | "websocket"; httpVersion?: "1.1" | "2" }, stream: string, credentials: Credentials): Promise<{ items: number; error?: { code: string; message: string } }> {
  const client = createSluiceClient({ baseUrl: url, ...transport, ...credentials });
  let items = 0;
  try {
    for await (const event of client.subscribe(stream, { backoff: { maxAttempts: 1, initialMs: 1 } })) {
      if (event.kind === "item" && ++items === 100) break;
    }
    return { items };
  } catch (error) {
    return { items, error: error as { code: string; message: string } };
  } finally {
    client.close();
  }
}

const TRANSPORTS = [
  { name: "HTTP/2", transport: "http" as const, httpVersion: "2" as const },
  { name: "HTTP/1.1 half duplex", transport: "http" as const, httpVersion: "1.1" as const },
  { name: "WebSocket", transport: "websocket" as const },
];

describe.each(TRANSPORTS)("auth over $name", (transport) => {
  it("lets an allowed principal subscribe", async () => {
    expect(await attempt(transport, "public", { token: await token({ sub: "alice" }) })).toEqual({ items: 100 });
    expect(await attempt(transport, "reports", { token: await token({ sub: "alice", role: "reader" }) })).toEqual({ items: 100 });
    expect(await attempt(transport, "reports", { apiKey: API_KEY })).toEqual({ items: 100 });
  });

  it("refuses a missing token with unauthenticated, without revealing streams", async () => {
    for (const stream of ["public", "no-such-stream"]) {
      const { error } = await attempt(transport, stream, {});
      expect(error).toMatchObject({ code: "unauthenticated", message: expect.stringMatching(/missing credentials/) });
    }
  });

  it("refuses a token with a bad signature, a wrong issuer, an expired token and a bad API key", async () => {
    const forged = await token({ sub: "mallory", role: "admin" }, { secret: "some-other-secret-some-other-secret-!!" });
    expect((await attempt(transport, "public", { token: forged })).error).toMatchObject({ code: "unauthenticated", message: "invalid token" });
    const foreign = await token({ sub: "alice" }, { issuer: "elsewhere" });
    expect((await attempt(transport, "public", { token: foreign })).error).toMatchObject({ code: "unauthenticated", message: expect.stringMatching(/^token rejected: claim iss /) });
    const expired = await token({ sub: "alice" }, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    const result = await attempt(transport, "public", { token: expired });
    expect(result.error).toMatchObject({ code: "unauthenticated", message: "token expired" });
    expect(result.error?.message).not.toContain(expired.slice(0, 20));
    expect((await attempt(transport, "public", { apiKey: "key-wrong-wrong-wrong" })).error).toMatchObject({ code: "unauthenticated", message: "invalid API key" });
  });

  it("refuses the wrong stream with permission_denied (rules on claims; deny by default)", async () => {
    const reader = await token({ sub: "alice", role: "reader" });
    expect((await attempt(transport, "admin-only", { token: reader })).error).toMatchObject({ code: "permission_denied", message: "alice may not subscribe to admin-only" });
    expect((await attempt(transport, "nobody", { token: await token({ sub: "root", role: "admin" }) })).error).toMatchObject({ code: "permission_denied" });
    expect((await attempt(transport, "admin-only", { token: await token({ sub: "root", role: "admin" }) })).items).toBe(100);
  });
});

describe("the half-duplex Control call", () => {
  it("needs a valid token of the session's owner; others get the same answer as a wrong secret, and the session goes on", async () => {
    const alice = await token({ sub: "alice", role: "admin" });
    const bob = await token({ sub: "bob", role: "admin" });
    const transport = (bearer?: string) =>
      createConnectTransport({
        baseUrl: url,
        httpVersion: "1.1",
        interceptors: bearer ? [(next) => (request) => (request.header.set("authorization", `Bearer ${bearer}`), next(request))] : [],
      });
    const asAlice = createClient(SubscribeService, transport(alice));
    const abort = new AbortController();
    const open = clientFrameToWire({ type: "open", stream: "admin-only", params: {}, window: { items: 5, bytes: 1 << 20 }, heartbeatIntervalMs: 0, clientInfo: "auth-test" });
    const frames: ReturnType<typeof serverFrameFromWire>[] = [];
    const done = (async () => {
      for await (const response of asAlice.subscribeHalfDuplex(create(SubscribeHalfDuplexRequestSchema, { open: open.kind.value as never }), { signal: abort.signal })) frames.push(serverFrameFromWire(response.frame!));
    })().catch(() => undefined);
    // The window (5 items) full: credit up to 10 is then what a receiver that consumed them would grant.
    const received = () => frames.reduce((n, f) => n + (f.type === "chunk" ? f.items.length : 0), 0);
    for (let i = 0; i < 200 && received() < 5; i++) await new Promise((r) => setTimeout(r, 10));
    const opened = frames[0];
    if (opened?.type !== "opened") throw new Error("no Opened");
    const control = { sessionId: opened.sessionId, sessionSecret: opened.sessionSecret, frames: [clientFrameToWire({ type: "credit", maxSeq: 10, maxBytes: 1 << 20 })] };
    const fail = (client: ReturnType<typeof createClient<typeof SubscribeService>>) => client.control(control).then(() => undefined, (e: unknown) => ConnectError.from(e));
    const none = await fail(createClient(SubscribeService, transport()));
    expect(none?.code).toBe(Code.Unauthenticated);
    const other = await fail(createClient(SubscribeService, transport(bob)));
    expect(other?.code).toBe(Code.PermissionDenied);
    expect(other?.rawMessage).toBe("no session with this id and secret");
    // The owner's credit still works: items 6..10 follow.
    await asAlice.control(control);
    for (let i = 0; i < 200 && frames.filter((f) => f.type === "chunk").reduce((n, f) => n + (f.type === "chunk" ? f.items.length : 0), 0) < 10; i++) await new Promise((r) => setTimeout(r, 10));
    expect(frames.filter((f) => f.type === "chunk").reduce((n, f) => n + (f.type === "chunk" ? f.items.length : 0), 0)).toBe(10);
    abort.abort();
    await done;
  });
});

describe("stream discovery (GET /streams, sluice streams) under auth", () => {
  const list = async (headers: Record<string, string>) => {
    const response = await fetch(`${url}/streams`, { headers });
    return { status: response.status, body: (await response.json()) as { streams?: { name: string }[]; error?: string } };
  };

  it("lists only the streams the caller may subscribe to, and nothing without credentials", async () => {
    expect(await list({})).toEqual({ status: 401, body: { error: "unauthenticated: credentials are required to list streams" } });
    expect(await list({ authorization: "Bearer not-a-token" })).toMatchObject({ status: 401 });
    const reader = await list({ "x-api-key": API_KEY });
    expect(reader.body.streams!.map((s) => s.name)).toEqual(["public", "reports"]);
    const admin = await list({ authorization: `Bearer ${await token({ sub: "root", role: "admin" })}` });
    expect(admin.body.streams!.map((s) => s.name)).toEqual(["public", "reports", "admin-only"]);
  });

  it("is what `sluice streams` prints", async () => {
    const { spawnSync } = await import("node:child_process");
    const cliPath = join(import.meta.dirname, "..", "..", "..", "packages", "client-node", "src", "cli.ts");
    const result = spawnSync(process.execPath, ["--conditions=@sluice/source", "--import", "tsx", cliPath, "streams", url, "--api-key", API_KEY], { encoding: "utf8" });
    expect(result.stdout).toBe("public\tgenerator\tparams: count\nreports\tgenerator\tparams: count\n");
    expect(result.status).toBe(0);
    const refused = spawnSync(process.execPath, ["--conditions=@sluice/source", "--import", "tsx", cliPath, "streams", url], { encoding: "utf8" });
    expect(refused.stderr).toBe(`sluice: ${url} answered 401: unauthenticated: credentials are required to list streams\n`);
    expect(refused.status).toBe(1);
  });
});

describe("a config that restricts access without auth", () => {
  it("is refused, naming the stream, instead of serving the stream to everyone", async () => {
    const { ConfigError, parseConfig } = await import("../src/config.js");
    const document = { streams: { secret: { source: { type: "generator" }, allow: [{ role: "admin" }] }, open: { source: { type: "generator" } } } };
    let error: unknown;
    try {
      parseConfig(document, "spec");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as InstanceType<typeof ConfigError>).problems).toEqual([
      "streams.secret.allow: restricts who may subscribe, but there is no auth section to tell who is asking: add auth (apiKeys or jwt), or remove allow",
    ]);
    // The same config with an auth section is valid.
    expect(() => parseConfig({ ...document, auth: { apiKeys: [{ key: "k".repeat(32), principal: "p", claims: { role: "admin" } }] } }, "spec")).not.toThrow();
  });
});
