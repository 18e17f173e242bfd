/**
 * From an Open to the items a session sends: the stream's topic or source
 * opened at the client's resume position, by one resume path. A topic
 * engine replays its history after the position (or refuses, or reports a
 * gap); a source reopens at the client's cursor and the driver skips the
 * items between the cursor and the position (PROTOCOL.md §7.6). Either
 * way the session gets its items, its first seq, and one ResumeResult.
 */
import { SluiceError, type Gap, type OpenFrame, type ResumeResult } from "@sluice/core";
import type { SourceYield } from "@sluice/driver";
import type { Source } from "./source.js";
import type { TopicEngine } from "./topic-engine.js";

/** Where a session starts: what the driver's ResolvedStream needs of the stream itself. */
export interface StreamStart {
  readonly items: AsyncIterable<SourceYield>;
  /** Whether `items` would yield now without waiting (topics). */
  readonly ready?: () => boolean;
  readonly nextSeq: number;
  /** Items to read and drop before the first one is sent (a source reopened at an older cursor). */
  readonly skip?: number;
  readonly resume?: ResumeResult;
}

export interface OpenSourceOptions {
  readonly stream: string;
  /** The most items a resume may re-read (maxResumeSkip). */
  readonly maxSkip: number;
  readonly signal: AbortSignal;
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

/** A topic subscription for an Open; `consumer` is the principal the session was authorized as (for consumer lag by name). */
export async function startTopic(topic: TopicEngine, open: OpenFrame, signal: AbortSignal, consumer: string | undefined): Promise<StreamStart> {
  const { nextSeq, replayed, gap, items, ready } = await topic.subscribe(open.resume ? open.resume.seq : undefined, signal, consumer !== undefined ? { consumer } : {});
  return { ...started(open, items, nextSeq, replayed, 0, gap), ...(ready ? { ready } : {}) };
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
  const items = source.open(params, cursor, { signal: options.signal, cursorSeq });
  // The skipped items are re-read, so they are what the resume replayed.
  return started(open, items, (resume ? resume.seq : 0) + 1, skip, skip);
}

