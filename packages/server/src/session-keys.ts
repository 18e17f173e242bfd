/** A session's id and secret (the secret proves Control calls of a half-duplex session). */
export interface SessionKeys {
  readonly sessionId: string;
  readonly sessionSecret: Uint8Array;
  /** Half duplex: remembers who opened the session. */
  onPrincipal?: (principal: string) => void;
}

let sessionCounter = 0;

/**
 * New keys. With `instanceId` (a ControlRelay's) the id starts with it and
 * a ".", so that another instance a Control call reaches knows where to
 * forward it. Ids need not be unguessable: the secret proves a call.
 */
export function newSessionKeys(instanceId?: string): SessionKeys {
  const local = `${Date.now().toString(36)}-${(++sessionCounter).toString(36)}`;
  return {
    sessionId: instanceId === undefined ? local : `${instanceId}.${local}`,
    sessionSecret: crypto.getRandomValues(new Uint8Array(16)),
  };
}

/**
 * What an instance id may be: letters, digits, "_" and "-", 1 to 64 of
 * them. It ends at a session id's first ".", and a relay may put it in an
 * address (a NATS subject token), where these are safe.
 */
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The instance a session id names as its owner (what comes before its first
 * "."), or undefined for an id that names none (no ".", or not an instance
 * id before it).
 */
export function sessionOwner(sessionId: string): string | undefined {
  const dot = sessionId.indexOf(".");
  const owner = sessionId.slice(0, Math.max(0, dot));
  return INSTANCE_ID_PATTERN.test(owner) ? owner : undefined;
}
