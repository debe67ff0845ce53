// needs: redis
/** The Redis entitlement cache against a real Redis. */

import { randomBytes } from 'node:crypto';
import test from 'ava';
import { Redis } from 'ioredis';
import { RedisEntitlementCache, type RedisLookup } from '../../src/cache/entitlement-cache.js';
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

/** The generation a lookup hands back for `store` (always there when no change is in flight). */
function generationOf(lookup: RedisLookup): string {
  if (lookup.generation === undefined)
    throw new Error('the lookup gave no generation to store with');
  return lookup.generation;
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
  await cache.store(p, 1, 'c1', generationOf(first), set, now);
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
  await cache.store(p, 1, 'c1', generationOf(before), set, now);
  t.is((await cache.lookup(p, 1, 'c1')).set, undefined);
  redis.disconnect();
});

test('while a change is on its way to Redis, this replica neither trusts nor stores an entry', async (t) => {
  const redis = client();
  await redis.connect();
  const cache = new RedisEntitlementCache(redis, logger);
  const otherReplica = new RedisEntitlementCache(redis, logger);
  const p = project();
  await cache.store(p, 1, 'c1', generationOf(await cache.lookup(p, 1, 'c1')), set, now);

  const bumped = cache.invalidate(p, 'c1'); // not awaited, as TrackUsage does
  const during = await cache.lookup(p, 1, 'c1');
  t.is(during.set, undefined, 'the entry from before the change is not read here');
  t.is(during.generation, undefined, 'nothing computed now may be stored under the old generation');
  await bumped;

  const after = await cache.lookup(p, 1, 'c1');
  t.is(after.set, undefined, 'the bump made the old entry unusable');
  t.not(after.generation, undefined);
  t.is((await otherReplica.lookup(p, 1, 'c1')).set, undefined, 'on every replica');
  redis.disconnect();
});

test('a new project version (catalog change) retires older entries', async (t) => {
  const redis = client();
  await redis.connect();
  const cache = new RedisEntitlementCache(redis, logger);
  const p = project();
  const lookup = await cache.lookup(p, 1, 'c1');
  await cache.store(p, 1, 'c1', generationOf(lookup), set, now);
  t.is((await cache.lookup(p, 2, 'c1')).set, undefined);
  redis.disconnect();
});

test('an invalidation that cannot reach Redis is replayed when it is back', async (t) => {
  const redis = client();
  await redis.connect();
  const cache = new RedisEntitlementCache(redis, logger);
  const p = project();
  const lookup = await cache.lookup(p, 1, 'c1');
  await cache.store(p, 1, 'c1', generationOf(lookup), set, now);

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

test('every change gives a larger version, a catalog change too, and a stored set carries it', async (t) => {
  const redis = client();
  await redis.connect();
  const cache = new RedisEntitlementCache(redis, logger);
  const p = project();
  t.is((await cache.lookup(p, 1, 'c1')).version, 0, 'no change yet: not known');
  const versions: number[] = [];
  const read = async (customerId: string) => {
    const { version } = await cache.lookup(p, 1, customerId);
    versions.push(version);
    return version;
  };
  await cache.invalidate(p, 'c1');
  await read('c1');
  await cache.invalidate(p, 'c1', true);
  await read('c1');
  await cache.projectChanged(p);
  t.is(await read('c1'), await read('c2'), 'the catalog counts for every customer');
  await cache.invalidate(p, 'c1');
  await read('c1');
  t.deepEqual(
    versions,
    [...versions].sort((a, b) => a - b),
  );
  t.is(
    new Set(versions).size,
    versions.length - 1,
    'only the c1 and c2 reads after the catalog agree',
  );

  const before = await cache.lookup(p, 1, 'c1');
  await cache.store(p, 1, 'c1', generationOf(before), set, now);
  const stored = await cache.lookup(p, 1, 'c1');
  t.is(stored.set?.version, before.version);
  redis.disconnect();
});

test('a customer whose counter Redis lost still gets a larger version at its next change', async (t) => {
  const redis = client();
  await redis.connect();
  const cache = new RedisEntitlementCache(redis, logger);
  const p = project();
  for (let i = 0; i < 5; i += 1) await cache.invalidate(p, 'c1');
  const before = (await cache.lookup(p, 1, 'c1')).version;
  await redis.del(`entgen:{${p}}:c1`); // evicted or expired
  await cache.invalidate(p, 'c1');
  t.true((await cache.lookup(p, 1, 'c1')).version > before);
  redis.disconnect();
});
