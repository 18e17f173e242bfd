/**
 * Direct half-duplex calls (@sluice/client's direct path) over HTTP/1.1:
 * each SubscribeHalfDuplex call is one POST on the client's own keep-alive
 * agent, the one connect-node's transport uses for Control calls, so a
 * reset drops both. Only how the POST goes out and its response comes back
 * is here; the envelopes and frames are the direct path's.
 */
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { Code, ConnectError } from "@connectrpc/connect";
import { responseHeadError, type OpenDirectPost } from "@sluice/client/internal";

/** Half-duplex POSTs to `baseUrl`'s host (`path` is whole) with the request options `options()` gives now (its agent changes on reset). */
export function http1DirectPosts(baseUrl: string, options: () => https.RequestOptions): OpenDirectPost {
  const url = new URL(baseUrl);
  const request = url.protocol === "https:" ? https.request : http.request;
  return async (path, headers, body, events) => {
    let done = false;
    const req = request({
      ...options(),
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port || (url.protocol === "https:" ? 443 : 80),
      method: "POST",
      path,
      headers: { "user-agent": "sluice-client-node", ...headers, "content-length": String(body.byteLength) },
    });
    const fail = (error: unknown) => {
      if (done) return;
      done = true;
      events.fail(error instanceof ConnectError ? error : ConnectError.from(error, Code.Unavailable));
    };
    req.on("error", fail);
    req.on("response", (response: IncomingMessage) => {
      const refused = responseHeadError(response.statusCode ?? 0, response.headers["content-type"]);
      if (refused) {
        response.resume();
        return fail(refused);
      }
      response.on("data", (piece: Buffer) => {
        if (!done) events.data(piece);
      });
      response.on("end", () => {
        if (done) return;
        done = true;
        events.end();
      });
      response.on("error", fail);
      response.on("close", () => {
        if (!response.complete) fail(new ConnectError("the response closed before its end", Code.Unavailable));
      });
    });
    req.end(body);
    return {
      close: () => {
        // A whole response leaves its socket to the agent for the next call; one still open is torn down.
        if (!done) {
          done = true;
          req.destroy();
        }
      },
    };
  };
}
