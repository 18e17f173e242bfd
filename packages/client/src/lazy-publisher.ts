/**
 * The publisher `client.publish()` returns at once, while the publishing
 * module loads (publishing.ts, a dynamic import): calls made before it has
 * loaded wait for it, in order; stats and state read as a publisher that is
 * connecting.
 */
import { SluiceError } from "@sluice/core";
import type { Publication, PublicationState, PublicationStats, PublishReceipt, PriorityName } from "@sluice/driver";
import type { SluicePublisher } from "./sluice-client.js";

const NONE = { critical: 0, high: 0, normal: 0, low: 0 };

/** A random publisher id (16 bytes, hex), from the platform's Web Crypto. */
export function randomPublisherId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return `p-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export class LazyPublisher<T> implements SluicePublisher<T> {
  readonly publisherId: string;
  readonly #ready: Promise<Publication<T>>;
  #loaded: Publication<T> | undefined;
  #failed: SluiceError | undefined;
  #cancelled: string | undefined;
  readonly #listeners = new Set<(state: PublicationState) => void>();

  constructor(publisherId: string, load: () => Promise<Publication<T>>) {
    this.publisherId = publisherId;
    this.#ready = load().then(
      (publication) => {
        this.#loaded = publication;
        for (const listener of this.#listeners) publication.onStateChange(listener);
        if (this.#cancelled !== undefined) publication.cancel(this.#cancelled);
        return publication;
      },
      (error: unknown) => {
        // The module could not load (a page offline, a broken deployment): every call says so.
        this.#failed = new SluiceError("unavailable", `the publishing module failed to load: ${error instanceof Error ? error.message : String(error)}`, { retryable: false, cause: error });
        throw this.#failed;
      },
    );
    // Calls made later see the failure; the load itself must not be an unhandled rejection.
    this.#ready.catch(() => undefined);
  }

  send(value: T, options?: { priority?: PriorityName }): Promise<PublishReceipt> {
    return this.#loaded ? this.#loaded.send(value, options) : this.#ready.then((publication) => publication.send(value, options));
  }

  flush(): Promise<void> {
    return this.#ready.then((publication) => publication.flush());
  }

  close(): Promise<void> {
    return this.#ready.then((publication) => publication.close());
  }

  cancel(reason = "cancelled by the application"): void {
    if (this.#loaded) this.#loaded.cancel(reason);
    else this.#cancelled = reason;
  }

  get stats(): PublicationStats {
    return this.#loaded?.stats ?? { queued: NONE, dropped: NONE, inFlight: 0, acked: 0, deadLettered: 0, retries: 0, sessions: 0, reconnects: 0, throttle: undefined, breaker: "closed", lastError: this.#failed?.message, transport: "" };
  }

  get state(): PublicationState {
    if (this.#loaded) return this.#loaded.state;
    return this.#failed ? { state: "failed", error: this.#failed } : { state: "connecting", attempt: 1 };
  }

  onStateChange(listener: (state: PublicationState) => void): () => void {
    this.#listeners.add(listener);
    const stop = this.#loaded?.onStateChange(listener);
    return () => {
      this.#listeners.delete(listener);
      stop?.();
    };
  }
}
