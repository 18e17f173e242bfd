/**
 * Summarizes a V8 .heapsnapshot for memory-bench.ts: self sizes by
 * constructor (node name) and type, ArrayBuffer backing stores ("system /
 * JSArrayBufferData", whose self size is the buffer's byte length: what
 * process.memoryUsage() counts as arrayBuffers / external) by size class,
 * and the backing stores' bytes by retainer chain (who holds them: walking
 * up from each backing store through the strong retainer nearest the GC
 * roots, i.e. along the shortest path that keeps it alive).
 *
 *   node --import tsx tools/bench/memory-bench-heapsnapshot.ts FILE.heapsnapshot
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface HeapSummary {
  nodes: number;
  totalSelfBytes: number;
  byConstructor: { name: string; count: number; bytes: number }[];
  backingStores: { count: number; bytes: number; bySize: { size: string; count: number; bytes: number }[] };
  byRetainers: { chain: string; count: number; bytes: number }[];
  /** The same, cut at the first retainer that is not a generic container (Array, Object, a typed array, a V8 internal): who owns the bytes. */
  byHolder: { chain: string; count: number; bytes: number }[];
}

/** Retainers that say nothing about who owns the bytes. */
const GENERIC = /^(Queue|ArrayBuffer|Uint8Array|Buffer|FastBuffer|Array|Object|\(object elements\)|\(object properties\)|system \/ .*|\(array\)|)$/;

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2);

/** Reads and summarizes one snapshot (the file is parsed whole: give node a large enough heap). */
export function summarizeHeapSnapshot(file: string, options: { top?: number; chainDepth?: number } = {}): HeapSummary {
  const top = options.top ?? 20;
  const depth = options.chainDepth ?? 8;
  const snapshot = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const meta = snapshot.snapshot.meta;
  const NF = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const nType = meta.node_fields.indexOf("type");
  const nName = meta.node_fields.indexOf("name");
  const nSize = meta.node_fields.indexOf("self_size");
  const nEdges = meta.node_fields.indexOf("edge_count");
  const eType = meta.edge_fields.indexOf("type");
  const eName = meta.edge_fields.indexOf("name_or_index");
  const eTo = meta.edge_fields.indexOf("to_node");
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snapshot;
  const count = nodes.length / NF;

  const typeOf = (n: number) => nodeTypes[nodes[n * NF + nType]!]!;
  const nameOf = (n: number) => strings[nodes[n * NF + nName]!]!;
  /** What a node is called in the tables: objects by constructor, strings and code by type. */
  const label = (n: number) => {
    const type = typeOf(n);
    if (type === "object" || type === "native" || type === "hidden" || type === "array" || type === "synthetic") return nameOf(n).slice(0, 60);
    if (type === "closure") return `(closure ${nameOf(n).slice(0, 40)})`;
    return `(${type})`;
  };

  // Each node's first edge, and the reverse edges (retainers) as CSR arrays.
  const firstEdge = new Uint32Array(count + 1);
  for (let n = 0, e = 0; n < count; n++) {
    firstEdge[n] = e;
    e += nodes[n * NF + nEdges]! * EF;
    firstEdge[n + 1] = e;
  }
  const retainerCount = new Uint32Array(count + 1);
  for (let e = 0; e < edges.length; e += EF) retainerCount[edges[e + eTo]! / NF]!++;
  const retainerStart = new Uint32Array(count + 1);
  for (let n = 0; n < count; n++) retainerStart[n + 1] = retainerStart[n]! + retainerCount[n]!;
  const retainerEdge = new Uint32Array(retainerStart[count]!);
  const retainerFrom = new Uint32Array(retainerStart[count]!);
  const fill = retainerStart.slice();
  for (let n = 0; n < count; n++) {
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += EF) {
      const to = edges[e + eTo]! / NF;
      retainerEdge[fill[to]!] = e;
      retainerFrom[fill[to]!] = n;
      fill[to]!++;
    }
  }
  const edgeLabel = (e: number) => {
    const type = edgeTypes[edges[e + eType]!]!;
    if (type === "element" || type === "hidden") return "[]";
    const name = strings[edges[e + eName]!];
    return name === undefined || /^\d+$/.test(name) ? "[]" : `.${name.slice(0, 30)}`;
  };

  // Distance from the GC roots (node 0) over strong edges: chains follow the retainer nearest the roots, i.e. the path that keeps a buffer alive.
  const distance = new Uint32Array(count).fill(0xffffffff);
  distance[0] = 0;
  const queue = new Uint32Array(count);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  while (head < tail) {
    const n = queue[head++]!;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += EF) {
      if (edgeTypes[edges[e + eType]!] === "weak") continue;
      const to = edges[e + eTo]! / NF;
      if (distance[to] !== 0xffffffff) continue;
      distance[to] = distance[n]! + 1;
      queue[tail++] = to;
    }
  }

  const byConstructor = new Map<string, { count: number; bytes: number }>();
  let totalSelfBytes = 0;
  const stores: number[] = [];
  for (let n = 0; n < count; n++) {
    const size = nodes[n * NF + nSize]!;
    totalSelfBytes += size;
    const key = `${label(n)} [${typeOf(n)}]`;
    const entry = byConstructor.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += size;
    byConstructor.set(key, entry);
    if (typeOf(n) === "native" && nameOf(n) === "system / JSArrayBufferData") stores.push(n);
  }

  const bySize = new Map<string, { count: number; bytes: number }>();
  const byRetainers = new Map<string, { count: number; bytes: number }>();
  const byHolder = new Map<string, { count: number; bytes: number }>();
  let storeBytes = 0;
  for (const store of stores) {
    const size = nodes[store * NF + nSize]!;
    storeBytes += size;
    const sizeClass = size <= 1024 ? "≤ 1 KiB" : size <= 8 * 1024 ? "1–8 KiB" : size <= 64 * 1024 ? "8–64 KiB" : size <= 256 * 1024 ? "64–256 KiB" : "> 256 KiB";
    const s = bySize.get(sizeClass) ?? { count: 0, bytes: 0 };
    s.count++;
    s.bytes += size;
    bySize.set(sizeClass, s);
    // Up the first strong retainer that is not a root, `depth` steps.
    const chain: string[] = [];
    let holderAt = -1;
    const seen = new Set<number>([store]);
    for (let n = store, d = 0; d < depth; d++) {
      let next = -1;
      let via = -1;
      for (let r = retainerStart[n]!; r < retainerStart[n + 1]!; r++) {
        const e = retainerEdge[r]!;
        const from = retainerFrom[r]!;
        if (edgeTypes[edges[e + eType]!] === "weak" || typeOf(from) === "synthetic" || seen.has(from)) continue;
        if (next < 0 || distance[from]! < distance[next]!) {
          next = from;
          via = e;
        }
      }
      if (next < 0) break;
      seen.add(next);
      chain.push(`${label(next)}${edgeLabel(via)}`);
      if (holderAt < 0 && !GENERIC.test(label(next))) holderAt = chain.length;
      n = next;
    }
    for (const [map, key] of [
      [byRetainers, chain.join(" ← ")],
      [byHolder, (holderAt < 0 ? chain : chain.slice(0, holderAt)).join(" ← ")],
    ] as const) {
      const entry = map.get(key) ?? { count: 0, bytes: 0 };
      entry.count++;
      entry.bytes += size;
      map.set(key, entry);
    }
  }

  const sorted = <T extends { bytes: number }>(m: Map<string, T>) => [...m].sort((a, b) => b[1].bytes - a[1].bytes);
  return {
    nodes: count,
    totalSelfBytes,
    byConstructor: sorted(byConstructor)
      .slice(0, top)
      .map(([name, v]) => ({ name, ...v })),
    backingStores: { count: stores.length, bytes: storeBytes, bySize: sorted(bySize).map(([size, v]) => ({ size, ...v })) },
    byRetainers: sorted(byRetainers)
      .slice(0, top)
      .map(([chain, v]) => ({ chain, ...v })),
    byHolder: sorted(byHolder)
      .slice(0, top)
      .map(([chain, v]) => ({ chain, ...v })),
  };
}

/** The summary as markdown tables. */
export function heapSummaryMarkdown(summary: HeapSummary): string {
  const lines = [
    `${summary.nodes} nodes, ${mib(summary.totalSelfBytes)} MiB of self sizes (backing stores included), of which ArrayBuffer backing stores: ${summary.backingStores.count} buffers, ${mib(summary.backingStores.bytes)} MiB`,
    "",
    "| constructor [type] | count | self MiB |",
    "|---|---:|---:|",
    ...summary.byConstructor.map((c) => `| ${c.name.replaceAll("|", "\\|")} | ${c.count} | ${mib(c.bytes)} |`),
    "",
    "| backing store size | count | MiB |",
    "|---|---:|---:|",
    ...summary.backingStores.bySize.map((s) => `| ${s.size} | ${s.count} | ${mib(s.bytes)} |`),
    "",
    "| backing stores by holder (retainer chain up to the first non-generic object) | count | MiB |",
    "|---|---:|---:|",
    ...summary.byHolder.map((r) => `| ${r.chain.replaceAll("|", "\\|")} | ${r.count} | ${mib(r.bytes)} |`),
    "",
    "| backing stores held by (retainer nearest the GC roots, upward) | count | MiB |",
    "|---|---:|---:|",
    ...summary.byRetainers.map((r) => `| ${r.chain.replaceAll("|", "\\|")} | ${r.count} | ${mib(r.bytes)} |`),
  ];
  return lines.join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: memory-bench-heapsnapshot.ts FILE.heapsnapshot");
    process.exit(2);
  }
  console.log(heapSummaryMarkdown(summarizeHeapSnapshot(file)));
}
