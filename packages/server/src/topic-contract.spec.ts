/** The in-memory Topic meets the topic contract (the same suite runs against @sluice/topic-nats). */
import { describeTopicContract } from "@sluice/testing";
import { Topic } from "./topic.js";

let n = 0;
describeTopicContract("in-memory Topic", async (options) => new Topic(`contract-${++n}`, options));
