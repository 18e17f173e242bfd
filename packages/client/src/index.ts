/**
 * @sluice/client: isomorphic Sluice client over any Connect transport.
 * Runtime packages (@sluice/client-node, @sluice/client-web) pick the transport.
 *
 * @module @sluice/client
 */
export { createSluiceClient, type SluiceClient, type SluiceClientOptions, type SubscribeOptions, type SluiceStream, type StreamEvent, type StreamItem, type StreamGap, type StreamState, type PublishOptions, type SluicePublisher } from "./sluice-client.js";
export { PublishError, type PublicationState, type PublicationStats, type PublicationThrottle, type PublishQueueOptions, type PublishBatchOptions, type PublishReceipt, type PublishFailure, type PriorityName } from "@sluice/driver";
export { json, bytes, protobuf, type ItemCodec } from "./codec.js";
export { credentialInterceptors, type Credentials } from "./credentials.js";
export { endpointsTransport, type EndpointsTransport } from "./endpoints.js";
export type { HalfDuplexStream } from "./connect-pipe.js";
export { SluiceError, type ErrorCode } from "@sluice/core";
export type { SubscriptionStats } from "@sluice/driver";
