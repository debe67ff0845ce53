// needs: mongodb redis
/**
 * The usage ledger's guarantees across two replicas on one database:
 * no overspend under block (property tests over random amounts and
 * interleavings of enforced tracks, reservations, commits and releases),
 * exactly once per idempotency key (also concurrently on both replicas,
 * for tracks and reservations), and durability (Redis flushed, the service
 * restarted: usage and holds are still there, rebuilt from MongoDB).
 */
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { Redis } from 'ioredis';
import { EntitlementsService, WatchEventKind } from '../../gen/billing/v1/entitlements_pb.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { Rng, seedFromEnv } from '../helpers/random.js';
import { type RedisHandle, startPrivateRedis } from '../helpers/services.js';
import { ledgerEntries, subscribeMetered, sumOf, usageCatalog } from './usage-world.js';

let redis: RedisHandle;
let a: BillingHarness;
let b: TestApp;

const startReplica = () =>
  startTestApp({
    database: a.server.config.mongodbDatabase,
    redisUrl: redis.url,
    env: { STRIPE_API_URL: a.fake.url },
  });

test.before(async () => {
  redis = await startPrivateRedis();
  a = await startBillingHarness({ catalog: usageCatalog, redisUrl: redis.url });
  b = await startReplica();
});

test.after.always(async () => {
  await b?.app.stop();
  await a?.close();
  await redis?.stop();
});

const clientOf = (baseUrl: string) =>
  createClient(EntitlementsService, createConnectTransport({ baseUrl, httpVersion: '1.1' }));

interface Attempt {
  readonly amount: number;
  readonly accepted: boolean;
}

async function trackOn(
  baseUrl: string,
  customerId: string,
  amount: number,
  key: string,
  enforce: boolean,
): Promise<{ accepted: boolean; usageId: string }> {
  try {
    const answer = await clientOf(baseUrl).trackUsage(
      { customerId, feature: 'api_requests', amount: BigInt(amount), idempotencyKey: key, enforce },
      a.auth,
    );
    return { accepted: true, usageId: answer.usageId };
  } catch {
    return { accepted: false, usageId: '' };
  }
}

const seed = seedFromEnv('USAGE_SEED');

/** Redis loses everything and replica b restarts: only MongoDB remembers. */
async function flushRedisAndRestart(): Promise<void> {
  const flusher = new Redis(redis.url);
  await flusher.flushall();
  flusher.disconnect();
  await b.app.stop();
  b = await startReplica();
}

const checkOn = async (baseUrl: string, customerId: string) =>
  (await clientOf(baseUrl).checkEntitlement({ customerId, feature: 'api_requests' }, a.auth))
    .entitlement;

test(`no overspend: concurrent enforced tracks on two replicas never pass the allowance (seed ${seed})`, async (t) => {
  const rng = new Rng(seed);
  for (let round = 0; round < 3; round++) {
    const customerId = `u-race-${round}`;
    await subscribeMetered(a, customerId);
    const amounts = Array.from({ length: 24 }, () => rng.int(1, 15));
    const replicas = amounts.map(() => rng.pick([a.server.baseUrl, b.baseUrl]));
    const attempts: Attempt[] = await Promise.all(
      amounts.map(async (amount, i) => ({
        amount,
        accepted: (
          await trackOn(
            replicas[i] ?? a.server.baseUrl,
            customerId,
            amount,
            `race-${round}-${i}`,
            true,
          )
        ).accepted,
      })),
    );
    const accepted = sumOf(attempts.filter((x) => x.accepted));
    t.true(accepted <= 100, `round ${round}: accepted ${accepted} of an allowance of 100`);
    const ledger = await ledgerEntries(a.server.config.mongodbDatabase, customerId);
    t.is(sumOf(ledger), accepted, `round ${round}: the ledger holds what was accepted`);
    // Refused only when it did not fit: what is left is less than the smallest refused amount.
    const refused = attempts.filter((x) => !x.accepted).map((x) => x.amount);
    if (refused.length > 0) t.true(100 - accepted < Math.max(...refused), `round ${round}`);
    const check = await clientOf(b.baseUrl).checkEntitlement(
      { customerId, feature: 'api_requests' },
      a.auth,
    );
    t.is(check.entitlement?.usage, BigInt(accepted));
  }
});

interface Outcome {
  /** Usage acknowledged: an accepted track or a commit's final amount. */
  readonly used: number;
  /** Still held at the end (reserved, never ended). */
  readonly held: number;
}

/** One caller: a track, or a reservation then its commit (final ≤ held), release, or nothing. */
function actor(rng: Rng, customerId: string, key: string): () => Promise<Outcome> {
  const replica = rng.pick([a.server.baseUrl, b.baseUrl]);
  const client = clientOf(replica);
  const ender = clientOf(rng.pick([a.server.baseUrl, b.baseUrl]));
  const amount = rng.int(1, 15);
  const kind = rng.pick(['track', 'commit', 'release', 'keep'] as const);
  const final = rng.int(0, amount);
  const feature = 'api_requests';
  return async () => {
    if (kind === 'track') {
      const tracked = await trackOn(replica, customerId, amount, key, true);
      return { used: tracked.accepted ? amount : 0, held: 0 };
    }
    const held = await client
      .reserveUsage({ customerId, feature, amount: BigInt(amount), idempotencyKey: key }, a.auth)
      .catch(() => undefined);
    if (!held) return { used: 0, held: 0 };
    const ref = { customerId, reservationId: held.reservationId };
    if (kind === 'commit') {
      await ender.commitReservation({ ...ref, finalAmount: BigInt(final) }, a.auth);
      return { used: final, held: 0 };
    }
    if (kind === 'release') {
      await ender.releaseReservation(ref, a.auth);
      return { used: 0, held: 0 };
    }
    return { used: 0, held: amount };
  };
}

test(`no overspend: tracks, reservations, commits and releases mixed on two replicas never pass the allowance (seed ${seed})`, async (t) => {
  const rng = new Rng(seed + 1);
  for (let round = 0; round < 3; round++) {
    const customerId = `u-mix-${round}`;
    await subscribeMetered(a, customerId);
    const actors = Array.from({ length: 24 }, (_, i) =>
      actor(rng, customerId, `mix-${round}-${i}`),
    );
    const outcomes = await Promise.all(actors.map((run) => run()));
    const used = outcomes.reduce((sum, o) => sum + o.used, 0);
    const held = outcomes.reduce((sum, o) => sum + o.held, 0);
    t.true(used + held <= 100, `round ${round}: used ${used} + held ${held} > 100`);
    const ledger = await ledgerEntries(a.server.config.mongodbDatabase, customerId);
    t.is(sumOf(ledger), used, `round ${round}: the ledger holds what was acknowledged`);
    t.like(await checkOn(b.baseUrl, customerId), {
      usage: BigInt(used),
      reserved: BigInt(held),
      balance: BigInt(100 - used - held),
    });
  }
});

test('exactly once: one ReserveUsage key sent concurrently to both replicas holds once, with one answer', async (t) => {
  const customerId = 'u-once-rsv';
  await subscribeMetered(a, customerId);
  const reserveOn = (baseUrl: string) =>
    clientOf(baseUrl).reserveUsage(
      { customerId, feature: 'api_requests', amount: 7n, idempotencyKey: 'once-rsv' },
      a.auth,
    );
  const answers = await Promise.all([
    reserveOn(a.server.baseUrl),
    reserveOn(b.baseUrl),
    reserveOn(a.server.baseUrl),
    reserveOn(b.baseUrl),
  ]);
  t.is(new Set(answers.map((x) => x.reservationId)).size, 1);
  const holds = (await ledgerEntries(a.server.config.mongodbDatabase, customerId)).filter(
    (e) => e.kind === 'hold',
  );
  t.is(holds.length, 1);
  t.like(await checkOn(b.baseUrl, customerId), { reserved: 7n, balance: 93n });
});

test('exactly once: one idempotency key sent concurrently to both replicas is applied once, with one answer', async (t) => {
  const customerId = 'u-once';
  await subscribeMetered(a, customerId);
  for (let i = 0; i < 5; i++) {
    const key = `once-${i}`;
    const answers = await Promise.all([
      trackOn(a.server.baseUrl, customerId, 3, key, false),
      trackOn(b.baseUrl, customerId, 3, key, false),
      trackOn(a.server.baseUrl, customerId, 3, key, false),
      trackOn(b.baseUrl, customerId, 3, key, false),
    ]);
    t.true(answers.every((x) => x.accepted));
    t.is(new Set(answers.map((x) => x.usageId)).size, 1, `key ${key}: one usage id`);
  }
  const ledger = await ledgerEntries(a.server.config.mongodbDatabase, customerId);
  t.is(ledger.length, 5);
  t.is(sumOf(ledger), 15);
  // A retry long after answers the first usage id again.
  const retry = await trackOn(b.baseUrl, customerId, 3, 'once-0', false);
  t.is(retry.usageId, ledger.find((e) => e.idempotency_key === 'once-0')?.usage_id ?? 'none');
  t.is((await ledgerEntries(a.server.config.mongodbDatabase, customerId)).length, 5);
});

test.serial(
  'durable: after Redis is flushed and the service restarted, the usage is still there',
  async (t) => {
    const customerId = 'u-durable';
    await subscribeMetered(a, customerId);
    await trackOn(b.baseUrl, customerId, 12, 'durable-1', true);
    await trackOn(a.server.baseUrl, customerId, 8, 'durable-2', true);
    await flushRedisAndRestart();
    const check = await checkOn(b.baseUrl, customerId);
    t.is(check?.usage, 20n);
    t.is(check?.balance, 80n);
    // The restarted replica continues the same ledger: the balance still binds.
    t.false((await trackOn(b.baseUrl, customerId, 81, 'durable-3', true)).accepted);
    t.true((await trackOn(b.baseUrl, customerId, 80, 'durable-4', true)).accepted);
  },
);

test.serial(
  'durable: a hold survives a Redis flush and a restart, and its commit still works',
  async (t) => {
    const customerId = 'u-durable-hold';
    await subscribeMetered(a, customerId);
    const held = await clientOf(b.baseUrl).reserveUsage(
      { customerId, feature: 'api_requests', amount: 30n, idempotencyKey: 'durable-hold' },
      a.auth,
    );
    await flushRedisAndRestart();
    t.like(await checkOn(b.baseUrl, customerId), { usage: 0n, reserved: 30n, balance: 70n });
    t.false((await trackOn(b.baseUrl, customerId, 71, 'durable-hold-2', true)).accepted);
    const committed = await clientOf(b.baseUrl).commitReservation(
      { customerId, reservationId: held.reservationId, finalAmount: 20n },
      a.auth,
    );
    t.like(committed.entitlement, { usage: 20n, reserved: 0n, balance: 80n });
  },
);

test('a track on one replica reaches a WatchEntitlements stream on the other with the new balance', async (t) => {
  const customerId = 'u-watch';
  await subscribeMetered(a, customerId);
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const stream = clientOf(b.baseUrl)
    .watchEntitlements({ customerId }, { ...a.auth, signal: abort.signal })
    [Symbol.asyncIterator]();
  const balanceIn = async (): Promise<bigint | undefined> => {
    for (;;) {
      const next = await stream.next();
      if (next.done) throw new Error('stream ended');
      if (next.value.kind === WatchEventKind.HEARTBEAT) continue;
      return next.value.entitlements.find((e) => e.feature === 'api_requests')?.balance;
    }
  };
  t.is(await balanceIn(), 100n);
  await trackOn(a.server.baseUrl, customerId, 40, 'watch-1', true);
  t.is(await balanceIn(), 60n);
});
