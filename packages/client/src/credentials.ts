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
  if (credentials.token === undefined && credentials.apiKey === undefined) return [];
  return [
    (next) => async (request) => {
      for (const [name, value] of Object.entries(await credentialHeaders(credentials))) request.header.set(name, value);
      return next(request);
    },
  ];
}

/** The headers that carry `credentials` on one call (a fresh token each time when `token` is a function). */
export async function credentialHeaders(credentials: Credentials): Promise<Record<string, string>> {
  const { token, apiKey } = credentials;
  const headers: Record<string, string> = {};
  if (token !== undefined) headers["authorization"] = `Bearer ${typeof token === "function" ? await token() : token}`;
  if (apiKey !== undefined) headers["x-api-key"] = apiKey;
  return headers;
}
