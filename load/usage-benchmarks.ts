/**
 * `npm run bench:usage`: metered features under load, each figure as a
 * ratio to a reference measured in the same run (DESIGN.md, Budgets).
 * Writes load/results/usage.json and usage.md with every budget's verdict.
 *
 * Scenarios (`npm run bench:usage -- track check` runs some; none: all):
 * - check: warm CheckEntitlement of a metered feature with
 *   `requested_amount` against the same customer's boolean feature, ghz,
 *   interleaved rounds (median) at BENCH_CONCURRENCY (1,10,50). Budget:
 *   metered >= 0.9 x boolean.
 * - track: the reference, `insertOne` of a ledger-entry-sized document into
 *   the same database from this process (load/lib/insert-reference.ts),
 *   then TrackUsage (enforce false, a new idempotency key per call) by ghz
 *   for one customer (one hot ledger chain) and spread over
 *   BENCH_USAGE_CUSTOMERS (64) customers, interleaved rounds at
 *   BENCH_WRITE_CONCURRENCY (1,16). Budget: TrackUsage >= 0.5 x insert.
 * - reserve-commit: ReserveUsage + CommitReservation pairs from this
 *   process (load/lib/reserve-commit-load.ts), with the reference too, and
 *   track-pair (two TrackUsage per pair, the same driver) beside it; no
 *   budget. A build answering UNIMPLEMENTED fails the scenario, clearly.
 * The check rounds also run the empty RPC on grpc-go and @grpc/grpc-js
 * (load/lib/reference-servers.ts), and every figure gets its ratios to them.
 * A scenario that fails is named at the end and the run exits 1, after
 * the others' figures are written.
 *
 * FerretDB (PostgreSQL unless FERRETDB_BACKEND=sqlite) and Redis are started on loopback unless MONGODB_URL
 * and REDIS_URL name servers to use (a fresh database each run); the
 * service runs as its own process. ghz holds itself to one core (--cpus 1),
 * the service has the other. BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2),
 * BENCH_ROUNDS (3) and BENCH_RESULTS_DIR (load/results) tune it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureGoTool, ferretDbBackendFromEnv, REPO_ROOT } from '../scripts/lib/local-services.js';
import { connectMongo } from '../src/store/mongo.js';
import { startBenchDatabases } from './lib/bench-databases.js';
import { seedProject } from './lib/bench-project.js';
import { type GhzScenario, ghzMeasure } from './lib/ghz.js';
import { insertReference, insertReferenceScenario } from './lib/insert-reference.js';
import { referenceScenarioNames, startReferenceServers } from './lib/reference-servers.js';
import {
  reserveCommitLoad,
  reserveCommitScenario,
  trackPairLoad,
  trackPairScenario,
} from './lib/reserve-commit-load.js';
import {
  addRatiosTo,
  addReferenceRatios,
  type Budget,
  type Result,
  writeResults,
} from './lib/results.js';
import { interleavedRounds } from './lib/rounds.js';
import { spawnService } from './lib/server-process.js';
import { benchUsageProject, spreadCustomer, usageScenarios } from './lib/usage-scenarios.js';

const numbers = (text: string) => text.split(',').map(Number);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const checkConcurrency = numbers(process.env.BENCH_CONCURRENCY ?? '1,10,50');
const writeConcurrency = numbers(process.env.BENCH_WRITE_CONCURRENCY ?? '1,16');
const customers = Number(process.env.BENCH_USAGE_CUSTOMERS ?? 64);
const resultsDir = process.env.BENCH_RESULTS_DIR ?? path.join(REPO_ROOT, 'load/results');

const budgets: Budget[] = [
  {
    budget: 'TrackUsage >= 0.5 x insert, many customers',
    scenario: 'track-usage-many-customers',
    minimum: 0.5,
  },
  {
    budget: 'TrackUsage >= 0.5 x insert, one customer',
    scenario: 'track-usage-one-customer',
    minimum: 0.5,
  },
  { budget: 'warm metered check >= 0.9 x boolean', scenario: 'check-metered-warm', minimum: 0.9 },
];

/** One scenario of a round: a ghz call or a driver in this process. */
interface Scenario {
  readonly name: string;
  run(concurrency: number): Promise<Result>;
}

async function main(): Promise<void> {
  const wanted = new Set(process.argv.slice(2));
  const runs = (group: string) => wanted.size === 0 || wanted.has(group);
  const ghz = process.env.GHZ_BIN ?? (await ensureGoTool('ghz'));
  const work = await mkdtemp(path.join(os.tmpdir(), 'bench-usage-'));
  const databases = await startBenchDatabases(work);
  const env = {
    MONGODB_URL: databases.mongoUrl,
    MONGODB_DATABASE: `bench_usage_${randomBytes(4).toString('hex')}`,
    REDIS_URL: databases.redisUrl,
    MASTER_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    // Nothing here calls Stripe: a closed port makes any call fail loudly.
    STRIPE_API_URL: 'http://127.0.0.1:9',
    RECONCILIATION_CRON: 'off',
  };
  const mongo = await connectMongo(env.MONGODB_URL, env.MONGODB_DATABASE);
  const results: Result[] = [];
  const failures = new Map<string, string>();
  try {
    const seeded = await seedProject(env, benchUsageProject(customers));
    const service = await spawnService(env);
    const references = await startReferenceServers();
    try {
      // A scenario with a port of its own is a reference server's (no key); else the service's.
      const ghzScenario = (scenario: GhzScenario & { readonly port?: number }): Scenario => ({
        name: scenario.name,
        run: (concurrency) =>
          ghzMeasure(
            scenario.port === undefined ? { ...scenario, bearer: seeded.apiKey } : scenario,
            { ghz, port: scenario.port ?? service.port, concurrency, cpus: 1, seconds },
            warmupSeconds,
          ),
      });
      const driven = (name: string, run: (c: number, s: number) => Promise<Result>): Scenario => ({
        name,
        run: async (concurrency) => {
          if (warmupSeconds > 0) await run(concurrency, warmupSeconds);
          return run(concurrency, seconds);
        },
      });
      const ghzScenarios = usageScenarios(customers);
      const insert = driven(insertReferenceScenario.name, (concurrency, s) =>
        insertReference({ db: mongo.db, concurrency, seconds: s }),
      );
      const pairOptions = (concurrency: number, s: number) => ({
        baseUrl: `http://127.0.0.1:${service.port}`,
        apiKey: seeded.apiKey,
        feature: 'api_requests',
        customerId: (n: number) => spreadCustomer(n % customers),
        concurrency,
        seconds: s,
      });
      const reserveCommit = driven(reserveCommitScenario.name, (concurrency, s) =>
        reserveCommitLoad(pairOptions(concurrency, s)),
      );
      const trackPair = driven(trackPairScenario.name, (concurrency, s) =>
        trackPairLoad(pairOptions(concurrency, s)),
      );
      // Answered from process memory: first, so no database work queued by a write scenario slows them.
      const checks = runs('check')
        ? [...references.scenarios, ...ghzScenarios.checks].map(ghzScenario)
        : [];
      const writes = [
        ...(runs('track') || runs('reserve-commit') ? [insert] : []),
        ...(runs('track') ? ghzScenarios.tracks.map(ghzScenario) : []),
        ...(runs('reserve-commit') ? [reserveCommit, trackPair] : []),
      ];
      const measure = (scenario: Scenario, concurrency: number) =>
        failures.has(scenario.name)
          ? Promise.resolve(undefined)
          : scenario.run(concurrency).catch((err: unknown) => {
              failures.set(scenario.name, err instanceof Error ? err.message : String(err));
              return undefined;
            });
      for (const [scenarios, levels] of [
        [checks, checkConcurrency],
        [writes, writeConcurrency],
      ] as const) {
        for (const concurrency of levels) {
          for (const median of await interleavedRounds(scenarios, concurrency, rounds, measure)) {
            results.push(median);
            process.stderr.write(
              `[bench:usage] ${median.scenario} c=${concurrency}: ${median.rps}/s p99 ${median.p99Ms} ms\n`,
            );
          }
        }
      }
    } finally {
      await service.stop();
      await references.stop();
    }
  } finally {
    await mongo.close();
    await databases.stop();
    await rm(work, { recursive: true, force: true });
  }
  for (const scenario of [
    'track-usage-one-customer',
    'track-usage-many-customers',
    'reserve-commit',
    trackPairScenario.name,
  ])
    addRatiosTo(results, scenario, insertReferenceScenario.name);
  addRatiosTo(results, 'check-metered-warm', 'check-boolean-warm');
  addReferenceRatios(results, referenceScenarioNames);
  const table = await writeResults(resultsDir, 'usage', results, notes(failures), budgets);
  process.stdout.write(`${table}\n`);
  if (failures.size > 0) {
    for (const [name, message] of failures)
      process.stderr.write(`[bench:usage] ${name} failed: ${message}\n`);
    process.exitCode = 1;
  }
}

function notes(failures: ReadonlyMap<string, string>): string[] {
  return [
    `${seconds} s per run after a ${warmupSeconds} s warm-up; ${rounds} rounds interleaved per concurrency, the median round by req/s`,
    'ghz on one core (--cpus 1), 4 HTTP/2 connections; insert-reference, reserve-commit and track-pair driven from the benchmark process',
    `TrackUsage: enforce false, a new idempotency key per call; many customers: ${customers}`,
    'ratio: req/s over the reference at the same concurrency (insert-reference for writes, check-boolean-warm for checks)',
    `FerretDB (${ferretDbBackendFromEnv()}) and Redis on loopback unless MONGODB_URL and REDIS_URL were set`,
    ...[...failures].map(([name, message]) => `${name} did not run: ${message}`),
  ];
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    process.stderr.write(`bench:usage failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
