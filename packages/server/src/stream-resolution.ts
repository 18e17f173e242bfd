/**
 * From an Open to the items a session sends: the stream's topic or source
 * opened at the client's resume position, by one resume path. A topic
 * engine replays its history after the position (or refuses, or reports a
 * gap); a source reopens at the client's cursor and the driver skips the
 * items between the cursor and the position (PROTOCOL.md §7.6). Either
 * way the session gets its items, its first seq, and one ResumeResult.
 */
import { SluiceError, type Gap, type OpenFrame, type ResumeResult } from "@sluice/core";
import { abortSignalOf, type PolledItems, type SessionSignal, type SourceYield } from "@sluice/driver";
import { indexCursor, readIndexCursor, type Source } from "./source.js";
import type { TopicEngine } from "./topic-engine.js";

/** Where a session starts: what the driver's ResolvedStream needs of the stream itself. */
export interface StreamStart {
  readonly items: AsyncIterable<SourceYield>;
  /** Whether `items` would yield now without waiting (topics). */
  readonly ready?: () => boolean;
  /** The same items, read without waiting (topics that have them in memory). */
  readonly polled?: PolledItems;
  readonly nextSeq: number;
  /** Items to read and drop before the first one is sent (a source reopened at an older cursor). */
  readonly skip?: number;
  readonly resume?: ResumeResult;
  /** The cursor at nextSeq − 1 − skip, for Opened (a pattern subscription's first checkpoint). */
  readonly startCursor?: Uint8Array;
}

export interface OpenSourceOptions {
  readonly stream: string;
  /** The most items a resume may re-read (maxResumeSkip). */
  readonly maxSkip: number;
  /** Fires when the session is over. */
  readonly signal: SessionSignal;
}

/** A stream name resolved to its definition: the stream itself, or a subject (pattern) under a topic stream. */
export interface FoundStream<D> {
  /** The definition's name (a topic's name for a subject under it). */
  readonly name: string;
  /** The definition of stream `name`. */
  readonly definition: D;
  /** The subject or pattern asked for, when it is under the topic stream `name` (PROTOCOL.md §7.10). */
  readonly subject?: string;
}

/**
 * Finds what a stream name means: a stream of that name, else the nearest
 * topic stream whose name is a leading run of its tokens
 * (`sensors.*.temp`, `sensors.lab.temp` and `sensors.>` all lie under topic
 * `sensors`). One lookup for subscribe, publish and authorization alike;
 * `isTopic` tells topic streams apart (default: a definition with a `topic`).
 */
export function findStream<D>(streams: Readonly<Record<string, D>>, name: string, isTopic: (definition: D) => boolean = (d) => (d as { readonly topic?: unknown }).topic !== undefined): FoundStream<D> | undefined {
  if (Object.hasOwn(streams, name)) return { name, definition: streams[name]! };
  for (let end = name.lastIndexOf("."); end > 0; end = name.lastIndexOf(".", end - 1)) {
    const root = name.slice(0, end);
    if (Object.hasOwn(streams, root) && isTopic(streams[root]!)) return { name: root, definition: streams[root]!, subject: name };
  }
  return undefined;
}

/** The one place a ResumeResult is made, for topics and sources alike. */
function started(open: OpenFrame, items: AsyncIterable<SourceYield>, nextSeq: number, replayed: number, skip: number, gap?: Gap): StreamStart {
  const resume = open.resume;
  return {
    items,
    nextSeq,
    ...(skip > 0 ? { skip } : {}),
    ...(resume ? { resume: { requestedSeq: resume.seq, nextSeq, replayed, ...(gap ? { gap } : {}) } } : {}),
  };
}

/**
 * A topic subscription for an Open; `consumer` is the principal the session
 * was authorized as (for consumer lag by name). With `filter` (a subject
 * pattern under the topic, PROTOCOL.md §7.10) the stream is the matching
 * items only, numbered 1, 2, … by the stream itself, and its cursors are
 * the topic's seqs: a resume reopens the topic at the cursor and skips
 * the matching items up to the position, as a cursor source does.
 */
export async function startTopic(topic: TopicEngine, open: OpenFrame, signal: SessionSignal, consumer: string | undefined, filter?: string): Promise<StreamStart> {
  if (filter === undefined) {
    const { nextSeq, replayed, gap, items, ready, polled } = await topic.subscribe(open.resume ? open.resume.seq : undefined, signal, consumer !== undefined ? { consumer } : {});
    return { ...started(open, items, nextSeq, replayed, 0, gap), ...(ready ? { ready } : {}), ...(polled ? { polled } : {}) };
  }
  const options = { filter, ...(consumer !== undefined ? { consumer } : {}) };
  const resume = open.resume;
  if (!resume) {
    const { nextSeq, items, ready, polled } = await topic.subscribe(undefined, signal, options);
    // Opened carries where the topic was, so a session lost before its first chunk resumes from there.
    return { ...started(open, items, 1, 0, 0), startCursor: indexCursor(nextSeq - 1), ...(ready ? { ready } : {}), ...(polled ? { polled } : {}) };
  }
  if (resume.cursor.byteLength === 0) {
    throw new SluiceError("invalid_argument", `resume.cursor: stream ${open.stream} (a subject pattern) resumes from a cursor, and Opened gave the first one; this position has none`, { field: "resume.cursor", blame: "remote" });
  }
  const position = readIndexCursor(resume.cursor);
  const { nextSeq, replayed, gap, items, ready, polled } = await topic.subscribe(position, signal, options);
  if (gap) {
    // History after the cursor is gone: how many matching items it held is
    // unknown, so the gap spans the topic seqs lost (at most that many
    // items), and the stream goes on from the oldest retained one. The
    // items the client had after its checkpoint are the first matching ones
    // after the cursor: those still retained are the first retained ones,
    // so up to that many are skipped (never sent twice). Whatever is lost
    // either way is within the gap: it counts every seq after the cursor
    // the history no longer has.
    const skip = Math.min(resume.seq - resume.cursorSeq, replayed);
    const streamGap: Gap = { fromSeq: resume.seq + 1, count: gap.count, reason: gap.reason };
    return { ...started(open, items, resume.seq + 1 + gap.count, replayed, skip, streamGap), startCursor: indexCursor(nextSeq - 1), ...(ready ? { ready } : {}), ...(polled ? { polled } : {}) };
  }
  const skip = resume.seq - resume.cursorSeq;
  return { ...started(open, items, resume.seq + 1, replayed, skip), startCursor: resume.cursor, ...(ready ? { ready } : {}), ...(polled ? { polled } : {}) };
}

export function startSource<P>(source: Source<P>, params: P, open: OpenFrame, options: OpenSourceOptions): StreamStart {
  const resume = open.resume;
  // Reopen at the cursor (or the start) and skip what the client already has.
  let cursor: Uint8Array = new Uint8Array(0);
  let cursorSeq = 0;
  if (resume) {
    const length = source.length?.(params);
    if (length !== undefined && resume.seq > length) {
      throw new SluiceError("invalid_argument", `resume.seq: ${resume.seq} is beyond the end of stream ${options.stream} (${length} items)`, { field: "resume.seq", blame: "remote" });
    }
    if (resume.cursor.byteLength > 0) {
      cursor = resume.cursor;
      cursorSeq = resume.cursorSeq;
    } else if (resume.seq > 0 && source.cursorAfter) {
      cursor = source.cursorAfter(params, resume.seq);
      cursorSeq = resume.seq;
    }
  }
  const skip = resume ? resume.seq - cursorSeq : 0;
  if (skip > options.maxSkip) {
    throw new SluiceError("resume_position_lost", `stream ${options.stream}: resuming after seq ${resume!.seq} from ${cursorSeq > 0 ? `the cursor at seq ${cursorSeq}` : "the start"} would re-read ${skip} items, over the limit of ${options.maxSkip}`);
  }
  // A source gets a real AbortSignal (it may hand it to fetch or a driver); a topic does not need one.
  const items = source.open(params, cursor, { signal: abortSignalOf(options.signal), cursorSeq });
  // The skipped items are re-read, so they are what the resume replayed.
  return started(open, items, (resume ? resume.seq : 0) + 1, skip, skip);
}

