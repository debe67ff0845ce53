/**
 * `npm run bench:memory`: what cached customers and open streams cost the
 * service in memory (issue 14, item 6). Writes load/results/memory.json and
 * memory.md.
 *
 * BENCH_CUSTOMERS customers (default 20,000), each with an active
 * subscription to a plan of five features (a limit and a metered one among
 * them), are written straight into MongoDB; the service (its own process)
 * is asked once for each, so each ends up in its in-process cache; then
 * BENCH_STREAMS WatchEntitlements streams (default 10,000, over 8 HTTP/2
 * connections) are opened, one per cached customer, so what they add is
 * the streams' own cost. The service's own
 * `process_resident_memory_bytes` and `nodejs_heap_size_used_bytes`
 * (/metrics) are read before and after each step; per customer is the
 * growth over the customers. The TTL of the in-process cache is raised to
 * an hour so that nothing expires while it fills.
 *
 * The service runs with a benchmark-only probe (load/lib/memory-probe.ts,
 * `--expose-gc`): at each step it is made to collect all garbage and report
 * process.memoryUsage(), so every figure is given twice, as /metrics shows
 * it and after a forced collection. The budget is judged by RSS per
 * customer after the collection (the issue's figure is RSS; without the
 * collection it depends on when V8 last collected). BENCH_HEAP_SNAPSHOT_DIR
 * also writes a heap snapshot at each step (for load/heap-diff.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Client, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { EntitlementsService } from '../gen/billing/v1/entitlements_pb.js';
import { REPO_ROOT } from '../scripts/lib/local-services.js';
import { connectMongo } from '../src/store/mongo.js';
import { makeSubscription } from '../test/helpers/stripe-objects.js';
import { startBenchDatabases } from './lib/bench-databases.js';
import { seedProject } from './lib/bench-project.js';
import { type MemoryReading, writeMemoryResults } from './lib/memory-results.js';
import { type SeededCustomers, seedSubscribedCustomers } from './lib/seed-customers.js';
import { spawnService } from './lib/server-process.js';

const customers = Number(process.env.BENCH_CUSTOMERS ?? 20_000);
const streams = Number(process.env.BENCH_STREAMS ?? 10_000);
const concurrency = 32;
/** Streams opened together; the next wave starts once every snapshot of this one arrived. */
const streamWave = 500;
const priceId = 'price_mem_pro';
const tenDaysAgo = Math.floor(Date.now() / 1000) - 10 * 86_400;

/** Customer n: `mem-customer-n`, three seats of the plan, ten days into its month. */
const memoryCustomers: SeededCustomers = {
  customerId: (n) => customerName(n),
  subscription: (n) =>
    makeSubscription({
      id: `sub_mem_${n}`,
      customer: `cus_mem_${n}`,
      created: tenDaysAgo,
      items: [
        {
          id: `si_mem_${n}`,
          price: priceId,
          product: 'prod_mem_pro',
          quantity: 3,
          current_period_start: tenDaysAgo,
        },
      ],
    }),
  eventCreated: tenDaysAgo,
};

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'bench-memory-'));
  const databases = await startBenchDatabases(work);
  const env = {
    MONGODB_URL: databases.mongoUrl,
    MONGODB_DATABASE: `bench_memory_${Date.now()}`,
    REDIS_URL: databases.redisUrl,
    MASTER_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    ENTITLEMENT_MEMORY_TTL_MS: '3600000',
  };
  const seeded = await seedProject(env, {
    name: 'bench-memory',
    stripeSecretKey: 'sk_test_bench_memory',
    webhookSigningSecret: 'whsec_bench_memory_0123456789',
    catalog: [{ stripe_id: priceId, features: planFeatures }],
    grants: [],
  });
  const mongo = await connectMongo(env.MONGODB_URL, env.MONGODB_DATABASE);
  try {
    await seedSubscribedCustomers(mongo.db, seeded.projectId, memoryCustomers, 0, customers);
  } finally {
    await mongo.close();
  }
  log(`seeded ${customers} customers`);
  const service = await spawnService(
    { ...env, BENCH_HEAP_SNAPSHOT_DIR: process.env.BENCH_HEAP_SNAPSHOT_DIR ?? '' },
    ['--expose-gc', '--import', './load/lib/memory-probe.ts'],
  );
  const probe = memoryProbe(service.child);
  const baseUrl = `http://127.0.0.1:${service.port}`;
  const clients = Array.from({ length: 8 }, () =>
    createClient(EntitlementsService, createGrpcTransport({ baseUrl })),
  );
  const headers = { authorization: `Bearer ${seeded.apiKey}` };
  const abort = new AbortController();
  // Every stream listens on the one signal.
  setMaxListeners(0, abort.signal);
  try {
    // JIT, pools, the project cache and V8's young generation grow to their
    // working size on the first tenth: fixed costs, not per customer.
    const warm = Math.max(100, Math.round(customers / 10));
    const half = Math.round((warm + customers) / 2);
    await checkAll(clients, headers, 0, warm);
    const before = await memoryOf(baseUrl, probe);
    log(`before: ${JSON.stringify(before)}; checking ${customers - warm} customers`);
    await checkAll(clients, headers, warm, half);
    const halfCached = await memoryOf(baseUrl, probe);
    await checkAll(clients, headers, half, customers);
    const cached = await memoryOf(baseUrl, probe);
    log(`cached: ${JSON.stringify(cached)}; opening ${streams} streams`);
    const streamCount = Math.min(streams, customers - warm);
    await openStreams(clients, headers, warm, streamCount, abort.signal);
    const streaming = await memoryOf(baseUrl, probe);
    const table = await writeMemoryResults(path.join(REPO_ROOT, 'load/results'), {
      customers: customers - warm,
      secondHalfCustomers: customers - half,
      streams: streamCount,
      before,
      halfCached,
      cached,
      streaming,
    });
    process.stdout.write(`${table}\n`);
  } finally {
    abort.abort();
    await service.stop();
    await databases.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Five features: two on/off, a limit, a per-seat limit, a metered allowance. */
const planFeatures = [
  { feature: 'reports', limit: null, limit_per_unit: false },
  { feature: 'exports', limit: null, limit_per_unit: false },
  { feature: 'projects', limit: 10, limit_per_unit: false, kind: 'limit' as const },
  { feature: 'seats', limit: 1, limit_per_unit: true, kind: 'limit' as const },
  {
    feature: 'api_requests',
    limit: null,
    limit_per_unit: false,
    kind: 'metered' as const,
    metered: {
      allowance: 10_000,
      allowance_per_unit: false,
      reset: 'billing_period' as const,
      overage: 'block' as const,
      stripe_meter_event_name: null,
    },
  },
];

type Entitlements = Client<typeof EntitlementsService>;

/** CheckEntitlement once for customers [from, to), `concurrency` at a time. */
async function checkAll(
  clients: Entitlements[],
  headers: Record<string, string>,
  from: number,
  to: number,
): Promise<void> {
  let next = from;
  const worker = async (lane: number) => {
    const client = clients[lane % clients.length];
    if (!client) return;
    for (let n = next++; n < to; n = next++) {
      const answer = await client.checkEntitlement(
        { customerId: customerName(n), feature: 'reports' },
        { headers },
      );
      if (!answer.entitlement?.allowed)
        throw new Error(`${customerName(n)} has no reports: seeding failed`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, lane) => worker(lane)));
}

/** Opens one stream per customer [from, from + count), in waves, and waits for every snapshot. */
async function openStreams(
  clients: Entitlements[],
  headers: Record<string, string>,
  from: number,
  count: number,
  signal: AbortSignal,
): Promise<void> {
  for (let wave = 0; wave < count; wave += streamWave) {
    const size = Math.min(streamWave, count - wave);
    await Promise.all(
      Array.from({ length: size }, (_, i) => openStream(clients, headers, from + wave + i, signal)),
    );
  }
}

/** Resolves at the stream's snapshot; the stream stays open until `signal` aborts. */
function openStream(
  clients: Entitlements[],
  headers: Record<string, string>,
  n: number,
  signal: AbortSignal,
): Promise<void> {
  const client = clients[n % clients.length];
  if (!client) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    void (async () => {
      try {
        for await (const _ of client.watchEntitlements(
          { customerId: customerName(n) },
          { headers, signal },
        )) {
          resolve();
        }
      } catch (err) {
        if (!signal.aborted) reject(err);
      }
    })();
  });
}

const log = (line: string) => process.stderr.write(`[bench:memory] ${line}\n`);

const customerName = (n: number) => `mem-customer-${n}`;

/** /metrics as the service reports it, then the probe's figures after a forced collection. */
async function memoryOf(baseUrl: string, probe: () => Promise<ProbeLine>): Promise<MemoryReading> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const read = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    if (!line) throw new Error(`/metrics has no ${name}`);
    return Number(line.split(' ')[1]);
  };
  const collected = await probe();
  if (!collected.collected) throw new Error('the service runs without --expose-gc');
  if (collected.snapshot) {
    log(
      `heap snapshot: ${collected.snapshot} (later RSS figures include the snapshot's own memory)`,
    );
  }
  return {
    rssBytes: read('process_resident_memory_bytes'),
    heapUsedBytes: read('nodejs_heap_size_used_bytes'),
    afterGc: {
      rssBytes: collected.rss,
      heapUsedBytes: collected.heapUsed,
      externalBytes: collected.external,
      arrayBuffersBytes: collected.arrayBuffers,
    },
  };
}

interface ProbeLine {
  readonly collected: boolean;
  readonly snapshot: string | null;
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/** Signals the service's probe and resolves with the line it prints. */
function memoryProbe(child: ChildProcess): () => Promise<ProbeLine> {
  let pending = '';
  const waiting: Array<(line: ProbeLine) => void> = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.includes('"msg":"memory-probe"')) continue;
      waiting.shift()?.(JSON.parse(line) as ProbeLine);
    }
  });
  return () =>
    new Promise<ProbeLine>((resolve) => {
      waiting.push(resolve);
      child.kill('SIGUSR2');
    });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
