// @ts-check
import nx from "@nx/eslint-plugin";
import tseslint from "typescript-eslint";

/**
 * The layers of ARCHITECTURE.md ("Layers"), enforced with nx tags (each
 * package.json has "nx": { "tags": [...] }). Dependencies point down only:
 *   app -> runtime -> sdk -> transport -> driver -> protocol -> core
 * Nothing imports an app. core imports no other package at all.
 * tools/test/layers.spec.ts checks this table against that picture.
 */
const depConstraints = [
  { sourceTag: "layer:core", onlyDependOnLibsWithTags: ["layer:core"] },
  { sourceTag: "layer:protocol", onlyDependOnLibsWithTags: ["layer:core", "layer:protocol"] },
  { sourceTag: "layer:driver", onlyDependOnLibsWithTags: ["layer:core", "layer:protocol", "layer:driver"] },
  // Transport tests run on @sluice/testing's virtual clock; shipped code may not import it (below).
  { sourceTag: "layer:transport", onlyDependOnLibsWithTags: ["layer:core", "layer:protocol", "layer:driver", "layer:transport", "layer:testing"] },
  // SDK and runtime tests may speak the wire by hand with the conformance
  // package's raw clients; their src may not (see no-restricted-imports below).
  { sourceTag: "layer:sdk", onlyDependOnLibsWithTags: ["layer:core", "layer:protocol", "layer:driver", "layer:transport", "layer:sdk", "layer:testing", "layer:conformance"] },
  // A runtime's tests run the other side on its runtime (client-node's tests
  // serve with server-node); a runtime's src may not import another runtime
  // (the runtime blocks below).
  { sourceTag: "layer:runtime", onlyDependOnLibsWithTags: ["layer:core", "layer:protocol", "layer:driver", "layer:transport", "layer:sdk", "layer:runtime", "layer:testing", "layer:conformance"] },
  { sourceTag: "layer:app", onlyDependOnLibsWithTags: ["layer:core", "layer:protocol", "layer:driver", "layer:transport", "layer:sdk", "layer:runtime", "layer:testing", "layer:conformance"] },
  { sourceTag: "layer:tool", onlyDependOnLibsWithTags: ["layer:core", "layer:protocol", "layer:driver", "layer:transport", "layer:sdk", "layer:runtime", "layer:testing", "layer:conformance"] },
  // The conformance runner speaks the wire itself: it uses the protocol's codec, nothing that runs sessions.
  { sourceTag: "layer:conformance", onlyDependOnLibsWithTags: ["layer:core", "layer:protocol"] },
  // Test helpers may run the driver (createPair); nothing below the SDKs imports them.
  { sourceTag: "layer:testing", onlyDependOnLibsWithTags: ["layer:core", "layer:protocol", "layer:driver"] },
];

/** The runtime packages (layer:runtime). */
const runtimes = ["client-node", "client-web", "server-node"];

const shippedCodeImportBans = [
  { group: ["@sluice/testing"], message: "@sluice/testing is for test files only." },
  { group: ["@sluice/conformance"], message: "@sluice/conformance is a checker; shipped code does not depend on it." },
];

/** Globals a sans-IO, isomorphic core must not touch: I/O, timers, clocks, DOM, Node. */
const coreForbiddenGlobals = [
  "setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "queueMicrotask",
  "performance", "fetch", "WebSocket", "XMLHttpRequest", "window", "document", "navigator", "location",
  "localStorage", "sessionStorage", "process", "Buffer", "require", "__dirname", "__filename", "global",
].map((name) => ({ name, message: `packages/core is sans-IO and isomorphic: the caller owns ${name}.` }));

export default tseslint.config(
  { ignores: ["**/dist/**", "apps/reference-server/bundle/**", "**/.snippets-*/**", "**/node_modules/**", "**/src/gen/**", "**/.nx/**", "**/coverage/**"] },
  ...nx.configs["flat/base"],
  ...nx.configs["flat/typescript"],
  {
    files: ["**/*.ts", "**/*.mts", "**/*.js", "**/*.mjs"],
    // Tool configs (vitest.config.ts) are not part of the module graph.
    ignores: ["**/vitest.config.ts"],
    rules: {
      "@nx/enforce-module-boundaries": [
        "error",
        { enforceBuildableLibDependency: false, allow: [], depConstraints, banTransitiveDependencies: false },
      ],
    },
  },
  {
    files: ["**/*.ts", "**/*.mts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      // noUncheckedIndexedAccess is on: `!` after a bounds check is the idiom.
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    files: ["**/*.spec.ts", "**/test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // Shipped code never depends on test helpers (core has its own, stricter rule below).
    files: ["packages/*/src/**/*.ts", "apps/*/src/**/*.ts"],
    ignores: ["**/*.spec.ts", "packages/testing/**", "packages/conformance/**", "packages/core/src/**", ...runtimes.map((name) => `packages/${name}/src/**`)],
    rules: { "no-restricted-imports": ["error", { patterns: shippedCodeImportBans }] },
  },
  // A runtime's shipped code stands on the SDKs alone, never on another runtime.
  ...runtimes.map((name) => ({
    files: [`packages/${name}/src/**/*.ts`],
    ignores: ["**/*.spec.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            ...shippedCodeImportBans,
            ...runtimes.filter((other) => other !== name).map((other) => ({ group: [`@sluice/${other}`, `@sluice/${other}/*`], message: `a runtime's src does not import another runtime (@sluice/${other}); only its tests may.` })),
          ],
        },
      ],
    },
  })),
  {
    files: ["packages/core/src/**/*.ts"],
    ignores: ["packages/core/src/**/*.spec.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*"], message: "packages/core must not import Node built-ins (sans-IO, isomorphic)." },
            { group: ["ws", "ws/*"], message: "packages/core must not import a socket library." },
            { group: ["@connectrpc/*"], message: "packages/core must not import Connect: transports live above it." },
            { group: ["@sluice/*"], message: "packages/core imports no other Sluice package." },
          ],
        },
      ],
      "no-restricted-globals": ["error", ...coreForbiddenGlobals],
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now", message: "packages/core takes `now` from its caller." },
        { object: "Math", property: "random", message: "packages/core takes randomness from its caller (seeded tests)." },
      ],
      "no-restricted-syntax": [
        "error",
        { selector: "NewExpression[callee.name='Date']", message: "packages/core takes `now` from its caller." },
      ],
    },
  },
);
