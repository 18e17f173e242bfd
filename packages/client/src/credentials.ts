/**
 * Credentials for every call a client makes (PROTOCOL.md §3.5): a bearer
 * token as `Authorization` and an API key as `X-API-Key`. An interceptor, so
 * it reaches every transport alike: HTTP/2, HTTP/1.1 and fetch as request
 * headers, WebSocket as the call's headers inside sluice.ws.v1 (browsers
 * cannot set headers on the WebSocket handshake itself).
 */
import type { Interceptor } from "@connectrpc/connect";

/** What a client authenticates with; sent with every call on every transport. */
export interface Credentials {
  /** A bearer token, or a function returning a fresh one for each call. */
  readonly token?: string | (() => string | Promise<string>);
  /** An API key. */
  readonly apiKey?: string;
}

/** The interceptors that add `credentials` to every call (none when there are none). */
export function credentialInterceptors(credentials: Credentials): Interceptor[] {
  const { token, apiKey } = credentials;
  if (token === undefined && apiKey === undefined) return [];
  return [
    (next) => async (request) => {
      if (token !== undefined) request.header.set("authorization", `Bearer ${typeof token === "function" ? await token() : token}`);
      if (apiKey !== undefined) request.header.set("x-api-key", apiKey);
      return next(request);
    },
  ];
}
