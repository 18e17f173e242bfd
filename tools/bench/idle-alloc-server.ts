/**
 * The server side of idle-alloc-probe.ts (run with --expose-gc): a
 * SluiceServer on `listen()` (h2c) with an idle topic "idle", and a stream
 * "prof" whose first open starts V8's sampling heap profiler and whose
 * second stops it and writes the profile to PROF_OUT (default
 * /tmp/idle-alloc.heapprofile); each answers heapUsed after GC. Prints one
 * JSON line: { url }.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { SluiceServer, Topic, listen } from "@sluice/server-node";
import { collectGarbage } from "./bench-common.js";

const inspector = new Session();
inspector.connect();
let sampling = false;
const heapUsed = () => new TextEncoder().encode(JSON.stringify({ heapUsed: process.memoryUsage().heapUsed }));

const sluice = new SluiceServer({
  streams: {
    idle: { topic: new Topic("idle") },
    prof: {
      source: {
        async *open() {
          await collectGarbage();
          if (!sampling) {
            // Every 32 bytes on average: fine enough for objects of a few dozen bytes.
            await inspector.post("HeapProfiler.startSampling", { samplingInterval: 32 });
            sampling = true;
          } else {
            const { profile } = await inspector.post("HeapProfiler.stopSampling");
            writeFileSync(process.env.PROF_OUT ?? "/tmp/idle-alloc.heapprofile", JSON.stringify(profile));
          }
          yield { data: heapUsed() };
        },
      },
    },
  },
});
const server = await listen(sluice, { protocols: "h2c", maxStreamsPerConnection: 20_000 });
console.log(JSON.stringify({ url: server.url }));
