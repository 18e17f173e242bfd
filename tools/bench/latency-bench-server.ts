/**
 * The server side of latency-bench.ts, in its own process: listen() on its
 * default one port (h2c + HTTP/1.1 + WebSocket), default limits (heartbeat
 * every 5 s) and chunking (5 ms flush deadline). Streams:
 * - ticks: a generator of 20 items/s, each {"at": ms since the epoch};
 * - live: a topic published to 20 times a second, the same items.
 * Serves the bench page at / (PAGE_JS). Prints one JSON line: { url }.
 */
import { readFileSync } from "node:fs";
import { SluiceServer, Topic, listen } from "@sluice/server-node";

const wallClock = () => performance.timeOrigin + performance.now();
const at = () => new TextEncoder().encode(JSON.stringify({ at: wallClock() }));
const RATE_MS = 50;
const live = new Topic("live", { historyItems: 100 });
setInterval(() => live.publish(at()), RATE_MS);

const sluice = new SluiceServer({
  streams: {
    ticks: {
      source: {
        async *open(_params, _cursor, { signal }) {
          let next = performance.now();
          while (!signal.aborted) {
            next += RATE_MS;
            await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
            yield { data: at() };
          }
        },
      },
    },
    live: { topic: live },
  },
});
const pageJs = process.env.PAGE_JS ? readFileSync(process.env.PAGE_JS) : undefined;
const server = await listen(sluice, {
  fallback: (request, response) => {
    if (request.url === "/page.js" && pageJs) return void response.writeHead(200, { "content-type": "text/javascript" }).end(pageJs);
    response.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>`);
  },
});
console.log(JSON.stringify({ url: server.url }));
process.on("SIGTERM", () => process.exit(0));
