export { CHROMIUM_ARGS, findChromium, launchChromium } from "./chromium.js";
export { selfSignedCertificate, type TestCertificate } from "./certificate.js";
export { until } from "./until.js";
export { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
export { VirtualClock } from "./virtual-clock.js";
export { createPair, pushSource, type Pair, type PairOptions, type LoggedFrame, type PushSource } from "./pair.js";
export { freePort, waitForPort } from "./ports.js";
export { describeTopicContract, type ContractTopic, type ContractTopicOptions } from "./topic-contract.js";
export { CONTROL_PATH, startPathProxy, type PathProxy } from "./path-proxy.js";
