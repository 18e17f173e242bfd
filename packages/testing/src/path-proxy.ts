/**
 * A load balancer that routes by path, for tests that split half-duplex
 * sessions across instances: Control calls to one port, every other
 * request (SubscribeHalfDuplex, pages) to another, over HTTP/1.1 as
 * half-duplex clients call, responses streamed through as they come.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export const CONTROL_PATH = "/sluice.v1.SubscribeService/Control";

export interface PathProxy {
  readonly url: string;
  /** Control calls routed so far. */
  readonly controlCalls: number;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade"]);
const forwardable = (headers: http.IncomingHttpHeaders) => Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));

/** Control calls to port `control`, the rest to port `rest`; `files` (path → content type and body) it answers itself. */
export async function startPathProxy(rest: number, control: number, files: Record<string, { type: string; body: string | Uint8Array }> = {}): Promise<PathProxy> {
  const agent = new http.Agent({ keepAlive: true });
  let controlCalls = 0;
  const server = http.createServer((request, response) => {
    const file = files[request.url ?? ""];
    if (file) return void response.writeHead(200, { "content-type": file.type }).end(file.body);
    const isControl = request.url === CONTROL_PATH;
    if (isControl) controlCalls++;
    const upstream = http.request({ host: "127.0.0.1", port: isControl ? control : rest, method: request.method, path: request.url, headers: forwardable(request.headers), agent }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, forwardable(answer.headers));
      answer.pipe(response);
    });
    upstream.on("error", () => response.destroy());
    response.on("close", () => {
      if (!response.writableFinished) upstream.destroy();
    });
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get controlCalls() {
      return controlCalls;
    },
    async close() {
      server.closeAllConnections();
      agent.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
