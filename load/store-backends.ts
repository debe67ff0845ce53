/**
 * `npm run bench:store`: FerretDB's storage backends side by side (why the
 * embedded default is PostgreSQL, docs/ferretdb.md finding 7). For each
 * backend in BENCH_STORE_BACKENDS (postgresql,sqlite) and each collection
 * size in BENCH_STORE_SIZES (1000,10000), bulk-inserts subscription-sized
 * documents (about 600 bytes) into a fresh FerretDB, then times, one at a
 * time, BENCH_STORE_OPS (50) of each: `find` on an indexed field pair (the
 * shape of every hot-path filter), `findOne` by `_id`, and `insertOne`.
 * Reports the median and p99 in ms; writes load/results/store.json and
 * store.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Collection, MongoClient } from 'mongodb';
import { type FerretDbBackend, REPO_ROOT, startFerretDb } from '../scripts/lib/local-services.js';
import { percentiles, type Result, writeResults } from './lib/results.js';

const list = (text: string) => text.split(',').filter(Boolean);
const backends = list(process.env.BENCH_STORE_BACKENDS ?? 'postgresql,sqlite').map(
  (name): FerretDbBackend => {
    if (name === 'postgresql' || name === 'sqlite') return name;
    throw new Error(`BENCH_STORE_BACKENDS: unknown backend ${name}`);
  },
);
const sizes = list(process.env.BENCH_STORE_SIZES ?? '1000,10000').map(Number);
const ops = Number(process.env.BENCH_STORE_OPS ?? 50);
const resultsDir = process.env.BENCH_RESULTS_DIR ?? path.join(REPO_ROOT, 'load/results');

interface BenchDoc {
  _id: string;
  project_id: string;
  customer: string;
  status: string;
  payload: string;
}

const doc = (n: number): BenchDoc => ({
  _id: `doc_${n}`,
  project_id: 'proj_bench',
  customer: `cus_${n}`,
  status: n % 2 === 0 ? 'active' : 'past_due',
  payload: 'x'.repeat(520),
});

/** Grows the collection to `size` documents, 1,000 per insertMany. */
async function fill(collection: Collection<BenchDoc>, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 1000) {
    const end = Math.min(to, start + 1000);
    await collection.insertMany(Array.from({ length: end - start }, (_, i) => doc(start + i)));
  }
}

async function timed(
  name: string,
  backend: FerretDbBackend,
  size: number,
  op: (i: number) => Promise<unknown>,
): Promise<Result> {
  const durations: number[] = [];
  for (let i = 0; i < ops; i += 1) {
    const started = performance.now();
    await op(i);
    durations.push(performance.now() - started);
  }
  const { p50, p95, p99 } = percentiles(durations);
  const total = durations.reduce((sum, d) => sum + d, 0);
  const result: Result = {
    scenario: `${backend}-${name}-${size}`,
    description: `${name} on ${backend}, ${size} documents, one at a time`,
    concurrency: 1,
    requests: ops,
    rps: Math.round((ops * 1000) / total),
    p50Ms: p50,
    p95Ms: p95,
    p99Ms: p99,
    errors: 0,
  };
  process.stderr.write(`[bench:store] ${result.scenario}: p50 ${p50} ms p99 ${p99} ms\n`);
  return result;
}

async function measureBackend(backend: FerretDbBackend, work: string): Promise<Result[]> {
  const ferret = await startFerretDb({ dataDir: path.join(work, backend), backend });
  const client = new MongoClient(ferret.url);
  const results: Result[] = [];
  try {
    const collection = client.db('bench_store').collection<BenchDoc>('docs');
    await collection.createIndex({ project_id: 1, customer: 1 }, { name: 'project_customer' });
    let stored = 0;
    let inserted = 0;
    for (const size of sizes) {
      await fill(collection, stored, size);
      stored = size;
      const pick = (i: number) => (i * 7919) % size;
      results.push(
        await timed('find-indexed', backend, size, (i) =>
          collection.find({ project_id: 'proj_bench', customer: `cus_${pick(i)}` }).toArray(),
        ),
        await timed('findOne-id', backend, size, (i) =>
          collection.findOne({ _id: `doc_${pick(i)}` }),
        ),
        await timed('insertOne', backend, size, () => {
          inserted += 1;
          return collection.insertOne({ ...doc(0), _id: `extra_${inserted}`, customer: 'extra' });
        }),
      );
    }
  } finally {
    await client.close();
    await ferret.removeData();
  }
  return results;
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'bench-store-'));
  const results: Result[] = [];
  try {
    for (const backend of backends) results.push(...(await measureBackend(backend, work)));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const table = await writeResults(resultsDir, 'store', results, [
    `FerretDB v1.24.2 backends ${backends.join(', ')}; ${ops} operations each, one at a time`,
    'documents of about 600 bytes; find-indexed: equality on an indexed (project_id, customer) pair',
    `load average at the end: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  ]);
  process.stdout.write(`${table}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
  process.exit(1);
});
