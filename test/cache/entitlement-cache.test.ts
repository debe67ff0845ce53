// needs: redis
/** The Redis entitlement cache against a real Redis. */

import { randomBytes } from 'node:crypto';
import test from 'ava';
import { Redis } from 'ioredis';
import { RedisEntitlementCache } from '../../src/cache/entitlement-cache.js';
import type { EntitlementSet } from '../../src/domain/entitlements.js';
import { createLogger } from '../../src/logger.js';
import { testRedisUrl } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger({ level: 'error' });
const now = new Date();
const set: EntitlementSet = {
  entitlements: [
    {
      feature: 'reports',
      allowed: true,
      limit: 5,
      sources: [
        {
          kind: 'grant',
          id: 'g1',
          limit: 5,
          validUntil: new Date(now.getTime() + 3_600_000),
          status: null,
          catalogId: null,
        },
      ],
      validUntil: new Date(now.getTime() + 3_600_000),
    },
  ],
  validUntil: new Date(now.getTime() + 3_600_000),
};

function client(): Redis {
  return new Redis(testRedisUrl(), {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    lazyConnect: true,
  });
}

const project = () => `proj_${randomBytes(4).toString('hex')}`;

async function ready(redis: Redis): Promise<void> {
  if (redis.status !== 'ready')
    await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
}

test('a stored set comes back whole, dates included', async (t) => {
  const redis = client();
  await redis.connect();
  const cache = new RedisEntitlementCache(redis, logger);
  const p = project();
  const first = await cache.lookup(p, 1, 'c1');
  t.is(first.set, undefined);
  await cache.store(p, 1, 'c1', first.generation, set, now);
  const second = await cache.lookup(p, 1, 'c1');
  t.deepEqual(second.set, set);
  t.true(second.set?.validUntil instanceof Date);
  redis.disconnect();
});

test('a set computed before a change is never served after it', async (t) => {
  const redis = client();
  await redis.connect();
  const cache = new RedisEntitlementCache(redis, logger);
  const p = project();
  const before = await cache.lookup(p, 1, 'c1');
  await cache.invalidate(p, 'c1'); // a change lands while the reader computes
  await cache.store(p, 1, 'c1', before.generation, set, now);
  t.is((await cache.lookup(p, 1, 'c1')).set, undefined);
  redis.disconnect();
});

test('a new project version (catalog change) retires older entries', async (t) => {
  const redis = client();
  await redis.connect();
  const cache = new RedisEntitlementCache(redis, logger);
  const p = project();
  const lookup = await cache.lookup(p, 1, 'c1');
  await cache.store(p, 1, 'c1', lookup.generation, set, now);
  t.is((await cache.lookup(p, 2, 'c1')).set, undefined);
  redis.disconnect();
});

test('an invalidation that cannot reach Redis is replayed when it is back', async (t) => {
  const redis = client();
  await redis.connect();
  const cache = new RedisEntitlementCache(redis, logger);
  const p = project();
  const lookup = await cache.lookup(p, 1, 'c1');
  await cache.store(p, 1, 'c1', lookup.generation, set, now);

  // Redis keeps its data; only this replica loses its connection.
  const ended = new Promise((resolve) => redis.once('end', resolve));
  redis.disconnect();
  await ended;
  await cache.invalidate(p, 'c1');
  t.is(cache.pendingCount, 1);

  await redis.connect();
  await ready(redis);
  await waitFor(() => cache.pendingCount, {
    what: 'the pending invalidation to reach Redis',
    until: (pending) => pending === 0,
  });
  t.is(
    (await cache.lookup(p, 1, 'c1')).set,
    undefined,
    'the entry from before the change is not served',
  );
  redis.disconnect();
});
