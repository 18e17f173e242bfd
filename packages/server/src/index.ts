/**
 * @sluice/server: Sluice streams as Connect routes.
 */
export { SluiceServer, SERVER_CHUNK_DEFAULTS, invalidParam, toConnectError, type AuthorizeRequest, type CallInfo, type SluiceServerOptions, type StreamDefinition } from "./sluice-server.js";
export { fromIterable, jsonEncoder, indexCursor, readIndexCursor, readSeqCursor, invalidCursor, type Source, type SourceItem, type SourceOpenContext, type ItemEncoder } from "./source.js";
export { fromJsonLines, type JsonLinesOptions } from "./json-lines-source.js";
export { Topic, type TopicOptions, type TopicOverflowPolicy, type TopicStats } from "./topic.js";
export { listen, type ListenOptions, type ListenTimeouts, type ListenTlsOptions, type Listening } from "./listen.js";
export type { SessionOutcome, SessionView } from "@sluice/driver";
