/**
 * A half-duplex publish session as a frame pipe (PROTOCOL.md §3.4.1), for
 * transports that cannot stream a request (browsers' fetch, HTTP/1.1): the
 * publisher's frames become unary PublishBatch calls, and their answers the
 * server frames a streaming session would have sent, so the Publisher runs
 * unchanged over it. One call is in flight at a time, so batches arrive in
 * order; chunks queued meanwhile travel together in the next call.
 *
 * - PublishOpen → a probe (a batch without items): its answer becomes
 *   Opened (next_seq, limits, window) and, when the server has items the
 *   publisher has no ack for, the PublishAck that tells their fates.
 * - Chunks → their items (fragments joined) in the next batch, a call per
 *   run of one priority (the chunk's, sent as the call's); each answer
 *   becomes a PublishAck and the Credit for the next window.
 * - Heartbeat pings are answered here: the calls themselves show the server
 *   is alive. End is answered with End once every batch is acked.
 * - A failed call becomes an Error frame (a refusal stays final, transport
 *   trouble is retryable), and the session ends: the Publisher opens a new
 *   one, which resends what is unacked; a retried batch takes nothing twice.
 */
import type { Client } from "@connectrpc/connect";
import { EMPTY_BYTES, Priority, SluiceError, type IngestFrame, type PublishFrame, type PublishOpenFrame } from "@sluice/core";
import { FrameQueue, type FramePipe } from "@sluice/driver";
import { priorityToWire, publishAckFromWire, wireNumber, type PublishBatchResponse, type PublishService } from "@sluice/protocol";
import { callError } from "./connect-pipe.js";

export function openPublishBatchCall(client: Client<typeof PublishService>, signal: AbortSignal): FramePipe<IngestFrame, PublishFrame> {
  const inbound = new FrameQueue<IngestFrame>(1_024);
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  let open: PublishOpenFrame | undefined;
  /** Items waiting for the next call, with their seqs contiguous from `queuedFrom`. */
  let queued: Uint8Array[] = [];
  /** The priority of each queued item (a call carries items of one priority). */
  let queuedPriorities: Priority[] = [];
  let queuedFrom = 0;
  /** A fragmented item being joined. */
  let partial: { seq: number; parts: Uint8Array[]; received: number; total: number } | undefined;
  let sending: Promise<void> | undefined;
  let ackSeq = 0;
  /** Payload bytes of the session's items, cumulative by seq: what a credit's max_bytes counts. */
  const bytesThrough = new Map<number, number>();
  let sessionBytes = 0;
  let endSeq: number | undefined;
  let closed = false;

  const finish = (frame?: IngestFrame) => {
    if (closed) return;
    if (frame) void inbound.push(frame);
    closed = true;
    inbound.close();
    signal.removeEventListener("abort", onAbort);
  };

  const call = async (firstSeq: number, items: Uint8Array[], priority: Priority = Priority.NORMAL): Promise<PublishBatchResponse> => {
    return client.publishBatch({ stream: open!.stream, publisherId: open!.publisherId, resumeAfterSeq: BigInt(ackSeq), firstSeq: BigInt(firstSeq), items, priority: priorityToWire(priority) }, { signal: abort.signal });
  };

  /** The answer as the frames a streaming session would have sent. */
  const answer = (response: PublishBatchResponse) => {
    const ack = publishAckFromWire(response.ack);
    const seq = ack.seq;
    const window = response.window;
    if (seq > ackSeq) {
      // As a stream's ack: after the one before it here, with the dead letters in between.
      void inbound.push({ ...ack, afterSeq: ackSeq, deadLetters: ack.deadLetters.filter((d) => d.seq > ackSeq && d.seq <= seq) });
      for (const key of bytesThrough.keys()) if (key < seq) bytesThrough.delete(key);
      ackSeq = seq;
    }
    if (window) void inbound.push({ type: "credit", maxSeq: seq + window.items, maxBytes: (bytesThrough.get(seq) ?? 0) + wireNumber(window.bytes, "window.bytes") });
  };

  /** The most item bytes one call carries (from the probe's limits). */
  let maxCallBytes = Infinity;
  const flush = (): void => {
    if (sending || closed || queued.length === 0 || !open) return;
    sending = (async () => {
      try {
        while (queued.length > 0 && !abort.signal.aborted) {
          // One call's request must fit the server's frames: at most half of max_frame_bytes of items (at least one).
          // And it carries items of one priority (§3.4 rule 10): the first of another starts the next call.
          const priority = queuedPriorities[0]!;
          let count = 0;
          for (let bytes = 0; count < queued.length && queuedPriorities[count] === priority && (count === 0 || bytes + queued[count]!.byteLength <= maxCallBytes); count++) bytes += queued[count]!.byteLength;
          const items = queued.slice(0, count);
          const firstSeq = queuedFrom;
          queued = queued.slice(count);
          queuedPriorities = queuedPriorities.slice(count);
          queuedFrom = firstSeq + items.length;
          answer(await call(firstSeq, items, priority));
        }
        if (endSeq !== undefined && ackSeq >= endSeq) finish({ type: "end", lastSeq: endSeq, cursor: EMPTY_BYTES, sessionItems: 0, sessionBytes: 0 });
      } catch (error) {
        finish(callError(error).toFrame());
      } finally {
        sending = undefined;
      }
    })();
  };

  const probe = async () => {
    try {
      const response = await call(0, []);
      const limits = response.limits;
      const window = response.window;
      if (!limits || !window) throw new SluiceError("protocol_violation", "publish batch answer without limits or window", { blame: "remote" });
      const nextSeq = wireNumber(response.nextSeq, "next_seq");
      void inbound.push({
        type: "opened",
        sessionId: "",
        sessionSecret: EMPTY_BYTES,
        nextSeq,
        limits: { ...limits, maxWindowBytes: wireNumber(limits.maxWindowBytes, "limits.max_window_bytes") },
        contentType: "",
        window: { items: window.items, bytes: wireNumber(window.bytes, "window.bytes") },
      });
      queuedFrom = nextSeq;
      maxCallBytes = Math.max(1, Math.floor(limits.maxFrameBytes / 2));
      bytesThrough.set(nextSeq - 1, 0);
      // The fates of items the server has and the publisher has no ack for (rule 6).
      const { deadLetters } = publishAckFromWire(response.ack);
      if (nextSeq - 1 > ackSeq) void inbound.push({ type: "publish_ack", seq: nextSeq - 1, afterSeq: ackSeq, deadLetters: deadLetters.filter((d) => d.seq > ackSeq) });
      ackSeq = nextSeq - 1;
      flush();
    } catch (error) {
      finish(error instanceof SluiceError ? error.toFrame() : callError(error).toFrame());
    }
  };

  const addItem = (seq: number, data: Uint8Array, priority: Priority) => {
    if (queued.length === 0) queuedFrom = seq;
    queued.push(data);
    queuedPriorities.push(priority);
    sessionBytes += data.byteLength;
    bytesThrough.set(seq, sessionBytes);
  };

  return {
    inbound,
    send(frame) {
      if (closed) return;
      switch (frame.type) {
        case "publish_open":
          open = frame;
          ackSeq = frame.resumeAfterSeq;
          void probe();
          return;
        case "chunk": {
          const fragment = frame.fragment;
          if (!fragment) {
            frame.items.forEach((data, i) => addItem(frame.firstSeq + i, data, frame.priority ?? Priority.NORMAL));
          } else {
            partial ??= { seq: frame.firstSeq, parts: [], received: 0, total: fragment.totalBytes };
            partial.parts.push(fragment.data);
            partial.received += fragment.data.byteLength;
            if (partial.received >= partial.total) {
              const whole = new Uint8Array(partial.total);
              let at = 0;
              for (const part of partial.parts) {
                whole.set(part, at);
                at += part.byteLength;
              }
              addItem(partial.seq, whole, frame.priority ?? Priority.NORMAL);
              partial = undefined;
            }
          }
          flush();
          return;
        }
        case "heartbeat":
          // The calls are the liveness here: answer the publisher's ping at once.
          if (frame.ping !== 0) void inbound.push({ type: "heartbeat", ping: 0, pong: frame.ping });
          return;
        case "end":
          endSeq = frame.lastSeq;
          if (!sending && queued.length === 0 && ackSeq >= endSeq) finish({ type: "end", lastSeq: endSeq, cursor: EMPTY_BYTES, sessionItems: 0, sessionBytes: 0 });
          else flush();
          return;
        case "cancel":
          abort.abort();
          finish();
          return;
      }
    },
    close() {
      finish();
      queueMicrotask(() => abort.abort());
    },
  };
}
