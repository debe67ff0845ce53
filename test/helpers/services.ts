/**
 * Test helpers for the local services that `npm test` (scripts/run-tests.ts)
 * starts once for the whole run: one FerretDB and one Redis, shared by every
 * test file. Each test file uses its own database (`uniqueDbName`) and its own
 * Redis key prefix; a test that must stop Redis starts a private one.
 */
import { randomBytes } from 'node:crypto';
import {
  type RedisHandle,
  type RedisOptions,
  startRedis,
} from '../../scripts/lib/local-services.js';

function requiredEnv(name: string, what: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(
      `${name} is not set: ${what} is started by the test runner. Run the tests with \`npm test\` ` +
        '(or `npm test -- test/some.test.ts` for one file), not with ava directly.',
    );
  }
  return value;
}

/** `mongodb://127.0.0.1:PORT/` of the shared FerretDB started by `npm test`. */
export function testMongoUrl(): string {
  return requiredEnv('TEST_MONGODB_URL', 'the shared FerretDB');
}

/** `redis://127.0.0.1:PORT` of the shared Redis started by `npm test`. */
export function testRedisUrl(): string {
  return requiredEnv('TEST_REDIS_URL', 'the shared Redis');
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
  return startRedis(options);
}

export type { RedisHandle } from '../../scripts/lib/local-services.js';
