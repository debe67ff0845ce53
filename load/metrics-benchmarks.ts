/**
 * `npm run bench:metrics`: GetProjectMetrics as the project grows (issue 14,
 * item 5: the same cost at 100,000 subscriptions as at 1,000, ratio <= 1.5).
 * Seeds BENCH_METRICS_SIZES (1000,100000) subscriptions by bulk inserts
 * (load/lib/seed-customers.ts, subscriptions only: nothing here reads the
 * customer links), a mix of statuses, currencies and intervals; at each
 * size a fresh service process
 * (bulk inserts send no change message, so a running one would not know
 * them) answers its first call, which builds the project's figures with
 * one paged scan (reported as `first call`), then BENCH_METRICS_CALLERS (4)
 * callers ask GetProjectMetrics over gRPC for BENCH_SECONDS (6) after a
 * BENCH_WARMUP_SECONDS (2) warm-up. Every answer is checked against the
 * seeded figures. Reports calls/s at each size and the ratio to the
 * smallest; writes load/results/metrics.json and metrics.md.
 *
 * FerretDB (on the backend FERRETDB_BACKEND names, PostgreSQL by default)
 * and Redis are started on loopback unless MONGODB_URL and REDIS_URL name
 * servers to use; Stripe is the local sandbox (no call is made).
 */
import path from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { MetricsService } from '../gen/billing/v1/metrics_pb.js';
import { REPO_ROOT } from '../scripts/lib/local-services.js';
import { makeSubscription } from '../test/helpers/stripe-objects.js';
import { seedProject } from './lib/bench-project.js';
import { closedLoop, closedLoopResult } from './lib/closed-loop.js';
import type { Budget, Result } from './lib/results.js';
import { type SeededCustomers, seedSubscribedCustomers } from './lib/seed-customers.js';
import { spawnService } from './lib/server-process.js';
import { withSizeRunWorld, writeSizeResults } from './lib/size-runs.js';

const numbers = (text: string) => text.split(',').map(Number);
const sizes = numbers(process.env.BENCH_METRICS_SIZES ?? '1000,100000');
const callers = Number(process.env.BENCH_METRICS_CALLERS ?? 4);
const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const resultsDir = process.env.BENCH_RESULTS_DIR ?? path.join(REPO_ROOT, 'load/results');
const seededEventCreated = Math.floor(Date.now() / 1000) - 86_400;
/** Spread over the last 400 days, so the default 30-day window counts some of them. */
const createdOf = (n: number) => seededEventCreated - (n % 400) * 86_400;

const scenarioName = (size: number) => `metrics-${size}-subscriptions`;

const budgets = (smallest: number, largest: number): Budget[] => [
  {
    // Cost at most 1.5 x: calls/s at least 1 / 1.5 of the smallest size's.
    budget: `GetProjectMetrics at ${largest} subscriptions costs <= 1.5 x at ${smallest} (rps ratio >= 0.67)`,
    scenario: scenarioName(largest),
    minimum: 0.67,
  },
];

/** Every 10th subscription trialing, every 10th (offset 5) past_due, the rest active. */
const statusOf = (n: number) => (n % 10 === 0 ? 'trialing' : n % 10 === 5 ? 'past_due' : 'active');

function benchSubscription(n: number) {
  return makeSubscription({
    id: `sub_metrics_${n}`,
    customer: `cus_metrics_${n}`,
    status: statusOf(n),
    currency: n % 3 === 0 ? 'eur' : 'usd',
    created: createdOf(n),
    items: [
      {
        id: `si_metrics_${n}`,
        price: n % 2 === 0 ? 'price_monthly' : 'price_yearly',
        product: 'prod_basic',
        unit_amount: 1000 + (n % 7) * 100,
        interval: n % 2 === 0 ? 'month' : 'year',
      },
    ],
  });
}

const metricsCustomers: SeededCustomers = {
  customerId: (n) => `user-${n}`,
  subscription: benchSubscription,
  eventCreated: seededEventCreated,
};

/** What the service must answer for `size` seeded subscriptions. */
function expectedActive(size: number): number {
  let active = 0;
  for (let n = 0; n < size; n += 1) if (statusOf(n) === 'active') active += 1;
  return active;
}

async function measure(
  env: Record<string, string>,
  apiKey: string,
  size: number,
): Promise<{ row: Result; firstCallMs: number }> {
  const service = await spawnService(env);
  try {
    const client = createClient(
      MetricsService,
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }),
    );
    const auth = { headers: { authorization: `Bearer ${apiKey}` } };
    const active = BigInt(expectedActive(size));
    const ask = async (): Promise<string | undefined> => {
      const answer = await client.getProjectMetrics({}, auth);
      const got = answer.subscriptionsByStatus.find((s) => s.status === 'active')?.count;
      return got === active ? undefined : `wrong figures (${got} active, ${active} seeded)`;
    };
    const started = performance.now();
    const first = await ask();
    const firstCallMs = Math.round(performance.now() - started);
    if (first !== undefined) throw new Error(first);
    if (warmupSeconds > 0)
      await closedLoop({ concurrency: callers, seconds: warmupSeconds, call: ask });
    const figures = await closedLoop({ concurrency: callers, seconds, call: ask });
    const row = closedLoopResult(
      {
        name: scenarioName(size),
        description: `GetProjectMetrics over gRPC, ${size} subscriptions stored (first call ${firstCallMs} ms)`,
      },
      figures,
    );
    return { row, firstCallMs };
  } finally {
    await service.stop();
  }
}

async function main(): Promise<void> {
  const results: Result[] = [];
  const notes: string[] = [];
  await withSizeRunWorld(
    'metrics',
    { RECONCILIATION_CRON: 'off', RETENTION_CRON: 'off' },
    async ({ env, fake, db }) => {
      const seeded = await seedProject(env, {
        name: 'bench-metrics',
        stripeSecretKey: fake.defaultApiKey,
        webhookSigningSecret: 'whsec_metrics_benchmark_0123456789',
        catalog: [],
        grants: [],
      });
      let stored = 0;
      for (const size of sizes) {
        const started = Date.now();
        await seedSubscribedCustomers(db, seeded.projectId, metricsCustomers, stored, size, {
          subscriptionsOnly: true,
        });
        const seedSeconds = ((Date.now() - started) / 1000).toFixed(1);
        process.stderr.write(
          `[bench:metrics] seeded ${size - stored} subscriptions in ${seedSeconds} s\n`,
        );
        stored = size;
        const { row, firstCallMs } = await measure(env, seeded.apiKey, size);
        results.push(row);
        notes.push(`first call at ${size} subscriptions (builds the figures): ${firstCallMs} ms`);
        process.stderr.write(
          `[bench:metrics] ${row.scenario}: ${row.rps} calls/s p99 ${row.p99Ms} ms errors ${row.errors}, first call ${firstCallMs} ms\n`,
        );
      }
    },
  );
  const table = await writeSizeResults({
    resultsDir,
    name: 'metrics',
    sizes,
    scenarioName,
    results,
    notes: [
      `${callers} callers over gRPC; ${seconds} s per size after a ${warmupSeconds} s warm-up, a fresh service per size`,
      ...notes,
    ],
    rate: 'calls/s',
    budgets,
  });
  process.stdout.write(`${table}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
  process.exit(1);
});
