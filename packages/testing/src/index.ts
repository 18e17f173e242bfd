export { CHROMIUM_ARGS, findChromium, launchChromium } from "./chromium.js";
export { selfSignedCertificate, type TestCertificate } from "./certificate.js";
export { until } from "./until.js";
