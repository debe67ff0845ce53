/**
 * What the benchmarks that measure one scenario at growing data sizes
 * share (bench:ingest, bench:metrics): the databases, the Stripe sandbox
 * and the service's environment for one run, and the results written with
 * each size's ratio to the smallest.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Db } from 'mongodb';
import { type Sandbox, startSandbox } from '../../sandbox/index.js';
import { ferretDbBackendFromEnv } from '../../scripts/lib/local-services.js';
import { connectMongo } from '../../src/store/mongo.js';
import { startBenchDatabases } from './bench-databases.js';
import { addRatiosTo, type Budget, type Result, writeResults } from './results.js';

export interface SizeRunWorld {
  /** The service's environment: MongoDB, Redis, master keys, the sandbox as Stripe. */
  readonly env: Record<string, string>;
  readonly fake: Sandbox;
  /** The run's database, for bulk seeding. */
  readonly db: Db;
}

/** Runs `work` against fresh databases (or the given servers) and a sandbox; stops them after. */
export async function withSizeRunWorld(
  name: string,
  extraEnv: Record<string, string>,
  work: (world: SizeRunWorld) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `bench-${name}-`));
  const databases = await startBenchDatabases(dir);
  const fake = await startSandbox();
  const env = {
    MONGODB_URL: databases.mongoUrl,
    MONGODB_DATABASE: `bench_${name}_${randomBytes(4).toString('hex')}`,
    REDIS_URL: databases.redisUrl,
    MASTER_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    STRIPE_API_URL: fake.url,
    ...extraEnv,
  };
  const mongo = await connectMongo(env.MONGODB_URL, env.MONGODB_DATABASE);
  try {
    await work({ env, fake, db: mongo.db });
  } finally {
    await mongo.close();
    await fake.close();
    await databases.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export interface SizeResults {
  readonly resultsDir: string;
  /** The results files' name: `<name>.json`, `<name>.md`. */
  readonly name: string;
  readonly sizes: readonly number[];
  readonly scenarioName: (size: number) => string;
  readonly results: Result[];
  /** The run's settings and findings, first in the notes. */
  readonly notes: readonly string[];
  /** What the rate counts, for the ratio's note: "events/s". */
  readonly rate: string;
  /** The budgets comparing the largest size with the smallest; only asked when they differ. */
  readonly budgets: (smallest: number, largest: number) => Budget[];
}

/** Adds each size's ratio to the smallest, writes the results files; the Markdown table. */
export async function writeSizeResults(options: SizeResults): Promise<string> {
  const { sizes, scenarioName, results } = options;
  // By value, not by position: BENCH_*_SIZES may list them in any order.
  const smallest = sizes.length === 0 ? undefined : Math.min(...sizes);
  const largest = sizes.length === 0 ? undefined : Math.max(...sizes);
  if (smallest !== undefined)
    for (const size of sizes) addRatiosTo(results, scenarioName(size), scenarioName(smallest));
  const backend =
    process.env.MONGODB_URL && process.env.REDIS_URL ? 'given servers' : ferretDbBackendFromEnv();
  return writeResults(
    options.resultsDir,
    options.name,
    results,
    [
      `FerretDB backend: ${backend}`,
      ...options.notes,
      `load average at the end: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
      `ratio: ${options.rate} over the ${options.rate} at the smallest size`,
    ],
    // A run of one size compares nothing with nothing: it holds no budget.
    smallest === undefined || largest === undefined || smallest === largest
      ? []
      : options.budgets(smallest, largest),
  );
}
