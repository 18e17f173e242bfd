/**
 * @sluice/topic-nats: Sluice topics kept in NATS JetStream streams, shared by
 * every server instance on the same NATS (the server's TopicEngine), and
 * half-duplex Control calls forwarded between those instances over NATS
 * request/reply (the server's ControlRelay).
 *
 * @module @sluice/topic-nats
 */
export { NatsTopic, natsStreamName, type NatsTopicOptions, type NatsTopicStats } from "./nats-topic.js";
export { NatsControlRelay, type NatsControlRelayOptions } from "./nats-control-relay.js";
