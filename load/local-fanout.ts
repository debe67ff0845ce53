/**
 * `npm run bench:local-fanout`: how long a Stripe webhook takes to reach
 * every local cache (issue 15: p99 under 50 ms with 10,000 cached
 * customers).
 *
 * FerretDB and Redis on loopback; two service processes sharing them: A
 * takes the webhooks, B serves the change feeds. BENCH_CACHES local
 * evaluators (clients/ts/local-evaluator.ts, default 4), each on its own
 * HTTP/2 connection to B, hold BENCH_CUSTOMERS customers each (default
 * 10,000: one linked to Stripe, the rest fetched once). Then signed
 * `customer.subscription.updated` events, each a new seat quantity, are
 * posted to A one after another; a latency is the time from sending the POST
 * until the last cache holds that quantity (each cache's onChange, then its
 * answer from memory). BENCH_WARMUP (20) changes are not counted;
 * BENCH_CHANGES (300) are. Writes load/results/local-fanout.json and .md.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { LocalEvaluator } from '../clients/ts/local-evaluator.js';
import { EntitlementsService } from '../gen/billing/v1/entitlements_pb.js';
import { REPO_ROOT } from '../scripts/lib/local-services.js';
import { startBenchDatabases } from './lib/bench-databases.js';
import type { SeededProject } from './lib/bench-project.js';
import { type Summary, summarize } from './lib/latency-summary.js';
import { type SeatCustomer, seatChanges, seedSeatProject } from './lib/seat-customer.js';
import { type ServerProcess, spawnService } from './lib/server-process.js';

const caches = Number(process.env.BENCH_CACHES ?? 4);
const customers = Number(process.env.BENCH_CUSTOMERS ?? 10_000);
const changes = Number(process.env.BENCH_CHANGES ?? 300);
const warmup = Number(process.env.BENCH_WARMUP ?? 20);
const fillConcurrency = 32;
const budgetMs = 50;
/** A change that has not reached every cache after this long fails the run. */
const changeTimeoutMs = 10_000;

const seatCustomer: SeatCustomer = {
  customerId: 'fanout-bench-user',
  stripeCustomerId: 'cus_fanoutbench01',
  subscriptionId: 'sub_fanoutbench01',
  webhookSecret: 'whsec_local_fanout_benchmark_secret',
};
const { customerId } = seatCustomer;

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'bench-fanout-'));
  const databases = await startBenchDatabases(work);
  const env = {
    MONGODB_URL: databases.mongoUrl,
    MONGODB_DATABASE: 'fanout_bench',
    REDIS_URL: databases.redisUrl,
    MASTER_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    STRIPE_API_URL: 'http://127.0.0.1:9',
    RECONCILIATION_CRON: 'off',
    // Held for the whole run: the fill must not expire before the changes start.
    ENTITLEMENT_MEMORY_TTL_MS: '3600000',
  };
  const servers: ServerProcess[] = [];
  const evaluators: { evaluator: LocalEvaluator; sessions: Http2SessionManager }[] = [];
  try {
    const seeded = await seedSeatProject(env, 'local fanout bench', seatCustomer);
    const a = await spawnService(env);
    servers.push(a);
    const b = await spawnService(env);
    servers.push(b);
    for (let n = 0; n < caches; n += 1) evaluators.push(await filledCache(seeded, b.port, n));
    const latency = await measure(
      seeded,
      a.port,
      evaluators.map((e) => e.evaluator),
    );
    await writeResults(latency);
  } finally {
    for (const { evaluator, sessions } of evaluators) {
      evaluator.close();
      sessions.abort();
    }
    await Promise.all(servers.map((server) => server.stop()));
    await databases.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** An evaluator on its own connection to B, holding `customers` customers. */
async function filledCache(seeded: SeededProject, port: number, n: number) {
  const baseUrl = `http://127.0.0.1:${port}`;
  const sessions = new Http2SessionManager(baseUrl);
  const bearer = `Bearer ${seeded.apiKey}`;
  const entitlements = createClient(
    EntitlementsService,
    createGrpcTransport({
      baseUrl,
      sessionManager: sessions,
      interceptors: [
        (next) => (request) => {
          request.header.set('authorization', bearer);
          return next(request);
        },
      ],
    }),
  );
  const evaluator = new LocalEvaluator({ entitlements, maxCustomers: customers });
  await evaluator.whenReady();
  const ids = [customerId, ...Array.from({ length: customers - 1 }, (_, i) => `fanout-${i}`)];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next] ?? '';
      next += 1;
      await evaluator.check(id, 'seats');
    }
  };
  await Promise.all(Array.from({ length: fillConcurrency }, worker));
  if (evaluator.size !== customers) throw new Error(`cache ${n} holds ${evaluator.size}`);
  process.stderr.write(`[bench:local-fanout] cache ${n + 1} of ${caches} holds ${customers}\n`);
  return { evaluator, sessions };
}

async function measure(
  seeded: SeededProject,
  portA: number,
  evaluators: readonly LocalEvaluator[],
): Promise<Summary> {
  const webhookUrl = `http://127.0.0.1:${portA}/webhooks/stripe/${seeded.projectId}`;
  const signedChange = seatChanges(seatCustomer, warmup + changes);
  const latencies: number[] = [];
  for (let i = 0; i < warmup + changes; i += 1) {
    const quantity = 2 + (i % 500);
    const arrived = Promise.all(evaluators.map((e) => holds(e, BigInt(quantity))));
    const signed = signedChange(i, quantity);
    const sent = performance.now();
    const response = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': signed.header },
      body: signed.body,
    });
    if (response.status !== 200) throw new Error(`webhook ${i}: ${response.status}`);
    const last = Math.max(...(await arrived));
    if (i >= warmup) latencies.push(last - sent);
  }
  return summarize(latencies);
}

/** When `evaluator` holds `seats` = `limit` for the customer (performance.now()). */
function holds(evaluator: LocalEvaluator, limit: bigint): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no change to ${limit} seats within ${changeTimeoutMs} ms`));
    }, changeTimeoutMs);
    const stop = evaluator.onChange((changed) => {
      if (changed !== customerId) return;
      const at = performance.now();
      void evaluator.check(customerId, 'seats').then((answer) => {
        if (answer.entitlement?.limit !== limit) return;
        clearTimeout(timer);
        stop();
        resolve(at);
      }, reject);
    });
  });
}

async function writeResults(latency: Summary): Promise<void> {
  const measuredAt = new Date().toISOString();
  const report = {
    measuredAt,
    machine: { cpus: os.cpus().length, node: process.version },
    caches,
    customersPerCache: customers,
    warmup,
    budgetMs: { p99: budgetMs },
    withinBudget: latency.p99 < budgetMs,
    webhookToEveryCacheMs: latency,
  };
  const dir = path.join(REPO_ROOT, 'load/results');
  await writeFile(path.join(dir, 'local-fanout.json'), `${JSON.stringify(report, null, 2)}\n`);
  const markdown = [
    `Measured ${measuredAt} on ${report.machine.cpus} cores (${report.machine.node}).`,
    '- two service processes sharing FerretDB and Redis on loopback: A takes webhooks, B serves change feeds',
    `- ${caches} local evaluators (TypeScript client), each on its own connection to B, holding ${customers} customers each`,
    '- webhook → every cache: from sending a `customer.subscription.updated` POST to A until the last cache answers the new seat count from memory',
    `- ${warmup} warm-up changes not counted; budget: p99 under ${budgetMs} ms (${report.withinBudget ? 'met' : 'NOT met'})`,
    '',
    '| measure | count | p50 ms | p95 ms | p99 ms | max ms | mean ms |',
    '|---|---|---|---|---|---|---|',
    `| webhook → every cache | ${latency.count} | ${latency.p50} | ${latency.p95} | ${latency.p99} | ${latency.max} | ${latency.mean} |`,
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'local-fanout.md'), markdown);
  process.stderr.write(`${markdown}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `bench:local-fanout failed: ${err instanceof Error ? err.stack : String(err)}\n`,
    );
    process.exit(1);
  },
);
