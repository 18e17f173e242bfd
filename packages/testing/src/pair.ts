/**
 * A client and a server session joined in memory on one virtual clock
 * (h11's ConnectionPair, quinn's test Pair): the real driver (Subscription
 * and serveSession) runs the real core machines over a memory link, and
 * time moves only by `pair.clock.advance(ms)`. Every frame either side
 * sends is logged with its virtual send time.
 */
import type { ChunkOptions, ClientFrame, OpenFrame, ServerFrame, StreamSenderOptions } from "@sluice/core";
import { abortSignalOf, createMemoryLink, serveSession, Subscription, type FramePipe, type MemoryLink, type SessionOutcome, type SourceYield, type SubscriptionOptions } from "@sluice/driver";
import { VirtualClock } from "./virtual-clock.js";

export interface PairOptions<T> {
  /** The server's items for each Open (a resume opens a new one). */
  readonly source: (open: OpenFrame, signal: AbortSignal) => AsyncIterable<SourceYield>;
  /** First seq of a fresh (not resumed) session. Default 1. */
  readonly firstSeq?: number;
  readonly clock?: VirtualClock;
  readonly chunk?: Partial<ChunkOptions>;
  readonly sender?: StreamSenderOptions;
  /** Options for the client's Subscription (stream defaults to "pair"). */
  readonly subscription?: Partial<Omit<SubscriptionOptions<T>, "connect" | "clock">>;
}

export interface LoggedFrame<F> {
  /** Virtual time the frame was sent. */
  readonly at: number;
  readonly frame: F;
}

export interface Pair<T> {
  readonly clock: VirtualClock;
  readonly subscription: Subscription<T>;
  /** One outcome per session served, in order. */
  readonly sessions: Promise<SessionOutcome>[];
  readonly sent: { readonly client: LoggedFrame<ClientFrame>[]; readonly server: LoggedFrame<ServerFrame>[] };
  /** Breaks the current link as a reset connection does. */
  break(): void;
}

export function createPair<T = Uint8Array>(options: PairOptions<T>): Pair<T> {
  const clock = options.clock ?? new VirtualClock();
  const sessions: Promise<SessionOutcome>[] = [];
  const sent = { client: [] as LoggedFrame<ClientFrame>[], server: [] as LoggedFrame<ServerFrame>[] };
  let current: MemoryLink<ClientFrame, ServerFrame> | undefined;
  const logged = <In, Out>(pipe: FramePipe<In, Out>, log: LoggedFrame<Out>[]): FramePipe<In, Out> => ({
    inbound: pipe.inbound,
    send: (frame) => {
      log.push({ at: clock.now(), frame });
      return pipe.send(frame);
    },
    close: (error) => pipe.close(error),
  });
  const connect = async (): Promise<FramePipe<ServerFrame, ClientFrame>> => {
    const link = createMemoryLink<ClientFrame, ServerFrame>();
    current = link;
    const n = sessions.length + 1;
    sessions.push(
      serveSession({
        pipe: logged(link.b, sent.server),
        clock,
        ...(options.sender ? { sender: options.sender } : {}),
        resolve: async (open, signal) => {
          const nextSeq = open.resume ? open.resume.seq + 1 : (options.firstSeq ?? 1);
          return {
            items: options.source(open, abortSignalOf(signal)),
            nextSeq,
            contentType: "application/octet-stream",
            sessionId: `pair-${n}`,
            sessionSecret: new Uint8Array(16),
            ...(options.chunk ? { chunk: options.chunk } : {}),
            ...(open.resume ? { resume: { requestedSeq: open.resume.seq, nextSeq, replayed: 0 } } : {}),
          };
        },
      }),
    );
    return logged(link.a, sent.client);
  };
  const subscription = new Subscription<T>({ stream: "pair", ...options.subscription, clock, connect } as SubscriptionOptions<T>);
  return { clock, subscription, sessions, sent, break: () => current?.break() };
}

/** A live source the test feeds: `push` makes an item now, `end` finishes the stream. */
export interface PushSource {
  readonly items: AsyncIterable<SourceYield>;
  push(data: Uint8Array): void;
  end(): void;
}

export function pushSource(): PushSource {
  const queued: SourceYield[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  return {
    items: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const next = queued.shift();
          if (next) yield next;
          else if (ended) return;
          else await new Promise<void>((resolve) => (wake = resolve));
        }
      },
    },
    push(data) {
      queued.push({ data });
      notify();
    },
    end() {
      ended = true;
      notify();
    },
  };
}
