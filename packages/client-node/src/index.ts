/**
 * @sluice/client-node: the Sluice client with Node defaults: connect-node
 * over HTTP/2, binary protobuf, and larger HTTP/2 flow-control windows.
 */
import type { ClientHttp2Session } from "node:http2";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import { createSluiceClient as createClient, type SluiceClient } from "@sluice/client";

export * from "@sluice/client";

export interface NodeClientOptions {
  /** e.g. "http://127.0.0.1:8080" (h2c) or "https://..." */
  readonly baseUrl: string;
  /**
   * HTTP/2 stream window. Node's default 64 KiB caps one stream at ~64 KiB
   * per round trip; 1 MiB per stream and 16 MiB per connection doubled raw
   * http2 throughput on this project's test machine.
   */
  readonly streamWindowBytes?: number;
  readonly connectionWindowBytes?: number;
  /**
   * "2" (default): HTTP/2, full duplex. "1.1": HTTP/1.1 (a server behind a
   * proxy or framework without HTTP/2, e.g. Express), which cannot stream
   * requests, so sessions run half duplex (SubscribeHalfDuplex + Control).
   */
  readonly httpVersion?: "1.1" | "2";
}

export function createSluiceClient(options: NodeClientOptions): SluiceClient & { close(): void } {
  if (options.httpVersion === "1.1") {
    const transport = createConnectTransport({ baseUrl: options.baseUrl, httpVersion: "1.1", useBinaryFormat: true });
    return { ...createClient({ transport, transportName: "http1.1", mode: "half-duplex" }), close: () => undefined };
  }
  const streamWindow = options.streamWindowBytes ?? 1024 * 1024;
  const connectionWindow = options.connectionWindowBytes ?? 16 * 1024 * 1024;
  const sessionManager = new Http2SessionManager(options.baseUrl, { pingIntervalMs: 30_000 }, { settings: { initialWindowSize: streamWindow } });
  // connect-node offers no option for the connection-level window (HTTP/2 has
  // no SETTINGS for it; only WINDOW_UPDATE via setLocalWindowSize), so tune
  // each new session as the manager hands it out. If a future connect-node
  // renames this internal step, we fall back to Node's default window.
  const internals = sessionManager as unknown as { gotoReady?: () => Promise<{ conn: ClientHttp2Session }> };
  const gotoReady = internals.gotoReady?.bind(sessionManager);
  if (gotoReady) {
    const tuned = new WeakSet<ClientHttp2Session>();
    internals.gotoReady = async () => {
      const ready = await gotoReady();
      if (!tuned.has(ready.conn)) {
        tuned.add(ready.conn);
        ready.conn.setLocalWindowSize(connectionWindow);
      }
      return ready;
    };
  }
  const transport = createConnectTransport({ baseUrl: options.baseUrl, httpVersion: "2", sessionManager, useBinaryFormat: true });
  const client = createClient({ transport, transportName: "http2" });
  return { ...client, close: () => sessionManager.abort() };
}
