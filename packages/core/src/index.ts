/**
 * @sluice/core: the Sluice protocol as sans-IO state machines. No sockets, no
 * timers, no clocks: callers pass `now` and drain frames, events and
 * deadlines. See PROTOCOL.md for the rules these implement.
 *
 * @module @sluice/core
 */
export { StreamSender, type StreamSenderOptions, type AcceptArgs, type SenderEvent } from "./stream-sender.js";
export { StreamReceiver, type StreamReceiverOptions, type Delivery, type ReceiverEvent } from "./stream-receiver.js";
export { Publisher, type PublisherOptions, type PublisherEvent, type PublisherCounters, type PublisherOffer } from "./publisher.js";
export { PublishSender, type PublishSenderOptions, type PublishSenderEvent, type PublishSenderState } from "./publish-sender.js";
export { LagThrottle, DEFAULT_LAG_THROTTLE, type LagThrottleOptions, type ThrottleState, type ThrottleCounters } from "./lag-throttle.js";
export { IngestReceiver, type IngestReceiverOptions, type IngestAcceptArgs, type IngestEvent, type IngestDelivery, type IngestState } from "./ingest-receiver.js";
export { SluiceError, isSluiceError, ERROR_CODES, ERROR_CODE_INFO, type ErrorCode, type ConnectCodeName, type Blame, type SluiceErrorOptions } from "./errors.js";
export type {
  ClientFrame,
  ServerFrame,
  OpenFrame,
  CreditFrame,
  AckFrame,
  HeartbeatFrame,
  CancelFrame,
  OpenedFrame,
  ChunkFrame,
  EndFrame,
  ErrorFrame,
  PublishOpenFrame,
  PublishAckFrame,
  PublishThrottle,
  PublishFrame,
  IngestFrame,
  DeadLetter,
  Window,
  Credit,
  ResumePosition,
  ResumeResult,
  Gap,
  GapReason,
  Fragment,
  Limits,
  JsonValue,
  JsonObject,
} from "./frames.js";
export { EMPTY_BYTES } from "./frames.js";
export { SendCredit, ReceiveWindow, type ReceiveWindowOptions } from "./credit-window.js";
export { ChunkAssembler, DEFAULT_CHUNK_OPTIONS, type ChunkOptions } from "./chunk-assembler.js";
export { FragmentReassembler, type FragmentResult } from "./fragment-reassembler.js";
export { ReplayBuffer, type ReplayEntry, type ReplayCapacity } from "./replay-buffer.js";
export { HeartbeatTracker, DEFAULT_HEARTBEAT, type HeartbeatOptions, type HeartbeatAction } from "./heartbeat-tracker.js";
export { Backoff, DEFAULT_BACKOFF, classifyError, type BackoffOptions, type RetryClass } from "./backoff.js";
export { CircuitBreaker, DEFAULT_CIRCUIT_BREAKER, type CircuitBreakerOptions, type CircuitState } from "./circuit-breaker.js";
export { BoundedPriorityQueue, Priority, type OverflowPolicy, type PriorityQueueOptions, type OfferResult } from "./priority-queue.js";
export { Queue } from "./queue.js";
export { LatencySampler, type LatencySamplerOptions } from "./latency-sampler.js";
export { createStreamCounters, type StreamCounters } from "./counters.js";
export {
  acceptOpen,
  DEFAULT_LIMITS,
  DEFAULT_WINDOW,
  MAX_STREAM_NAME_LENGTH,
  MIN_HEARTBEAT_INTERVAL_MS,
  MAX_HEARTBEAT_INTERVAL_MS,
  checkLimits,
  heartbeatProblem,
  itemSizeProblem,
  limitsProblem,
  windowProblem,
  type AcceptedOpen,
} from "./limits.js";
export type { SenderState, ReceiverState } from "./state.js";
export { SubscriberQueue, type SubscriberOverflowPolicy, type QueuedEntry, type OfferOutcome } from "./subscriber-queue.js";
export { MAX_SUBJECT_LENGTH, SubjectFilter, isPattern, patternProblem, patternUnder, subjectMatches, subjectProblem } from "./subjects.js";
