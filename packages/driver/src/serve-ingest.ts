/**
 * Runs one IngestReceiver over a frame pipe: the server half of a publish
 * session (PROTOCOL.md §3.4). It owns the async parts and nothing else:
 * resolving the PublishOpen (stream, permission, the publisher's next seq),
 * handing the items to the sink in batches as they arrive, reporting each
 * item's fate (accepted or dead-lettered) so the acks go out, sending with
 * the transport's backpressure and firing the machine's deadlines. Items are
 * taken from the machine only while the sink has room (one batch in flight),
 * and taking is what grants credit: a slow or throttled sink slows the
 * publisher, not the server's memory.
 */
import { IngestReceiver, Priority, SluiceError, type DeadLetter, type IngestEvent, type IngestFrame, type IngestReceiverOptions, type Limits, type PublishFrame, type PublishOpenFrame, type PublishThrottle, type Window } from "@sluice/core";
import { systemClock, type Clock } from "./clock.js";
import type { FramePipe } from "./frame-pipe.js";
import { Pump } from "./pump.js";
import type { SessionSignal } from "./once-signal.js";

/** One published item as the sink gets it. */
export interface IngestItem {
  /** The publisher's seq of the item. */
  readonly seq: number;
  /** The item's payload. */
  readonly data: Uint8Array;
}

/** What became of one item in the sink: in the stream, or refused with a reason (a dead letter). */
export type IngestFate =
  | {
      /** The item is in the stream. */
      readonly accepted: true;
    }
  | {
      /** The item was refused into the stream. */
      readonly accepted: false;
      /** Why ("validation: ...", "sink: ..."). */
      readonly reason: string;
      /** Where it was parked (absent or "" when nowhere; the server fills in its dead-letter stream). */
      readonly deadLetterTopic?: string;
      /** Dropped by the server's ingest queue (its overflow policy): parked nowhere, reported to the publisher as a drop. */
      readonly dropped?: boolean;
    };

/**
 * Where a publish session's items go. `write` gets the items taken so far,
 * in seq order, at most one batch at a time; it resolves with the fate of
 * each, in the same order, once they are durable in the sink (that is when
 * the publisher's ack goes out). It throws to fail the session (the
 * publisher retries the unacked items in a new session).
 */
export interface IngestSink {
  /** Puts the items (all of one `priority`, from their chunks) into the stream, or dead-letters them; one fate per item. */
  write(items: readonly IngestItem[], priority: Priority): readonly IngestFate[] | Promise<readonly IngestFate[]>;
}

/** What the server resolved a PublishOpen to. */
export interface ResolvedIngest {
  /** The new session's id. */
  readonly sessionId: string;
  /** The publisher's next seq: one after the last accepted (deduplication). */
  readonly nextSeq: number;
  /** The publisher's dead letters after its resume_after_seq, reported again (their acks may have been lost). */
  readonly deadLetters?: readonly DeadLetter[];
  /** Where the items go. */
  readonly sink: IngestSink;
  /** The stream's window for publishers. */
  readonly window?: Window;
  /** The stream's limits over the server's. */
  readonly limits?: Partial<Limits>;
  /** Most items per sink write (default 512). */
  readonly maxBatchItems?: number;
  /**
   * The stream's throttle for a batch of `items` (lag-based throttling,
   * core's LagThrottle): how long it waits before it goes to the sink, and
   * the state the acks report; absent: never. While it waits no more items
   * are taken, so the publisher gets no credit.
   */
  readonly throttle?: (items: number, now: number) => PublishThrottle;
}

/** What {@link serveIngest} runs: the transport, how to resolve a PublishOpen, and hooks. */
export interface ServeIngestOptions {
  /** The session's transport: publish frames in, ingest frames out. */
  readonly pipe: FramePipe<PublishFrame, IngestFrame>;
  /** Authorise and resolve the stream and publisher. Throw a SluiceError to refuse. */
  resolve(open: PublishOpenFrame, signal: AbortSignal): Promise<ResolvedIngest>;
  /** The server-wide receiver settings (limits, window, ack pacing). */
  readonly receiver?: IngestReceiverOptions;
  /** Time and timers (default systemClock). */
  readonly clock?: Clock;
  /** Aborting ends the session: with the abort reason when it is a SluiceError, else `unavailable` (server draining). */
  readonly signal?: AbortSignal;
  /** Aborted when the publisher's call is gone. */
  readonly callSignal?: SessionSignal;
  /** Called once the session has its machine (live state for metrics). */
  readonly onStart?: (receiver: IngestReceiver) => void;
}

/** How a publish session ended. */
export interface IngestOutcome {
  /** The stream the PublishOpen named ("" when none arrived). */
  readonly stream: string;
  /** The publisher's id ("" when no PublishOpen arrived). */
  readonly publisherId: string;
  /** The session's id ("" when it never opened). */
  readonly sessionId: string;
  /** Items the sink accepted in this session. */
  readonly accepted: number;
  /** Items dead-lettered in this session. */
  readonly deadLettered: number;
  /** The last seq accepted or dead-lettered (the publisher's position). */
  readonly doneSeq: number;
  /** Why the session failed, if it did. */
  readonly error?: SluiceError;
  /** The publisher went away without End. */
  readonly disconnected: boolean;
}

/** Serves one publish session over `options.pipe` until End, Error, a Cancel or a disconnect. */
export async function serveIngest(options: ServeIngestOptions): Promise<IngestOutcome> {
  const clock = options.clock ?? systemClock;
  const { pipe } = options;
  const receiver = new IngestReceiver(options.receiver);
  options.onStart?.(receiver);
  const abort = new AbortController();
  let callGone = false;
  let sessionId = "";
  let sink: IngestSink | undefined;
  let maxBatchItems = 512;
  let throttle: ResolvedIngest["throttle"];
  let writing = false;
  /** An item taken for the next batch: the first of a new priority. */
  let held: { seq: number; data: Uint8Array; priority: Priority } | undefined;
  /** The priority of the batch being gathered. */
  let priority: Priority = Priority.NORMAL;
  let accepted = 0;
  let deadLettered = 0;
  let error: SluiceError | undefined;

  const pump = new Pump<IngestFrame, IngestEvent>({
    machine: receiver,
    clock,
    onEvent(event) {
      if (event.type === "open") void resolve(event.open);
      else if (event.type === "closed" && event.error) error = event.error;
    },
    send: (frame) => pipe.send(frame),
    // Never while a sink write is in flight, even when the call is gone: the
    // session's end is what lets the publisher's next session open (fencing),
    // and it must see every item this write takes, or it would take them again.
    done: () => !writing && (receiver.state === "closed" || callGone),
  });

  /** Set when the session must end (drain, fence): once the sink write in flight is reported, so its items are acked. */
  let ending: SluiceError | undefined;
  const endNow = () => {
    receiver.fail(ending!, clock.now());
    pump.afterInput();
    pump.wake();
  };
  const onDrain = () => {
    // A SluiceError reason says why (a newer session of the publisher fenced this one); otherwise the server drains.
    const reason: unknown = options.signal?.reason;
    ending = reason instanceof SluiceError ? reason : new SluiceError("unavailable", "server is draining; publish elsewhere", { retryAfterMs: 0 });
    if (!writing) endNow();
  };
  options.signal?.addEventListener("abort", onDrain, { once: true });
  if (options.signal?.aborted) onDrain();
  const onCallGone = () => {
    callGone = true;
    pump.wake();
  };
  options.callSignal?.addEventListener("abort", onCallGone, { once: true });
  if (options.callSignal?.aborted) onCallGone();

  void (async () => {
    try {
      for await (const frame of pipe.inbound) {
        receiver.handleFrame(frame, clock.now());
        pump.afterInput();
        write();
      }
      if (receiver.state === "awaiting_open") receiver.fail(new SluiceError("protocol_violation", "the request ended before its PublishOpen", { blame: "remote" }), clock.now());
      // A publisher that half-closed without End is gone: nothing it sent after its last ack counts.
      else if (receiver.state !== "closed") callGone = true;
    } catch (failure) {
      if (failure instanceof SluiceError && failure.blame === "remote") receiver.fail(failure, clock.now());
      else callGone = true;
    } finally {
      pump.afterInput();
      pump.wake();
    }
  })();

  /** Hands what has arrived to the sink, one batch at a time, and reports the fates. */
  function write(): void {
    // A gone call takes no more: the publisher sends what is unacked again.
    if (writing || !sink || receiver.state !== "streaming" || ending || callGone) return;
    const batch: { seq: number; data: Uint8Array }[] = [];
    // A batch holds items of one priority: the first of another waits for the next batch.
    if (held) {
      batch.push({ seq: held.seq, data: held.data });
      held = undefined;
    }
    while (batch.length < maxBatchItems) {
      const delivery = receiver.read(clock.now());
      if (!delivery || delivery.kind === "end") break;
      const item = { seq: delivery.seq, data: delivery.data };
      if (batch.length === 0) priority = delivery.priority;
      else if (delivery.priority !== priority) {
        held = { ...item, priority: delivery.priority };
        break;
      }
      batch.push(item);
    }
    pump.afterInput(); // credit for what was taken
    if (batch.length === 0) return;
    writing = true;
    const batchPriority = priority;
    if (held) priority = held.priority;
    const throttled = throttle?.(batch.length, clock.now());
    if (throttled) receiver.throttled(throttled);
    const wait = throttled?.delayMs ?? 0;
    void (async () => {
      try {
        // Throttled: the batch waits, and with it the publisher's credit.
        if (wait > 0) await new Promise<void>((resolve) => clock.schedule(clock.now() + wait, resolve));
        const fates = await sink!.write(batch, batchPriority);
        if (fates.length !== batch.length) throw new SluiceError("internal", `the sink reported ${fates.length} fates for ${batch.length} items`);
        const now = clock.now();
        for (let i = 0; i < batch.length; i++) {
          const fate = fates[i]!;
          if (fate.accepted) {
            accepted++;
            receiver.accepted(batch[i]!.seq, now);
          } else {
            deadLettered++;
            receiver.deadLettered(batch[i]!.seq, fate.reason, fate.deadLetterTopic ?? "", now, fate.dropped);
          }
        }
      } catch (failure) {
        const reason = failure instanceof SluiceError ? failure : new SluiceError("source_failed", `sink failed: ${failure instanceof Error ? failure.message : String(failure)}`, { cause: failure });
        receiver.fail(reason, clock.now());
      } finally {
        writing = false;
        if (ending) endNow();
        pump.afterInput();
        pump.wake();
        write();
      }
    })();
  }

  const resolve = async (open: PublishOpenFrame) => {
    try {
      const resolved = await options.resolve(open, abort.signal);
      sessionId = resolved.sessionId;
      sink = resolved.sink;
      maxBatchItems = resolved.maxBatchItems ?? maxBatchItems;
      throttle = resolved.throttle;
      receiver.accept(
        {
          sessionId: resolved.sessionId,
          nextSeq: resolved.nextSeq,
          ...(resolved.deadLetters ? { deadLetters: resolved.deadLetters } : {}),
          ...(resolved.window ? { window: resolved.window } : {}),
          ...(resolved.limits ? { limits: resolved.limits } : {}),
        },
        clock.now(),
      );
    } catch (failure) {
      receiver.fail(failure instanceof SluiceError ? failure : new SluiceError("internal", failure instanceof Error ? failure.message : String(failure), { cause: failure }), clock.now());
    }
    pump.afterInput();
    pump.wake();
    write();
  };

  try {
    await pump.run();
  } finally {
    pump.stop(); // the session is over: late input must not arm its timer again
    options.signal?.removeEventListener("abort", onDrain);
    options.callSignal?.removeEventListener("abort", onCallGone);
    abort.abort();
    pipe.close(receiver.state === "closed" ? undefined : new SluiceError("cancelled", "publisher went away"));
  }
  const open = receiver.open;
  return {
    stream: open?.stream ?? "",
    publisherId: open?.publisherId ?? "",
    sessionId,
    accepted,
    deadLettered,
    doneSeq: receiver.doneSeq,
    ...(error ? { error } : {}),
    disconnected: callGone && error === undefined,
  };
}
