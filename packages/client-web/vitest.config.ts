import { mergeConfig } from "vitest/config";
import { sharedConfig } from "../../vitest.shared.js";

// These tests drive a real Chromium beside a Sluice server on a 2-core CI
// machine that runs every other package's tests at the same time. One retry
// under CI (as Playwright's own runner does by default) keeps a scheduling
// stall from failing the run; a test that fails twice still fails it, and
// .ci/run lists every failed attempt.
export default mergeConfig(sharedConfig, { test: { retry: process.env.CI ? 1 : 0 } });
