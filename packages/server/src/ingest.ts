/**
 * The Publish RPC (PROTOCOL.md §3.4): publish sessions into a server's
 * streams, each run by the driver's serveIngest. This part resolves a
 * PublishOpen: authorization (action "publish"), the stream and whether it
 * takes publishing, the publisher's position in the PublisherRegistry
 * (fencing an older session of the same publisher), and the sink: the
 * stream's own, or its topic.
 */
import { SluiceError, type IngestFrame, type Limits, type PublishFrame, type PublishOpenFrame, type Window } from "@sluice/core";
import { FrameQueue, serveIngest, type IngestFate, type IngestItem, type IngestOutcome, type IngestSink, type ResolvedIngest } from "@sluice/driver";
import type { CallInfo } from "./call-context.js";
import { PublisherRegistry, type PublisherRegistryOptions } from "./publishers.js";
import { newSessionKeys } from "./session-keys.js";
import type { TopicEngine } from "./topic-engine.js";

/** How a stream takes publishing: where items go, and how much a publisher may have in flight. */
export interface PublishDefinition {
  /**
   * Where published items go (default: the stream's topic). `write` gets
   * each batch in seq order and answers each item's fate once it is durable;
   * throwing fails the session, and the publisher sends the batch again.
   */
  readonly sink?: IngestSink;
  /** The window granted to each publisher (default 1 024 items / 1 MiB): what a session may have unacked. */
  readonly window?: Window;
  /** Most items per sink write (default 512). */
  readonly maxBatchItems?: number;
}

/** The window a publisher gets unless its stream sets one. */
export const DEFAULT_PUBLISH_WINDOW: Window = { items: 1_024, bytes: 1024 * 1024 };

/** What {@link Ingest} needs of its server. */
export interface IngestOptions {
  /** The stream's topic and publish settings, by name (undefined: no such stream). */
  readonly streamOf: (name: string) => { readonly topic?: TopicEngine; readonly publish?: PublishDefinition; readonly limits?: Partial<Limits> } | undefined;
  /** The server's limits (Opened announces them, with the stream's over them). */
  readonly limits: Limits;
  /** The server's authorization hook, asked with action "publish". */
  readonly authorize?: (request: { stream: string; headers: Headers; action: "publish" }) => string | Promise<string>;
  /** The deduplication window and bounds. */
  readonly publishers?: PublisherRegistryOptions;
  /** Called when a publish session ends (metrics, logs). */
  readonly onEnd?: (outcome: IngestOutcome) => void;
}

/** The publish sessions of one server. */
export class Ingest {
  readonly #options: IngestOptions;
  readonly #registry: PublisherRegistry;
  readonly #active = new Set<{ readonly drain: AbortController; readonly ended: Promise<IngestOutcome> }>();
  #draining = false;

  constructor(options: IngestOptions) {
    this.#options = options;
    this.#registry = new PublisherRegistry(options.publishers);
  }

  /** Publish sessions open now. */
  get activeSessions(): number {
    return this.#active.size;
  }

  /** Tells every publisher to go elsewhere (unavailable) and resolves when their sessions have ended. */
  async drain(): Promise<void> {
    this.#draining = true;
    for (const session of this.#active) session.drain.abort();
    await Promise.allSettled([...this.#active].map((session) => session.ended));
  }

  /** One publish session over decoded frames; yields the frames to send and ends with the session. */
  async *frames(inbound: AsyncIterable<PublishFrame>, call: CallInfo): AsyncIterable<IngestFrame> {
    const outbound = new FrameQueue<IngestFrame>(32);
    const drain = new AbortController();
    if (this.#draining) drain.abort();
    let settle!: (outcome: IngestOutcome) => void;
    const ended = new Promise<IngestOutcome>((resolve) => (settle = resolve));
    const session = { drain, ended };
    this.#active.add(session);
    const running = serveIngest({
      pipe: { inbound, send: (frame) => outbound.push(frame), close: () => outbound.close() },
      resolve: (open) => this.#resolve(open, call.requestHeader, drain, ended),
      receiver: { limits: this.#options.limits, window: DEFAULT_PUBLISH_WINDOW },
      signal: drain.signal,
      callSignal: call.signal,
    });
    void running.then((outcome) => {
      this.#active.delete(session);
      settle(outcome);
      this.#options.onEnd?.(outcome);
    });
    try {
      for await (const frame of outbound) yield frame;
    } finally {
      outbound.close();
    }
    await running;
  }

  async #resolve(open: PublishOpenFrame, headers: Headers, fence: AbortController, ended: Promise<IngestOutcome>): Promise<ResolvedIngest> {
    // Authorization before the lookup, as for subscriptions: an unauthenticated caller learns nothing.
    if (this.#options.authorize) await this.#options.authorize({ stream: open.stream, headers, action: "publish" });
    const definition = this.#options.streamOf(open.stream);
    if (!definition) throw new SluiceError("stream_not_found", `stream not configured: ${open.stream}`, { blame: "remote" });
    const publish = definition.publish;
    if (!publish) throw new SluiceError("permission_denied", `stream ${open.stream} does not take publishing`, { blame: "remote" });
    const sink = publish.sink ?? (definition.topic ? topicSink(definition.topic) : undefined);
    if (!sink) throw new SluiceError("internal", `stream ${open.stream} takes publishing but has neither a sink nor a topic`);
    const position = await this.#registry.open(open.stream, open.publisherId, open.resumeAfterSeq, fence, ended);
    const registry = this.#registry;
    const { stream, publisherId } = open;
    return {
      sessionId: newSessionKeys().sessionId,
      nextSeq: position.nextSeq,
      deadLetters: position.deadLetters,
      // The registry learns each fate as the sink reports it: the position is never behind an ack.
      sink: {
        async write(items) {
          const fates = await sink.write(items);
          for (let i = 0; i < fates.length; i++) {
            const fate = fates[i]!;
            const seq = items[i]!.seq;
            if (fate.accepted) registry.accepted(stream, publisherId, seq);
            else registry.deadLettered(stream, publisherId, { seq, reason: fate.reason, deadLetterTopic: fate.deadLetterTopic });
          }
          return fates;
        },
      },
      window: publish.window ?? DEFAULT_PUBLISH_WINDOW,
      ...(definition.limits ? { limits: definition.limits } : {}),
      ...(publish.maxBatchItems !== undefined ? { maxBatchItems: publish.maxBatchItems } : {}),
    };
  }
}

const ACCEPTED: IngestFate = { accepted: true };

/** A topic as a sink: each item is published (and so visible to subscribers) before its ack. */
function topicSink(topic: TopicEngine): IngestSink {
  return {
    async write(items: readonly IngestItem[]) {
      const fates: IngestFate[] = [];
      for (const item of items) {
        await topic.publish(item.data);
        fates.push(ACCEPTED);
      }
      return fates;
    },
  };
}
