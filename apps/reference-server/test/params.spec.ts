/**
 * One rule for params on every source (README, "The embedded streams"): a
 * param a stream does not take is refused with invalid_argument naming it,
 * never ignored.
 */
import { createSluiceClient, type SluiceError } from "@sluice/client-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startCli, type StartedCli } from "./start-cli.js";

let server: StartedCli;
beforeAll(async () => {
  server = await startCli([]);
});
afterAll(() => {
  server.child.kill("SIGKILL");
});

it.each([
  ["numbers", { cnt: 5 }, "params.cnt", "params.cnt: unknown parameter (this stream takes count)"],
  ["ticks", { rate: 5 }, "params.rate", "params.rate: unknown parameter (this stream takes count)"],
  ["books", { genere: "poetry" }, "params.genere", "params.genere: unknown parameter (this stream takes genre)"],
  ["news", { since: 5 }, "params.since", "params.since: unknown parameter (this stream takes none)"],
])("%s refuses the unknown param %j", async (stream, params, field, message) => {
  const client = createSluiceClient({ baseUrl: server.url, transport: "http" });
  let error: SluiceError | undefined;
  try {
    for await (const _ of client.subscribe(stream, { params })) void _;
  } catch (e) {
    error = e as SluiceError;
  }
  client.close();
  expect(error).toMatchObject({ code: "invalid_argument", field, message, retryable: false });
});
