// needs: mongodb redis
/**
 * Redis is a cache, never a dependency of correctness: with Redis stopped,
 * checks keep answering, webhooks keep applying and answers follow them; when
 * Redis returns, the cache refills and never serves what changed meanwhile.
 * The process-memory level is switched off here so every check reaches Redis.
 */
import test from 'ava';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { type RedisHandle, startPrivateRedis } from '../helpers/services.js';
import { makeEvent, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';
import { waitFor } from '../helpers/wait.js';

let redis: RedisHandle;
let h: BillingHarness;

test.before(async () => {
  redis = await startPrivateRedis();
  h = await startBillingHarness({ redisUrl: redis.url, env: { ENTITLEMENT_MEMORY_TTL_MS: '0' } });
});

test.after.always(async () => {
  await h?.close();
  await redis?.stop();
});

async function allowed(customerId: string): Promise<boolean> {
  const answer = await h.entitlements.checkEntitlement({ customerId, feature: 'reports' }, h.auth);
  return answer.entitlement?.allowed ?? false;
}

async function cacheLookups(result: 'redis' | 'miss'): Promise<number> {
  const text = await (await fetch(`${h.server.baseUrl}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`entitlement_cache_lookups_total{result="${result}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

test.serial(
  'checks answer through a Redis outage and never see stale cache after it',
  async (t) => {
    const customer = await h.linkCustomer('outage-user');
    const created = nowSeconds() - 60;
    const sub = makeSubscription({
      id: 'sub_outage',
      customer,
      status: 'active',
      items: [{ price: 'price_pro_monthly', product: 'prod_pro' }],
    });
    await h.post(makeEvent({ type: 'customer.subscription.created', object: sub, created }));
    t.true(await allowed('outage-user'));
    const hitsBefore = await cacheLookups('redis');
    t.true(await allowed('outage-user'));
    t.is(await cacheLookups('redis'), hitsBefore + 1, 'the second check is a Redis hit');

    await redis.stop();
    t.true(await allowed('outage-user'), 'answers with Redis down');
    const canceled = makeSubscription({
      id: 'sub_outage',
      customer,
      status: 'canceled',
      items: [{ price: 'price_pro_monthly', product: 'prod_pro' }],
    });
    const answer = await h.post(
      makeEvent({ type: 'customer.subscription.deleted', object: canceled, created: created + 10 }),
    );
    t.is(answer.status, 200, 'webhooks apply with Redis down');
    t.false(await allowed('outage-user'), 'the change shows at once');

    await redis.start();
    // The entry cached before the outage still says "allowed"; it must never be served.
    t.false(await allowed('outage-user'));
    await waitFor(async () => (await h.server.app.readiness()).ready, {
      what: 'the service to be ready again',
    });
    t.false(await allowed('outage-user'));
    // The cache fills again once Redis is back: a check becomes a Redis hit.
    await waitFor(
      async () => {
        const before = await cacheLookups('redis');
        await allowed('outage-user');
        return (await cacheLookups('redis')) > before;
      },
      { what: 'a check answered from Redis again' },
    );
    t.false(await allowed('outage-user'));
  },
);
