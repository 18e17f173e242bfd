/**
 * Authentication (bearer JWT: HS256 secret, RS256/ES256 public key file or
 * JWKS file; or static API keys) and per-stream permission rules on claims.
 * Once `auth` is configured, everything is denied unless a rule allows it.
 */
import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { SluiceError } from "@sluice/core";
import { findStream, type AuthorizeRequest } from "@sluice/server";
import { createLocalJWKSet, errors as joseErrors, importSPKI, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { Config } from "./config.js";

type Claims = Record<string, unknown>;

export function createAuthorizer(config: Config, baseDir: string): ((request: AuthorizeRequest) => Promise<string>) | undefined {
  const auth = config.auth;
  if (!auth) return undefined;
  const jwt = auth.jwt;
  const principalClaim = jwt?.principalClaim ?? "sub";
  let key: Promise<Uint8Array | Awaited<ReturnType<typeof importSPKI>> | JWTVerifyGetKey> | undefined;
  if (jwt) {
    if (jwt.hs256Secret ?? jwt.hs256SecretEnv) {
      const secret = jwt.hs256Secret ?? process.env[jwt.hs256SecretEnv!];
      if (!secret) throw new Error(`auth.jwt.hs256SecretEnv: environment variable ${jwt.hs256SecretEnv} is not set`);
      key = Promise.resolve(new TextEncoder().encode(secret));
    } else if (jwt.publicKeyFile) {
      key = importSPKI(readFileSync(resolve(baseDir, jwt.publicKeyFile), "utf8"), jwt.algorithm);
    } else if (jwt.jwksFile) {
      key = Promise.resolve(createLocalJWKSet(JSON.parse(readFileSync(resolve(baseDir, jwt.jwksFile), "utf8")) as { keys: [] }));
    }
  }
  const apiKeys = (auth.apiKeys ?? []).map((entry) => {
    const value = entry.key ?? process.env[entry.keyEnv!];
    if (!value) throw new Error(`auth.apiKeys: environment variable ${entry.keyEnv} is not set`);
    return { key: new TextEncoder().encode(value), principal: entry.principal, claims: { sub: entry.principal, ...entry.claims } as Claims };
  });
  const unauthenticated = (message: string) => new SluiceError("unauthenticated", message, { blame: "remote" });

  const authenticate = async (headers: Headers): Promise<{ principal: string; claims: Claims }> => {
    const apiKey = headers.get("x-api-key");
    if (apiKey !== null) {
      const given = new TextEncoder().encode(apiKey);
      const match = apiKeys.find((entry) => entry.key.byteLength === given.byteLength && timingSafeEqual(entry.key, given));
      if (!match) throw unauthenticated("invalid API key");
      return { principal: match.principal, claims: match.claims };
    }
    const authorization = headers.get("authorization");
    if (!authorization) throw unauthenticated("missing credentials: send Authorization: Bearer <token> or X-API-Key");
    const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    if (!token) throw unauthenticated("malformed Authorization header: expected Bearer <token>");
    if (!key) throw unauthenticated("bearer tokens are not accepted here");
    let payload: JWTPayload;
    try {
      const verifyKey = await key;
      const options = { ...(jwt?.issuer ? { issuer: jwt.issuer } : {}), ...(jwt?.audience ? { audience: jwt.audience } : {}) };
      payload = typeof verifyKey === "function" ? (await jwtVerify(token, verifyKey, options)).payload : (await jwtVerify(token, verifyKey, options)).payload;
    } catch (error) {
      // Say what kind of problem, never echo the token or key material.
      if (error instanceof joseErrors.JWTExpired) throw unauthenticated("token expired");
      if (error instanceof joseErrors.JWTClaimValidationFailed) throw unauthenticated(`token rejected: claim ${error.claim} ${error.reason}`);
      throw unauthenticated("invalid token");
    }
    const principal = payload[principalClaim];
    if (typeof principal !== "string" || principal === "") throw unauthenticated(`token has no ${principalClaim} claim`);
    return { principal, claims: payload as Claims };
  };

  return async ({ stream, headers, action }) => {
    const { principal, claims } = await authenticate(headers);
    if (stream === undefined) return principal; // Control: the server checks it is the session's owner
    // The server's own lookup: a subject or pattern under a topic stream (sensors.*.temp) is that stream's, and its rules apply.
    const definition = findStream(config.streams, stream, (d) => d.source.type === "topic")?.definition;
    // Unknown streams fall through to not_found for authenticated callers only.
    if (definition === undefined) return principal;
    // Publishing has rules of its own: a subscriber may not publish unless publish.allow says so.
    const rules = action === "publish" ? definition.publish?.allow : definition.allow;
    if (!rules || !rules.some((rule) => matches(rule, claims))) {
      throw new SluiceError("permission_denied", `${principal} may not ${action === "publish" ? "publish to" : "subscribe to"} ${stream}`, { blame: "remote" });
    }
    return principal;
  };
}

function matches(rule: "*" | Record<string, string | string[]>, claims: Claims): boolean {
  if (rule === "*") return true;
  return Object.entries(rule).every(([claim, wanted]) => {
    const actual = claims[claim];
    const wantedValues = Array.isArray(wanted) ? wanted : [wanted];
    if (Array.isArray(actual)) return wantedValues.some((w) => actual.includes(w));
    if (typeof actual === "string" && claim === "scope") return wantedValues.some((w) => actual.split(" ").includes(w));
    return wantedValues.some((w) => actual === w);
  });
}
