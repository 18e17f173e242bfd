/** A session's id and secret (the secret proves Control calls of a half-duplex session). */
export interface SessionKeys {
  readonly sessionId: string;
  readonly sessionSecret: Uint8Array;
  /** Half duplex: remembers who opened the session. */
  onPrincipal?: (principal: string) => void;
}

let sessionCounter = 0;

export function newSessionKeys(): SessionKeys {
  return {
    sessionId: `${Date.now().toString(36)}-${(++sessionCounter).toString(36)}`,
    sessionSecret: crypto.getRandomValues(new Uint8Array(16)),
  };
}
