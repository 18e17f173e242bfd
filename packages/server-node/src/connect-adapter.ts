/**
 * Connect's Node adapter (connectNodeAdapter), less one habit: connect-node
 * prints a stack trace to stderr for every call whose response could not be
 * written, and a client going away mid-stream (EPIPE, ECONNRESET, a reset
 * HTTP/2 stream) is the usual reason. On a busy server that is a flood, and
 * stderr on a pipe is written synchronously: a log reader that hung stopped
 * the event loop (issue 14). Here a call whose client went away ends
 * silently; any other failure goes to `onCallError`, once, without a stack.
 */
import type http from "node:http";
import type http2 from "node:http2";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface ConnectAdapterOptions extends ConnectRouterOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly fallback?: (request: NodeRequest, response: NodeResponse) => void;
  readonly contextValues?: (request: NodeRequest) => ContextValues;
  /** A call that failed for another reason than its client going away (procedure: "sluice.v1.SluiceService/Control"). */
  readonly onCallError: (error: ConnectError, procedure: string) => void;
}

/** Socket errors that mean the peer closed or reset the connection, not that anything is wrong here. */
const PEER_GONE = new Set(["EPIPE", "ECONNRESET", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE", "ERR_STREAM_DESTROYED", "ERR_STREAM_WRITE_AFTER_END", "ERR_HTTP2_INVALID_STREAM", "ERR_HTTP2_STREAM_ERROR", "ERR_HTTP2_STREAM_CANCEL", "ERR_HTTP2_SESSION_ERROR"]);

export function connectAdapter(options: ConnectAdapterOptions): (request: NodeRequest, response: NodeResponse) => void {
  const router = createConnectRouter(options);
  options.routes(router);
  const handlers = new Map(router.handlers.map((handler) => [handler.requestPath, handler]));
  return (request, response) => {
    const handler = handlers.get(request.url?.split("?", 2)[0] ?? "");
    if (!handler) {
      if (options.fallback) options.fallback(request, response);
      else {
        response.writeHead(404);
        response.end();
      }
      return;
    }
    const universal = universalRequestFromNodeRequest(request, response, undefined, options.contextValues?.(request));
    handler(universal)
      .then((answer) => universalResponseToNodeResponse(answer, response))
      .catch((reason: unknown) => {
        const error = ConnectError.from(reason);
        if (clientWentAway(error, response)) return;
        options.onCallError(error, `${handler.service.typeName}/${handler.method.name}`);
      });
  };
}

function clientWentAway(error: ConnectError, response: NodeResponse): boolean {
  if (error.code === Code.Aborted || error.code === Code.Canceled) return true;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && PEER_GONE.has(code)) return true;
  // The response can no longer be written: whatever failed, nobody is there to tell.
  const stream = "stream" in response ? response.stream : response.socket;
  return stream === null || stream.destroyed;
}
