// needs: redis
/** The project change feed in Redis: filled by the entitlement cache's bumps, read by position. */

import { randomBytes } from 'node:crypto';
import test from 'ava';
import { Redis } from 'ioredis';
import { compareIds, feedOrigin, RedisChangeFeed } from '../../src/cache/change-feed.js';
import { RedisEntitlementCache } from '../../src/cache/entitlement-cache.js';
import { createLogger } from '../../src/logger.js';
import { testRedisUrl } from '../helpers/services.js';

const logger = createLogger({ level: 'error' });
const project = () => `proj_${randomBytes(4).toString('hex')}`;

async function connected(t: { teardown: (fn: () => void) => void }): Promise<Redis> {
  const redis = new Redis(testRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  t.teardown(() => redis.disconnect());
  return redis;
}

test('changes are fed in order, with the customer and whether only usage changed', async (t) => {
  const redis = await connected(t);
  const cache = new RedisEntitlementCache(redis, logger);
  const feed = new RedisChangeFeed(redis);
  const p = project();
  const start = await feed.start(p, '');
  t.deepEqual(start, { kind: 'ready', position: feedOrigin });

  await cache.invalidate(p, 'c1');
  const versions = [(await cache.lookup(p, 1, 'c1')).version];
  await cache.invalidate(p, 'c2', true);
  versions.push((await cache.lookup(p, 1, 'c2')).version);
  await cache.projectChanged(p);
  const entries = await feed.after(p, start.position, 10);
  t.deepEqual(
    entries.map((e) => e.change),
    [
      { kind: 'customer', customerId: 'c1', usageOnly: false, version: versions[0] },
      { kind: 'customer', customerId: 'c2', usageOnly: true, version: versions[1] },
      { kind: 'project' },
    ],
    'each entry carries the version its change got',
  );
  const positions = entries.map((e) => e.position);
  t.deepEqual(positions, [...positions].sort(compareIds));

  const first = positions[0] ?? '';
  t.deepEqual(
    (await feed.after(p, first, 10)).map((e) => e.position),
    positions.slice(1),
    'after a position: only what came later',
  );
  t.deepEqual(await feed.start(p, first), { kind: 'ready', position: first });
  t.deepEqual(await feed.start(p, ''), { kind: 'ready', position: positions.at(-1) });
});

test('a reader whose position was trimmed away, or never was in this feed, is told to resync', async (t) => {
  const redis = await connected(t);
  const cache = new RedisEntitlementCache(redis, logger, 100);
  const feed = new RedisChangeFeed(redis);
  const p = project();
  await cache.invalidate(p, 'c0');
  const [oldest] = await feed.after(p, feedOrigin, 1);
  const old = oldest?.position ?? '';
  // Trimming is approximate (whole nodes of 100 entries): write well past it.
  for (let i = 0; i < 400; i += 1) await cache.invalidate(p, `c${i % 7}`);
  const end = (await feed.start(p, '')).position;
  t.deepEqual(await feed.start(p, old), { kind: 'resync', position: end });
  t.deepEqual(await feed.start(p, '99999999999999-0'), { kind: 'resync', position: end });
  t.deepEqual(await feed.start(project(), old), { kind: 'resync', position: feedOrigin });
  t.true((await redis.xlen(`entfeed:{${p}}`)) < 401, 'the feed keeps about what it is told');
});
