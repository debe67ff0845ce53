/**
 * MongoDB and Redis for a benchmark: the servers MONGODB_URL and REDIS_URL
 * name when both are set (the benchmark then uses a database of its own in
 * them), else FerretDB (on PostgreSQL unless FERRETDB_BACKEND=sqlite) and Redis started on
 * loopback for this run, with FerretDB's files under `workDir`.
 */
import path from 'node:path';
import { startFerretDb, startRedis } from '../../scripts/lib/local-services.js';

export interface BenchDatabases {
  readonly mongoUrl: string;
  readonly redisUrl: string;
  /** Stops what this run started (nothing for given servers). */
  stop(): Promise<void>;
}

export async function startBenchDatabases(workDir: string): Promise<BenchDatabases> {
  const { MONGODB_URL: mongoUrl, REDIS_URL: redisUrl } = process.env;
  if (mongoUrl && redisUrl) return { mongoUrl, redisUrl, stop: async () => {} };
  const ferret = await startFerretDb({ dataDir: path.join(workDir, 'ferretdb') });
  const redis = await startRedis().catch(async (err: unknown) => {
    await ferret.stop();
    throw err;
  });
  return {
    mongoUrl: ferret.url,
    redisUrl: redis.url,
    stop: async () => {
      await redis.stop();
      await ferret.stop();
    },
  };
}
