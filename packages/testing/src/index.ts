export { CHROMIUM_ARGS, findChromium, launchChromium } from "./chromium.js";
export { selfSignedCertificate, type TestCertificate } from "./certificate.js";
export { until } from "./until.js";
export { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
