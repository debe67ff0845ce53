/**
 * What grew between two heap snapshots of the service, per unit (cached
 * customer or open stream): `tsx load/heap-diff.ts BEFORE AFTER UNITS [TOP]`.
 * Objects are grouped by V8's node type and name; plain objects by their
 * first property names, so an entitlement and a source tell apart. Used
 * with bench:memory's BENCH_HEAP_SNAPSHOT_DIR (docs/benchmarks.md).
 */
import { readFile } from 'node:fs/promises';

interface Snapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: string[];
      readonly node_types: [string[], ...unknown[]];
      readonly edge_fields: string[];
      readonly edge_types: [string[], ...unknown[]];
    };
  };
  readonly nodes: number[];
  readonly edges: number[];
  readonly strings: string[];
}

interface Group {
  count: number;
  bytes: number;
}

/** Self size and count per group. */
async function groups(file: string): Promise<Map<string, Group>> {
  const heap = JSON.parse(await readFile(file, 'utf8')) as Snapshot;
  const meta = heap.snapshot.meta;
  const nodeWidth = meta.node_fields.length;
  const edgeWidth = meta.edge_fields.length;
  const at = (fields: string[], name: string) => fields.indexOf(name);
  const [typeAt, nameAt, sizeAt, edgesAt] = ['type', 'name', 'self_size', 'edge_count'].map((f) =>
    at(meta.node_fields, f),
  );
  const [edgeTypeAt, edgeNameAt] = ['type', 'name_or_index'].map((f) => at(meta.edge_fields, f));
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const keys: string[] = [];
  const sizes: number[] = [];
  let edge = 0;
  for (let node = 0; node < heap.nodes.length; node += nodeWidth) {
    const field = (i: number | undefined) => heap.nodes[node + (i ?? 0)] ?? 0;
    const type = nodeTypes[field(typeAt)] ?? '?';
    let name =
      type === 'string' || type === 'concatenated string'
        ? ''
        : (heap.strings[field(nameAt)] ?? '?');
    const edgeCount = field(edgesAt);
    if (type === 'object' && name === 'Object') {
      const props: string[] = [];
      for (let e = 0; e < edgeCount && props.length < 4; e++) {
        const base = (edge + e) * edgeWidth;
        if (edgeTypes[heap.edges[base + (edgeTypeAt ?? 0)] ?? 0] !== 'property') continue;
        props.push(heap.strings[heap.edges[base + (edgeNameAt ?? 0)] ?? 0] ?? '?');
      }
      name = `{${props.join(',')}}`;
    }
    if (name.length > 60) name = `${name.slice(0, 57)}...`;
    keys.push(`${type}:${name}`);
    sizes.push(field(sizeAt));
    edge += edgeCount;
  }
  nameStoresByOwner(heap, keys, nodeWidth, edgeWidth, at(meta.edge_fields, 'to_node'), edgesAt);
  const result = new Map<string, Group>();
  keys.forEach((key, i) => {
    const group = result.get(key) ?? { count: 0, bytes: 0 };
    group.count += 1;
    group.bytes += sizes[i] ?? 0;
    result.set(key, group);
  });
  return result;
}

/**
 * Property stores, element stores and other unnamed arrays say nothing by
 * themselves: name each by the first object that points to it.
 */
function nameStoresByOwner(
  heap: Snapshot,
  keys: string[],
  nodeWidth: number,
  edgeWidth: number,
  toNodeAt: number,
  edgesAt: number | undefined,
): void {
  const unnamed = (key: string) =>
    key.startsWith('array:') || key === 'hidden:system / PropertyArray';
  const named = new Set<number>();
  let edge = 0;
  for (let node = 0; node < heap.nodes.length; node += nodeWidth) {
    const owner = keys[node / nodeWidth] ?? '?';
    const edgeCount = heap.nodes[node + (edgesAt ?? 0)] ?? 0;
    if (!unnamed(owner)) {
      for (let e = 0; e < edgeCount; e++) {
        const target = (heap.edges[(edge + e) * edgeWidth + toNodeAt] ?? 0) / nodeWidth;
        const key = keys[target];
        if (key === undefined || !unnamed(key) || named.has(target)) continue;
        named.add(target);
        keys[target] = `${key} of ${owner}`;
      }
    }
    edge += edgeCount;
  }
}

async function main(): Promise<void> {
  const [beforeFile, afterFile, unitsArg, topArg] = process.argv.slice(2);
  if (!beforeFile || !afterFile || !unitsArg) {
    throw new Error('usage: tsx load/heap-diff.ts BEFORE AFTER UNITS [TOP]');
  }
  const units = Number(unitsArg);
  const before = await groups(beforeFile);
  const after = await groups(afterFile);
  const rows = [...after].map(([key, group]) => {
    const old = before.get(key) ?? { count: 0, bytes: 0 };
    return { key, count: group.count - old.count, bytes: group.bytes - old.bytes };
  });
  rows.sort((a, b) => b.bytes - a.bytes);
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  const lines = [
    `| what | objects per unit | bytes per unit |`,
    '|---|---|---|',
    ...rows
      .slice(0, Number(topArg ?? 25))
      .map(
        (r) =>
          `| ${r.key.replaceAll('|', '\\|')} | ${(r.count / units).toFixed(2)} | ${(r.bytes / units).toFixed(0)} |`,
      ),
    `| all | | ${(total / units).toFixed(0)} |`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
