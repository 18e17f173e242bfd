/**
 * @sluice/driver: the one runtime-neutral driver. It runs the
 * core machines over frame pipes and owns every timer and every await, so
 * heartbeats, acks, credit and retries exist once for every transport.
 *
 * @module @sluice/driver
 */
export { serveSession, type ServeSessionOptions, type ResolvedStream, type SourceYield, type SessionOutcome, type SessionView, type PolledItems } from "./serve-session.js";
export { OnceSignal, abortSignalOf, type SessionSignal } from "./once-signal.js";
export { DEFAULT_WINDOW } from "@sluice/core";
export { Subscription, type SubscriptionOptions, type SubscriptionEvent, type SubscriptionItem, type SubscriptionGap, type SubscriptionStats, type SubscriptionState } from "./subscription.js";
export { FrameQueue, type FramePipe, type FrameSink } from "./frame-pipe.js";
export { createMemoryLink, type MemoryLink } from "./memory-link.js";
export { systemClock, type Clock } from "./clock.js";
export { serveIngest, type ServeIngestOptions, type ResolvedIngest, type IngestSink, type IngestItem, type IngestFate, type IngestOutcome } from "./serve-ingest.js";
export { Publication, PublishError, type PublicationOptions, type PublicationState, type PublicationStats, type PublicationThrottle, type PublishQueueOptions, type PublishBatchOptions, type PublishReceipt, type PublishFailure, type PriorityName } from "./publication.js";
