/**
 * The few globals this isomorphic package uses, present alike in Node >= 18
 * and browsers. Declared here instead of pulling in the DOM or Node type
 * libraries, so any other platform API is a type error.
 */
declare function setTimeout(callback: () => void, ms: number): unknown;
declare function clearTimeout(handle: unknown): void;
declare const performance: { now(): number };

interface AbortSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}
declare const AbortSignal: {
  any(signals: AbortSignal[]): AbortSignal;
};
interface AbortController {
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
}
declare const AbortController: { new (): AbortController };
declare function queueMicrotask(callback: () => void): void;
/** Web Crypto's one call used here (random publisher ids). */
declare const crypto: { getRandomValues<T extends Uint8Array>(array: T): T };
