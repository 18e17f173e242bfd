/**
 * Protobuf-typed items end to end: the server encodes each item with a
 * message schema (here the well-known Timestamp; your own schemas come from
 * `buf generate` with protoc-gen-es), the client decodes them with the same
 * schema and gets typed messages. Run: npx tsx examples/protobuf-items.ts
 */
import { timestampFromMs, TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import { toBinary } from "@bufbuild/protobuf";
import { createSluiceClient, protobuf } from "@sluice/client-node";
import { SluiceServer, fromIterable, listen } from "@sluice/server-node";

const start = Date.UTC(2026, 0, 1);
const sluice = new SluiceServer({
  streams: {
    // One Timestamp per second of the first minute of 2026, encoded on the server.
    seconds: { source: fromIterable(() => Array.from({ length: 60 }, (_, i) => timestampFromMs(start + i * 1_000)), (t: Timestamp) => toBinary(TimestampSchema, t)), contentType: "application/x-protobuf" },
  },
});
const server = await listen(sluice, { port: 0 });

const client = createSluiceClient({ baseUrl: server.url });
let last: Timestamp | undefined;
let count = 0;
for await (const event of client.subscribe("seconds", { codec: protobuf(TimestampSchema) })) {
  if (event.kind !== "item") continue;
  last = event.value; // a typed Timestamp message
  count++;
}
client.close();
await server.close();
console.log(`${count} timestamps, the last ${new Date(Number(last!.seconds) * 1_000).toISOString()}`);
