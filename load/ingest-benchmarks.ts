/**
 * `npm run bench:ingest`: webhook ingestion as the data grows (issue 14,
 * item 3). Seeds BENCH_INGEST_SIZES (1000,100000) subscriptions, with their
 * customers, by bulk inserts of the documents the service writes; after
 * each size, signed `customer.subscription.updated` events for seeded
 * subscriptions are posted by BENCH_INGEST_SENDERS (16) senders through the
 * real shim of the service (its own process) for BENCH_SECONDS (10) after a
 * BENCH_WARMUP_SECONDS (2) warm-up. Reports events/s at each size and the
 * ratio to the smallest; writes load/results/ingest.json and ingest.md.
 *
 * FerretDB (on the backend FERRETDB_BACKEND names, PostgreSQL by default)
 * and Redis are started on loopback unless MONGODB_URL and REDIS_URL name
 * servers to use; Stripe is the local sandbox (no call is needed: every
 * customer is recorded as the project's).
 */
import path from 'node:path';
import { REPO_ROOT } from '../scripts/lib/local-services.js';
import { makeEvent, makeSubscription } from '../test/helpers/stripe-objects.js';
import { seedProject } from './lib/bench-project.js';
import type { Budget, Result } from './lib/results.js';
import { type SeededCustomers, seedSubscribedCustomers } from './lib/seed-customers.js';
import { spawnService } from './lib/server-process.js';
import { withSizeRunWorld, writeSizeResults } from './lib/size-runs.js';
import { webhookLoad } from './lib/webhook-load.js';

const numbers = (text: string) => text.split(',').map(Number);
const sizes = numbers(process.env.BENCH_INGEST_SIZES ?? '1000,100000');
const senders = Number(process.env.BENCH_INGEST_SENDERS ?? 16);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const resultsDir = process.env.BENCH_RESULTS_DIR ?? path.join(REPO_ROOT, 'load/results');
const webhookSecret = 'whsec_ingest_benchmark_0123456789';
/** Seeded versions are a day old, so every event of the run is newer and replaces one. */
const seededEventCreated = Math.floor(Date.now() / 1000) - 86_400;

const scenarioName = (size: number) => `ingest-${size}-subscriptions`;

const budgets = (smallest: number, largest: number): Budget[] => [
  {
    budget: `ingestion at ${largest} subscriptions >= 0.8 x at ${smallest}`,
    scenario: scenarioName(largest),
    minimum: 0.8,
  },
];

/**
 * The n-th seeded subscription, of the n-th customer, on the catalog's
 * price; always the same object, so two events of one second agree and the
 * service has no reason to ask Stripe (the sandbox does not hold these).
 */
function benchSubscription(n: number) {
  return makeSubscription({
    id: `sub_ingest_${n}`,
    customer: `cus_ingest_${n}`,
    created: seededEventCreated,
    items: [{ id: `si_ingest_${n}`, price: 'price_basic', product: 'prod_basic' }],
  });
}

/** The n-th seeded customer `user-n`, with `benchSubscription(n)`. */
const ingestCustomers: SeededCustomers = {
  customerId: (n) => `user-${n}`,
  subscription: benchSubscription,
  eventCreated: seededEventCreated,
};

function ingestion(url: string, size: number, run: string, runSeconds: number) {
  return webhookLoad({
    url,
    secret: webhookSecret,
    concurrency: senders,
    seconds: runSeconds,
    event: (n) => {
      const k = Math.floor(Math.random() * size);
      return makeEvent({
        id: `evt_ingest_${run}_${size}_${n}`,
        type: 'customer.subscription.updated',
        created: Math.floor(Date.now() / 1000),
        object: benchSubscription(k),
      });
    },
  });
}

async function main(): Promise<void> {
  const results: Result[] = [];
  await withSizeRunWorld('ingest', {}, async ({ env, fake, db }) => {
    const seeded = await seedProject(env, {
      name: 'bench-ingest',
      stripeSecretKey: fake.defaultApiKey,
      webhookSigningSecret: webhookSecret,
      catalog: [
        {
          stripe_id: 'price_basic',
          features: [{ feature: 'reports', limit: null, limit_per_unit: false }],
        },
      ],
      grants: [],
    });
    const service = await spawnService(env);
    const url = `http://127.0.0.1:${service.port}/webhooks/stripe/${seeded.projectId}`;
    try {
      let stored = 0;
      for (const size of sizes) {
        const started = Date.now();
        await seedSubscribedCustomers(db, seeded.projectId, ingestCustomers, stored, size);
        process.stderr.write(
          `[bench:ingest] seeded ${size - stored} subscriptions in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
        );
        stored = size;
        if (warmupSeconds > 0) await ingestion(url, size, 'warmup', warmupSeconds);
        const result = await ingestion(url, size, 'run', seconds);
        const row = {
          ...result,
          scenario: scenarioName(size),
          description: `customer.subscription.updated through the shim, ${size} subscriptions stored`,
        };
        results.push(row);
        process.stderr.write(
          `[bench:ingest] ${row.scenario}: ${row.rps} events/s p99 ${row.p99Ms} ms errors ${row.errors}\n`,
        );
      }
    } finally {
      await service.stop();
    }
  });
  const table = await writeSizeResults({
    resultsDir,
    name: 'ingest',
    sizes,
    scenarioName,
    results,
    notes: [`${senders} senders; ${seconds} s per size after a ${warmupSeconds} s warm-up`],
    rate: 'events/s',
    budgets,
  });
  process.stdout.write(`${table}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
  process.exit(1);
});
