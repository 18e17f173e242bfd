/**
 * NatsTopic meets the topic contract, on the real nats-server with
 * JetStream (the same suite runs against the in-memory Topic in
 * @sluice/server). Each topic is a JetStream stream of its own, deleted
 * afterwards.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { describeTopicContract } from "@sluice/testing";
import { afterAll, describe } from "vitest";
import { NatsTopic } from "../src/index.js";
import { natsOrSkip } from "./nats-server.js";

const connection = await natsOrSkip("NATS topic contract");
const streams: string[] = [];
let n = 0;

describe.skipIf(!connection)("NatsTopic on nats-server", () => {
  afterAll(async () => {
    const jsm = await jetstreamManager(connection!);
    await Promise.all(streams.map((stream) => jsm.streams.delete(stream).catch(() => undefined)));
    await connection!.close();
  });

  describeTopicContract("NATS JetStream (NatsTopic)", async (options) => {
    const name = `contract.t${process.pid}.${Date.now() % 1_000_000}.${++n}`;
    const topic = await NatsTopic.open(name, { connection: connection!, storage: "memory", overflowGraceMs: 0, ...options });
    streams.push(topic.stream);
    return topic;
  });
});
