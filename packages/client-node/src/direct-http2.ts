/**
 * Direct Subscribe calls (@sluice/client's direct path) over HTTP/2: each
 * call is a stream on connect-node's own Http2SessionManager, so connection
 * reuse, keep-alive pings and `resetConnection` are unchanged. Only how a
 * call opens, writes and ends is here; the envelopes and frames are the
 * direct path's, the same as over WebSocket.
 */
import type { ClientHttp2Stream, IncomingHttpHeaders, IncomingHttpStatusHeader } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { responseHeadError, type OpenDirectCall } from "@sluice/client/internal";

/** Direct calls as HTTP/2 streams of `sessionManager`'s connection. */
export function http2DirectCalls(sessionManager: Http2SessionManager): OpenDirectCall {
  return async (path, headers, events) => {
    const stream = await sessionManager.request("POST", path, { "user-agent": "sluice-client-node", ...headers }, {});
    let ended = false;
    stream.on("response", (head: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
      const refused = responseHeadError(head[":status"] ?? 0, head["content-type"]);
      if (refused) events.fail(refused);
    });
    stream.on("data", (chunk: Buffer) => {
      sessionManager.notifyResponseByteRead(stream);
      events.data(chunk);
    });
    stream.on("end", () => {
      ended = true;
      events.end();
    });
    stream.on("error", (error) => events.fail(ConnectError.from(error, Code.Unavailable)));
    stream.on("close", () => {
      if (stream.rstCode !== undefined && stream.rstCode !== 0) events.fail(new ConnectError(`the stream was reset (code ${stream.rstCode})`, Code.Unavailable));
      else if (!ended) events.fail(new ConnectError("the stream closed before its end", Code.Unavailable));
    });
    return { write: (bytes) => (stream.write(bytes) ? undefined : drained(stream)), close: () => stream.close() };
  };
}

/** Resolves when the stream can take more (or is gone). */
function drained(stream: ClientHttp2Stream): Promise<void> {
  return new Promise<void>((resolve) => {
    const go = () => {
      stream.off("drain", go);
      stream.off("close", go);
      resolve();
    };
    stream.on("drain", go);
    stream.on("close", go);
  });
}
