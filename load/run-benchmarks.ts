/**
 * `npm run bench`: the service under load on loopback, next to the ceiling
 * (an empty RPC on the same server stack). Writes load/results/results.json
 * and results.md: requests per second, p50, p95, p99 and the ratio to the
 * ceiling at the same concurrency.
 *
 * Every ratio is also taken against two reference servers started here
 * (load/lib/reference-servers.ts): the empty RPC on grpc-go and on
 * @grpc/grpc-js, interleaved in the same rounds (docs/benchmarks.md).
 *
 * Scenarios (`npm run bench -- check-warm list-warm` runs some; none: all;
 * the references and the ceiling always run):
 * ceiling-empty-rpc, ceiling-connect-empty-rpc (the ceiling with every call
 * through connect-node, the native gRPC path off), check-warm, check-cold, list-warm, checkout (against
 * the local Stripe fake), webhook-ingestion, watch-fanout, and
 * check-warm-rates (the empty RPC and a warm check at fixed offered rates,
 * BENCH_RATES, to see where p99 leaves its budget).
 *
 * The machine has 2 cores: the service gets one, the load generator (ghz,
 * held to one core with --cpus 1, or this process) the other.
 * BENCH_SECONDS (default 10), BENCH_CONCURRENCY (default 1,10,50) and
 * BENCH_ROUNDS (default 3) tune it.
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startSandbox } from '../sandbox/index.js';
import {
  ensureGoTool,
  ferretDbBackendFromEnv,
  REPO_ROOT,
  startFerretDb,
  startRedis,
} from '../scripts/lib/local-services.js';
import { nodeEntryArgs } from '../scripts/lib/node-entry.js';
import { projectMarkerKey } from '../src/domain/stripe-ownership.js';
import { makeEvent, makeSubscription } from '../test/helpers/stripe-objects.js';
import { seedProject } from './lib/bench-project.js';
import { type GhzScenario, ghzMeasure } from './lib/ghz.js';
import { referenceScenarioNames, startReferenceServers } from './lib/reference-servers.js';
import { addRatios, addReferenceRatios, type Result, writeResults } from './lib/results.js';
import { interleavedRounds } from './lib/rounds.js';
import { spawnServer, spawnService } from './lib/server-process.js';
import { watchFanout } from './lib/watch-fanout.js';
import { webhookLoad } from './lib/webhook-load.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const concurrencyLevels = (process.env.BENCH_CONCURRENCY ?? '1,10,50').split(',').map(Number);
/** Scenarios whose every call reads or writes FerretDB (the others are answered from memory). */
const loadsDatabase = new Set(['check-cold', 'checkout']);
/** Interleaved rounds of the in-memory ghz scenarios per concurrency; the median is reported. */
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
/** Fixed request rates (ghz --rps, 10 callers) for p99 against the offered load. */
const rateSteps = (process.env.BENCH_RATES ?? '500,1000,1500,2000,2500').split(',').map(Number);
const webhookSecret = 'whsec_benchmark_secret_0123456789';
/** Customers (and subscriptions) the webhook scenario spreads its events over. */
const benchCustomers = 500;

async function main(): Promise<void> {
  const wanted = new Set(process.argv.slice(2));
  const runs = (name: string) => wanted.size === 0 || wanted.has(name);
  const ghz = await ensureGoTool('ghz');
  const work = await mkdtemp(path.join(os.tmpdir(), 'bench-'));
  const ferret = await startFerretDb({ dataDir: path.join(work, 'ferretdb') });
  const redis = await startRedis();
  const fake = await startSandbox();
  const stripeKey = fake.defaultApiKey;
  fake.seedPrice(
    {
      id: 'price_pro_monthly',
      product: 'prod_pro',
      unit_amount: 2000,
      recurring: { interval: 'month' },
    },
    stripeKey,
  );
  const env = {
    MONGODB_URL: ferret.url,
    MONGODB_DATABASE: 'bench',
    REDIS_URL: redis.url,
    MASTER_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    STRIPE_API_URL: fake.url,
  };
  // A project with a Stripe key, a webhook secret, a catalog, a key and a customer with a feature.
  const seeded = await seedProject(env, {
    name: 'bench',
    stripeSecretKey: stripeKey,
    webhookSigningSecret: webhookSecret,
    catalog: [
      {
        stripe_id: 'price_pro_monthly',
        features: [{ feature: 'reports', limit: null, limit_per_unit: false }],
      },
    ],
    grants: [{ customerId: 'bench-user', feature: 'reports', limit: 10 }],
  });
  // The webhook scenario's customers are the project's, marked as the service marks
  // the customers it creates; the first event of each decides so once, then it is recorded.
  for (let n = 0; n < benchCustomers; n += 1) {
    fake.seedCustomer(
      { id: `cus_bench_${n}`, metadata: { [projectMarkerKey]: seeded.projectId } },
      stripeKey,
    );
  }
  const service = await spawnService(env);
  const ceiling = await spawnServer(nodeEntryArgs('load/ceiling-server.ts'), { PORT: '0' });
  const connectCeiling = await spawnServer(nodeEntryArgs('load/ceiling-server.ts'), {
    PORT: '0',
    CEILING_STACK: 'connect',
  });
  const references = await startReferenceServers();
  const results: Result[] = [];
  const report = (result: Result) => {
    results.push(result);
    process.stderr.write(
      `[bench] ${result.scenario} c=${result.concurrency}: ${result.rps}/s p99 ${result.p99Ms} ms\n`,
    );
  };
  try {
    const grpcScenarios: Array<GhzScenario & { readonly port: number }> = [
      ...references.scenarios,
      {
        name: 'ceiling-empty-rpc',
        description: 'empty RPC, same server stack (the ceiling)',
        call: 'grpc.health.v1.Health/Check',
        data: {},
        port: ceiling.port,
      },
      {
        name: 'ceiling-connect-empty-rpc',
        description: 'empty RPC, every call through connect-node (native gRPC path off)',
        call: 'grpc.health.v1.Health/Check',
        data: {},
        port: connectCeiling.port,
      },
      {
        name: 'check-warm',
        description: 'CheckEntitlement, one customer, cache warm (process memory)',
        call: 'billing.v1.EntitlementsService/CheckEntitlement',
        data: { customer_id: 'bench-user', feature: 'reports' },
        bearer: seeded.apiKey,
        port: service.port,
      },
      {
        name: 'check-cold',
        description: 'CheckEntitlement, a new customer every call (computed from MongoDB)',
        call: 'billing.v1.EntitlementsService/CheckEntitlement',
        data: { customer_id: 'cold-{{.RequestNumber}}-{{.TimestampUnixNano}}', feature: 'reports' },
        bearer: seeded.apiKey,
        port: service.port,
      },
      {
        name: 'list-warm',
        description: 'ListEntitlements, one customer, cache warm',
        call: 'billing.v1.EntitlementsService/ListEntitlements',
        data: { customer_id: 'bench-user' },
        bearer: seeded.apiKey,
        port: service.port,
      },
      {
        name: 'checkout',
        description:
          'CreateCheckoutSession against the local Stripe fake (customer created once per buyer)',
        call: 'billing.v1.CheckoutService/CreateCheckoutSession',
        data: {
          customer_id: 'buyer-{{.RequestNumber}}',
          mode: 'CHECKOUT_MODE_SUBSCRIPTION',
          line_items: [{ price_id: 'price_pro_monthly', quantity: '1' }],
          success_url: 'https://app.example/ok',
          cancel_url: 'https://app.example/cancel',
        },
        bearer: seeded.apiKey,
        port: service.port,
      },
    ];
    const always = new Set<string>(['ceiling-empty-rpc', ...referenceScenarioNames]);
    const chosen = grpcScenarios.filter((s) => always.has(s.name) || runs(s.name));
    // Scenarios served from process memory are compared with the ceiling:
    // rounds interleave them so both see the same machine, and the median
    // round is reported. Those that load FerretDB run after them, once, so
    // the work they leave queued there cannot slow a ceiling round.
    const fromMemory = chosen.filter((s) => !loadsDatabase.has(s.name));
    const loadingDatabase = chosen.filter((s) => loadsDatabase.has(s.name));
    const measure = (scenario: (typeof chosen)[number], concurrency: number) =>
      ghzMeasure(scenario, { ghz, port: scenario.port, concurrency, cpus: 1, seconds }, 2);
    for (const concurrency of concurrencyLevels) {
      for (const median of await interleavedRounds(fromMemory, concurrency, rounds, measure))
        report(median);
    }
    for (const scenario of loadingDatabase) {
      for (const concurrency of concurrencyLevels) report(await measure(scenario, concurrency));
    }
    if (runs('check-warm-rates')) {
      const check = grpcScenarios.find((s) => s.name === 'check-warm');
      const empty = grpcScenarios.find((s) => s.name === 'ceiling-empty-rpc');
      for (const scenario of [empty, check]) {
        if (!scenario) continue;
        for (const rate of rateSteps) {
          const options = {
            ghz,
            port: scenario.port,
            concurrency: 10,
            cpus: 1,
            rps: rate,
            seconds,
          };
          const result = await ghzMeasure(scenario, options, 2);
          report({ ...result, scenario: `${scenario.name}@${rate}/s`, offeredRps: rate });
        }
      }
    }
    if (runs('webhook-ingestion')) {
      for (const concurrency of concurrencyLevels) {
        report(
          await webhookLoad({
            url: `http://127.0.0.1:${service.port}/webhooks/stripe/${seeded.projectId}`,
            secret: webhookSecret,
            concurrency,
            seconds,
            event: (n) =>
              makeEvent({
                type: 'customer.subscription.updated',
                created: Math.floor(Date.now() / 1000),
                object: makeSubscription({
                  id: `sub_bench_${n % benchCustomers}`,
                  customer: `cus_bench_${n % benchCustomers}`,
                }),
              }),
          }),
        );
      }
    }
    if (runs('watch-fanout')) {
      for (const streams of [100, 1000]) {
        report(
          await watchFanout({
            baseUrl: `http://127.0.0.1:${service.port}`,
            apiKey: seeded.apiKey,
            streams,
            changes: 20,
          }),
        );
      }
    }
  } finally {
    service.child.kill('SIGTERM');
    ceiling.child.kill('SIGTERM');
    connectCeiling.child.kill('SIGTERM');
    await references.stop();
    await fake.close();
    await redis.stop();
    await ferret.stop();
  }
  addRatios(results, 'ceiling-empty-rpc');
  addReferenceRatios(results, referenceScenarioNames);
  const table = await writeResults(path.join(REPO_ROOT, 'load/results'), 'results', results, [
    `${seconds} s per run after a 2 s warm-up; ghz on one core (--cpus 1), 4 HTTP/2 connections`,
    `in-memory gRPC scenarios: ${rounds} rounds interleaved with the ceiling, the median round by req/s; check-cold and checkout once, after them`,
    'name@N/s: N requests per second offered (ghz --rps), 10 callers',
    `FerretDB (${ferretDbBackendFromEnv()}) and Redis on loopback; Stripe is the local fake`,
    'ratio to ceiling: req/s over the empty RPC at the same concurrency',
    'x grpc-go / x grpc-js: req/s over the reference empty RPC, then p99 over its p99, same run and concurrency',
  ]);
  process.stdout.write(`${table}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
