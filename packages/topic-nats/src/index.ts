/**
 * @sluice/topic-nats: Sluice topics kept in NATS JetStream streams, shared by
 * every server instance on the same NATS (the server's TopicEngine).
 *
 * @module @sluice/topic-nats
 */
export { NatsTopic, natsStreamName, type NatsTopicOptions } from "./nats-topic.js";
