/**
 * Helpers for the chaos suite (test/chaos): bounded
 * concurrency, a FerretDB of the test's own (so it can be stopped without
 * disturbing other test files), Prometheus scraping, and entitlement sets in
 * a comparable form (from the engine and from the RPC alike).
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type FerretDbHandle, startFerretDb } from '../../scripts/lib/local-services.js';
import { ferretDbBin } from './services.js';

export { Rng, seedFromEnv } from './random.js';

// --- Concurrency (waiting: ./wait.ts) ---

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// --- A FerretDB of the test's own ---

export interface PrivateFerretDb extends FerretDbHandle {
  /** Stops the server and removes its data folder. */
  dispose(): Promise<void>;
}

/**
 * FerretDB in a temporary folder, on a free port, from the binary the
 * runner built for files that declare `// needs: mongodb`, on the backend
 * the run uses (PostgreSQL unless FERRETDB_BACKEND=sqlite; its own server).
 * The folder is in /dev/shm when there is one (a tmpfs: no disk syncs,
 * measured about 3 times faster inserts on SQLite); the data outlives a
 * restart of the server.
 */
export async function startPrivateFerretDb(): Promise<PrivateFerretDb> {
  const root = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dataDir = await mkdtemp(path.join(root, 'chaos-ferretdb-'));
  const binary = ferretDbBin();
  // Also when the worker exits without running the test's after hooks (a timeout):
  // local-services kills the server then, and /dev/shm is memory.
  const removeSync = (): void => rmSync(dataDir, { recursive: true, force: true });
  process.once('exit', removeSync);
  const handle = await startFerretDb({ dataDir, binary });
  return {
    ...handle,
    dispose: async () => {
      await handle.removeData();
      await rm(dataDir, { recursive: true, force: true });
      process.off('exit', removeSync);
    },
  };
}

// --- Prometheus ---

/** The value of one sample of `/metrics`, e.g. `entitlement_cache_lookups_total{result="redis"}`; 0 when absent. */
export async function scrapeSample(baseUrl: string, sample: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

export {
  type ComparableSet,
  canonical,
  comparableMessages,
  comparableSet,
  differences,
} from './comparable.js';
