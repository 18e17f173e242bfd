/** The browser side of latency-bench.ts: window.sluiceLatency(...) returns each item's lag on arrival. */
import { createSluiceClient } from "@sluice/client-web";

declare global {
  interface Window {
    sluiceLatency(options: { stream: string; transport: "connect" | "websocket"; count: number }): Promise<number[]>;
  }
}

window.sluiceLatency = async ({ stream, transport, count }) => {
  const client = createSluiceClient({ transport });
  const lags: number[] = [];
  for await (const event of client.subscribe<{ at: number }>(stream)) {
    if (event.kind !== "item") continue;
    lags.push(performance.timeOrigin + performance.now() - event.value.at);
    if (lags.length >= count) break;
  }
  client.close();
  return lags;
};
