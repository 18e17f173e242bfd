/**
 * Connections that never get going are closed (issue 14): 100 each of
 * HTTP/1.1 connections that send half their headers, that send a header line
 * every 500 ms, that send half an HTTP/2 preface, and that send nothing. With
 * the preface and headers timeouts at 1 s they are all gone within 2.5 s,
 * `maxConnections` is never exhausted for long, and a normal client is served
 * meanwhile.
 */
import net from "node:net";
import { SluiceServer, fromIterable, listen, type Listening } from "@sluice/server-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createSluiceClient } from "../src/index.js";

let server: Listening;
beforeAll(async () => {
  const sluice = new SluiceServer({ streams: { numbers: { source: fromIterable(() => Array.from({ length: 1_000 }, (_, i) => i + 1)) } } });
  server = await listen(sluice, {
    maxConnections: 500,
    timeouts: { prefaceTimeoutMs: 1_000, headersTimeoutMs: 1_000 },
    fallback: (_request, response) => void response.writeHead(200).end("ok"),
  });
});
afterAll(async () => {
  await server.close();
});

interface Attacker {
  readonly kind: string;
  readonly socket: net.Socket;
  closedAt: number;
  timer?: ReturnType<typeof setInterval>;
}

function attack(kind: "half headers" | "trickled headers" | "half preface" | "nothing"): Attacker {
  const socket = net.connect({ port: server.port, host: "127.0.0.1" });
  const attacker: Attacker = { kind, socket, closedAt: 0 };
  socket.on("error", () => undefined);
  // Read what comes (a 408, then the end): a paused socket would not notice the server closing it.
  socket.resume();
  socket.on("close", () => {
    attacker.closedAt = performance.now();
    clearInterval(attacker.timer);
  });
  socket.on("connect", () => {
    if (kind === "half headers") socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    if (kind === "trickled headers") {
      socket.write("GET /healthz HTTP/1.1\r\n");
      let n = 0;
      attacker.timer = setInterval(() => socket.write(`X-Slow-${n++}: a\r\n`), 500);
    }
    if (kind === "half preface") socket.write("PRI * HTTP/2.0\r\n");
  });
  return attacker;
}

it("closes 400 stalled connections within the preface and headers timeouts and keeps serving", async () => {
  const started = performance.now();
  const attackers = (["half headers", "trickled headers", "half preface", "nothing"] as const).flatMap((kind) => Array.from({ length: 100 }, () => attack(kind)));
  await new Promise((resolve) => setTimeout(resolve, 300));
  // Meanwhile a normal client is served (the stalled ones hold 400 of 500 connections).
  const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
  let items = 0;
  for await (const e of client.subscribe("numbers")) if (e.kind === "item") items++;
  client.close();
  expect(items).toBe(1_000);
  await new Promise((resolve) => setTimeout(resolve, 2_200));
  const open = attackers.filter((a) => a.closedAt === 0);
  const latest = Math.max(...attackers.map((a) => a.closedAt - started));
  console.log(`slowloris: ${attackers.length - open.length} of ${attackers.length} stalled connections closed, the last after ${Math.round(latest)} ms`);
  for (const a of open) a.socket.destroy();
  expect([...new Set(open.map((a) => a.kind))]).toEqual([]);
  expect(open).toHaveLength(0);
  expect(latest).toBeLessThan(2_500);
}, 30_000);
