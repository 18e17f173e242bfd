import { it } from "vitest";
import { simulate } from "./sim.js";
it("d", () => {
  const r = simulate({"seed":1,"items":5,"loss":0.0037072612904012208,"duplicate":0,"reorder":0,"disconnect":0,window:{items:1,bytes:1},"chunkMaxBytes":16,"bigEvery":0,"readPerMs":Infinity,"ackEvery":5});
  console.log(JSON.stringify(r.deliveries.map(d => d.kind === "item" ? d.seq : d.kind === "end" ? ["end", d.end.lastSeq] : d)), r.sessions);
});
