/**
 * The server side of http2-bench.ts, in its own process so that client and
 * server each get a core. Prints one JSON line: { sluice, naive, raw } URLs.
 *
 * - sluice: a SluiceServer (listen defaults: no compression, 1 MiB/16 MiB
 *   HTTP/2 windows); stream "items" with params { count, size }, and an idle
 *   topic "idle" for the per-subscription heap figure; "heap" reports heapUsed.
 * - naive: connect-node's connectNodeAdapter with default options but no
 *   compression, one server-streaming message per item (the peer to beat).
 * - raw:   node:http2, the response body is count*size bytes.
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { SubscribeHalfDuplexResponseSchema, SubscribeResponseSchema, SubscribeService } from "@sluice/protocol";
import { collectGarbage, payload } from "./bench-common.js";
import { SluiceServer, Topic, listen } from "@sluice/server-node";

const idle = new Topic("idle");

const sluice = new SluiceServer({
  ...(process.env.BENCH_DEBUG ? { onSessionEnd: (o: { stream: string; counters: object }) => o.stream === "items" && console.error(JSON.stringify(o.counters)) } : {}),
  streams: {
    items: {
      params: (p) => ({ count: Number(p.count), size: Number(p.size) }),
      ...(process.env.CHUNK_BYTES ? { chunk: { maxBytes: Number(process.env.CHUNK_BYTES), maxItems: 65_536 } } : {}),
      source: {
        async *open(params: { count: number; size: number }) {
          const data = payload(params.size);
          for (let i = 0; i < params.count; i++) yield { data };
        },
      },
    },
    idle: { topic: idle },
    // The CPU time this process has used, for the idle-CPU figure (no GC forced: that would count).
    cpu: {
      source: {
        async *open() {
          const { user, system } = process.cpuUsage();
          yield { data: new TextEncoder().encode(JSON.stringify({ cpuMs: (user + system) / 1000 })) };
        },
      },
    },
    heap: {
      source: {
        async *open() {
          await collectGarbage();
          yield { data: new TextEncoder().encode(JSON.stringify({ heapUsed: process.memoryUsage().heapUsed })) };
        },
      },
    },
  },
});
// 10 000 idle subscriptions share one connection for the heap figure.
const sluiceServer = await listen(sluice, { protocols: (process.env.BENCH_PROTOCOLS as "h2c" | undefined) ?? "h2c", maxStreamsPerConnection: 20_000 });
// listen's default one-port mode (h2c + HTTP/1.1 + WebSocket, routed by the first bytes), against "h2c" above.
const sluiceDefaultServer = await listen(sluice);
// The same server with gzip accepted, to measure what compression costs.
const sluiceGzipServer = await listen(sluice, { compression: true, protocols: "h2c" });

const naiveServer = http2.createServer(
  connectNodeAdapter({
    acceptCompression: [],
    routes(router) {
      router.service(SubscribeService, {
        // The floor for the idle-heap figure: a bidi handler that reads its
        // requests in the background and has answered once, as a Sluice
        // session does, with nothing of Sluice in it.
        async *subscribe(requests) {
          void (async () => {
            for await (const _ of requests) void _;
          })();
          yield create(SubscribeResponseSchema, {});
          await new Promise(() => undefined);
        },
        async *subscribeHalfDuplex(request) {
          const count = Number(request.open?.params?.count ?? 0);
          const size = Number(request.open?.params?.size ?? 0);
          const data = payload(size);
          for (let i = 1; i <= count; i++) {
            yield create(SubscribeHalfDuplexResponseSchema, { frame: { kind: { case: "chunk", value: { firstSeq: BigInt(i), items: [data] } } } });
          }
        },
      });
    },
  }),
);
await new Promise<void>((r) => naiveServer.listen(0, "127.0.0.1", () => r()));

const rawServer = http2.createServer({ settings: { initialWindowSize: 1 << 20 } });
rawServer.on("session", (s) => s.setLocalWindowSize(16 << 20));
rawServer.on("stream", (stream, headers) => {
  const url = new URL(headers[":path"] ?? "/", "http://x");
  const count = Number(url.searchParams.get("count"));
  const size = Number(url.searchParams.get("size"));
  stream.respond({ ":status": 200 });
  const block = Buffer.alloc(Math.max(size, 16 * 1024), 1);
  let remaining = count * size;
  const write = () => {
    while (remaining > 0) {
      const n = Math.min(block.length, remaining);
      remaining -= n;
      if (!stream.write(block.subarray(0, n))) return void stream.once("drain", write);
    }
    stream.end();
  };
  write();
});
await new Promise<void>((r) => rawServer.listen(0, "127.0.0.1", () => r()));

console.log(
  JSON.stringify({
    sluice: sluiceServer.url,
    sluiceGzip: sluiceGzipServer.url,
    sluiceDefault: sluiceDefaultServer.url,
    naive: `http://127.0.0.1:${(naiveServer.address() as AddressInfo).port}`,
    raw: `http://127.0.0.1:${(rawServer.address() as AddressInfo).port}`,
  }),
);
process.on("SIGTERM", () => process.exit(0));
