/**
 * Test helpers for the local services that `npm test` (scripts/run-tests.ts)
 * starts once for the whole run: one FerretDB and one Redis, shared by every
 * test file. Each test file uses its own database (`uniqueDbName`) and its own
 * Redis key prefix; a test that must stop Redis starts a private one.
 *
 * The runner provisions only what a file's `// needs:` header names
 * (scripts/lib/test-needs.ts), so each getter here throws at once, naming the
 * need, when a file uses a service its header does not declare.
 */
import { randomBytes } from 'node:crypto';
import { type CommandStartedEvent, MongoClient } from 'mongodb';
import {
  type RedisHandle,
  type RedisOptions,
  startRedis,
} from '../../scripts/lib/local-services.js';
import { TEST_NEEDS, TEST_NEEDS_ENV, type TestNeed } from '../../scripts/lib/test-needs.js';

function requiredEnv(name: string, need: TestNeed): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(
      `${name} is not set: the test runner provides it only to test files whose header declares ` +
        `\`// needs: ${need}\` (${TEST_NEEDS[need]}). Add it to this file's header and run the ` +
        'tests with `npm test -- test/some.test.ts`, not with ava directly.',
    );
  }
  return value;
}

/** Throws unless the runner provisioned `need` (for tools a test installs or finds itself). */
export function requireNeed(need: TestNeed): void {
  const provided = (process.env[TEST_NEEDS_ENV] ?? '').split(' ');
  if (!provided.includes(need)) {
    throw new Error(
      `this test file needs ${need} (${TEST_NEEDS[need]}), which the runner did not provision: ` +
        `add \`// needs: ${need}\` to its header and run it with \`npm test -- <file>\`.`,
    );
  }
}

/** `mongodb://127.0.0.1:PORT/` of the shared FerretDB started by `npm test`. */
export function testMongoUrl(): string {
  return requiredEnv('TEST_MONGODB_URL', 'mongodb');
}

/** `redis://127.0.0.1:PORT` of the shared Redis started by `npm test`. */
export function testRedisUrl(): string {
  return requiredEnv('TEST_REDIS_URL', 'redis');
}

/**
 * MASTER_KEYS for tests: a fixed key (tests are no secret), so a service
 * restarted by a test opens what the previous one sealed.
 */
export function testMasterKeys(): string {
  return `test:${Buffer.alloc(32, 7).toString('base64')}`;
}

/** Path of the stripe-mock binary installed by `npm test`. */
export function stripeMockBin(): string {
  return requiredEnv('STRIPE_MOCK_BIN', 'stripe-mock');
}

/** Path of the grpcurl binary installed by `npm test`. */
export function grpcurlBin(): string {
  return requiredEnv('GRPCURL_BIN', 'grpcurl');
}

/** Path of the FerretDB binary the runner built, for tests that start a private one. */
export function ferretDbBin(): string {
  return requiredEnv('FERRETDB_BIN', 'mongodb');
}

/** Path of Debian's chromium, for the browser tests. */
export function chromiumBin(): string {
  return requiredEnv('CHROMIUM_BIN', 'chromium');
}

/**
 * A database name no other test file (or run) uses: `prefix` reduced to
 * `[a-z0-9_]`, then the pid and random hex; at most 63 characters, which
 * FerretDB's SQLite backend accepts.
 */
export function uniqueDbName(prefix: string): string {
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 40) || 'test';
  return `${clean}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/**
 * A Redis server of this test's own, for tests that stop and restart Redis
 * (the shared one must stay up for the other files). Call `stop()` in
 * `test.after.always`; the process is also killed when the worker exits.
 */
export function startPrivateRedis(options: RedisOptions = {}): Promise<RedisHandle> {
  return startRedis({ binary: requiredEnv('REDIS_SERVER_BIN', 'redis'), ...options });
}

export type { RedisHandle } from '../../scripts/lib/local-services.js';

/** A client of the shared FerretDB that records every `insert` command it sends (batching tests count them). */
export async function connectCountingInserts(): Promise<{
  readonly client: MongoClient;
  readonly inserts: readonly CommandStartedEvent[];
}> {
  const client = await new MongoClient(testMongoUrl(), { monitorCommands: true }).connect();
  const inserts: CommandStartedEvent[] = [];
  client.on('commandStarted', (event) => {
    if (event.commandName === 'insert') inserts.push(event);
  });
  return { client, inserts };
}
