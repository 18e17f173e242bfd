/**
 * Plain counters for metrics. Exporters (Prometheus in the reference server)
 * read them; core only adds.
 */

/**
 * What one session (sender) or subscription (receiver) did, counted as it
 * happens. Each side fills the counters that concern it.
 */
export interface StreamCounters {
  /** Whole items sent. */
  itemsSent: number;
  /** Payload bytes sent. */
  bytesSent: number;
  /** Chunk frames sent. */
  chunksSent: number;
  /** Whole items received. */
  itemsReceived: number;
  /** Payload bytes received. */
  bytesReceived: number;
  /** Chunk frames received. */
  chunksReceived: number;
  /** Chunks or items that arrived again (resent after a resume, or duplicated on the way) and were dropped. */
  duplicatesIgnored: number;
  /** Gaps sent or received. */
  gaps: number;
  /** Seqs those gaps covered. */
  itemsSkippedByGaps: number;
  /** Credit frames sent or received. */
  creditFrames: number;
  /** Acks sent, or acks received that moved the ack forward. */
  acks: number;
  /** Pings sent. */
  heartbeatsSent: number;
  /** Heartbeat frames received (pings and pongs). */
  heartbeatsReceived: number;
  /** Times the sender had something to send and no credit. */
  creditStalls: number;
  /** Total time spent stalled on credit. */
  creditStallMs: number;
  /** Sessions opened with a resume position. */
  resumes: number;
}

/** A fresh set of counters, all zero. */
export function createStreamCounters(): StreamCounters {
  return {
    itemsSent: 0,
    bytesSent: 0,
    chunksSent: 0,
    itemsReceived: 0,
    bytesReceived: 0,
    chunksReceived: 0,
    duplicatesIgnored: 0,
    gaps: 0,
    itemsSkippedByGaps: 0,
    creditFrames: 0,
    acks: 0,
    heartbeatsSent: 0,
    heartbeatsReceived: 0,
    creditStalls: 0,
    creditStallMs: 0,
    resumes: 0,
  };
}
