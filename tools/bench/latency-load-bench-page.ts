/** The browser side of latency-load-bench.ts: window.sluiceLoad(...) runs latency-load-run.ts on a client-web client. */
import { bytes, createSluiceClient } from "@sluice/client-web";
import { loadRun, maxRateRun, type LoadResult, type MaxRateResult } from "./latency-load-run.js";

type Options = { transport: "connect" | "websocket"; run: number; warmupMs: number; measureMs: number; timeoutMs: number };

declare global {
  interface Window {
    sluiceLoad(options: Options & ({ mode: "max" } | { mode: "load"; rate: number })): Promise<MaxRateResult | LoadResult>;
  }
}

window.sluiceLoad = async (options) => {
  const client = createSluiceClient({ transport: options.transport });
  try {
    return options.mode === "max" ? await maxRateRun(client, bytes(), "", options) : await loadRun(client, bytes(), "", options);
  } finally {
    client.close();
  }
};
