/** Every program in examples/ runs and prints what its README says it shows. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const run = (name: string) => execFileSync(process.execPath, ["--conditions=@sluice/source", "--import", "tsx", `examples/${name}.ts`], { cwd: root, encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0" }, timeout: 60_000 });

it("protobuf-items: 60 typed Timestamps, encoded on the server, decoded by the client", () => {
  expect(run("protobuf-items")).toBe("60 timestamps, the last 2026-01-01T00:00:59.000Z\n");
});

it("jwt-auth: a reader gets reports, not payroll; an admin gets payroll; no token is unauthenticated", () => {
  expect(run("jwt-auth").split("\n")).toEqual([
    "alice (reader) reports: q1,q2,q3",
    "alice (reader) payroll: permission_denied: alice may not subscribe to payroll",
    "bob (admin) payroll: confidential",
    "no token reports: unauthenticated: a bearer token is required",
    "",
  ]);
});
