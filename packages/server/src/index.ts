/**
 * @sluice/server: Sluice streams as Connect routes.
 *
 * @module @sluice/server
 */
export { SluiceServer, SERVER_CHUNK_DEFAULTS, CONNECTION, invalidParam, type AuthorizeRequest, type CallInfo, type SluiceServerOptions, type StreamDefinition } from "./sluice-server.js";
export type { ControlRelay, ControlHandler, ControlStats } from "./control-relay.js";
export { fromIterable, jsonEncoder, indexCursor, readIndexCursor, readSeqCursor, invalidCursor, type Source, type SourceItem, type SourceOpenContext, type ItemEncoder } from "./source.js";
export { fromJsonLines, type JsonLinesInput, type JsonLinesOptions } from "./json-lines-source.js";
export { Topic, checkTopicSubject, checkTopicPattern, type TopicOptions, type TopicOverflowPolicy } from "./topic.js";
export { findStream, type FoundStream } from "./stream-resolution.js";
export { SubjectRouter, type RouteRules, type ContentRule, type RouteMapping, type RouteOperator, type RouteKind, type RouteStats, type RouteDecision, type Routed, type Unrouted } from "./routing.js";
export { DEFAULT_PUBLISH_WINDOW, type PublishDefinition, type PublishSink, type PublishContext, type DeadLetterRecord, type PublishBatch, type PublishBatchResult } from "./ingest.js";
export { SinkQueue, type SinkQueueOptions, type SinkQueueResult } from "./sink-queue.js";
export { PublisherRegistry, type PublisherRegistryOptions, type PublisherPosition } from "./publishers.js";
export type { IngestSink, IngestItem, IngestFate, IngestOutcome } from "@sluice/driver";
export type { TopicEngine, TopicSubscription, TopicSubscribeOptions, TopicStats, PublishAck, PublishOptions, HistoryBounds, RetainedRange } from "./topic-engine.js";
export type { SessionOutcome, SessionView, SessionSignal } from "@sluice/driver";
// Sources and authorize hooks refuse with these (as the client reports them).
export { SluiceError, type ErrorCode } from "@sluice/core";
