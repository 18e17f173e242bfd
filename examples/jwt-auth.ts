/**
 * Authentication with a JWT: the server's `authorize` hook verifies the
 * bearer token (jose, HS256) and decides per stream; the client passes its
 * token with every call. A client without a valid token gets
 * unauthenticated, one whose claims do not allow the stream
 * permission_denied. Run: npx tsx examples/jwt-auth.ts
 */
import { createSluiceClient } from "@sluice/client-node";
import { SluiceError, SluiceServer, fromIterable, listen } from "@sluice/server-node";
import { jwtVerify, SignJWT } from "jose";

const secret = new TextEncoder().encode("an example secret of at least 32 bytes!");
const sluice = new SluiceServer({
  streams: {
    reports: { source: fromIterable(() => ["q1", "q2", "q3"]) },
    payroll: { source: fromIterable(() => ["confidential"]) },
  },
  async authorize({ stream, headers }) {
    const token = /^Bearer (.+)$/.exec(headers.get("authorization") ?? "")?.[1];
    if (!token) throw new SluiceError("unauthenticated", "a bearer token is required");
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(token, secret, { issuer: "example" }));
    } catch (error) {
      throw new SluiceError("unauthenticated", `invalid token: ${(error as Error).message}`);
    }
    const principal = String(claims.sub);
    // stream is undefined for a half-duplex Control call: the session's owner is checked by the server.
    if (stream === "payroll" && claims.role !== "admin") throw new SluiceError("permission_denied", `${principal} may not subscribe to payroll`);
    return principal;
  },
});
const server = await listen(sluice, { port: 0 });
const tokenFor = (sub: string, role: string) => new SignJWT({ role }).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuer("example").setExpirationTime("5m").sign(secret);

async function read(token: string | undefined, stream: string): Promise<string> {
  const client = createSluiceClient({ baseUrl: server.url, ...(token ? { token } : {}) });
  try {
    const items: string[] = [];
    for await (const event of client.subscribe<string>(stream, { backoff: { maxAttempts: 0 } })) if (event.kind === "item") items.push(event.value);
    return items.join(",");
  } catch (error) {
    return `${(error as SluiceError).code}: ${(error as SluiceError).message}`;
  } finally {
    client.close();
  }
}

console.log(`alice (reader) reports: ${await read(await tokenFor("alice", "reader"), "reports")}`);
console.log(`alice (reader) payroll: ${await read(await tokenFor("alice", "reader"), "payroll")}`);
console.log(`bob (admin) payroll: ${await read(await tokenFor("bob", "admin"), "payroll")}`);
console.log(`no token reports: ${await read(undefined, "reports")}`);
await server.close();
