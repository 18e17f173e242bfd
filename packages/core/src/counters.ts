/**
 * Plain counters for metrics. Exporters (Prometheus in the reference server)
 * read them; core only adds.
 */

export interface StreamCounters {
  itemsSent: number;
  bytesSent: number;
  chunksSent: number;
  itemsReceived: number;
  bytesReceived: number;
  chunksReceived: number;
  duplicatesIgnored: number;
  gaps: number;
  itemsSkippedByGaps: number;
  creditFrames: number;
  acks: number;
  heartbeatsSent: number;
  heartbeatsReceived: number;
  /** Times the sender had something to send and no credit. */
  creditStalls: number;
  /** Total time spent stalled on credit. */
  creditStallMs: number;
  /** Sessions opened with a resume position. */
  resumes: number;
}

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
