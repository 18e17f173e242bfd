import { defineConfig } from "vitest/config";

/**
 * Shared vitest settings. Workspace packages resolve to their TypeScript
 * sources through the "@sluice/source" export condition, so tests never need
 * a prior build.
 */
export const sharedConfig = defineConfig({
  resolve: {
    conditions: ["@sluice/source", "module", "node", "development"],
  },
  ssr: {
    resolve: {
      conditions: ["@sluice/source", "module", "node", "development"],
      externalConditions: ["@sluice/source"],
    },
  },
  test: {
    include: ["src/**/*.spec.ts", "test/**/*.spec.ts"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
