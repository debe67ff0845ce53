// needs: mongodb redis
/**
 * Chaos: MongoDB (this test's own FerretDB) is stopped for a while, then
 * started again.
 *
 * While it is down:
 * - every webhook answers 5xx (never 2xx, which would lose the event, nor
 *   4xx, which Stripe does not retry), and stores nothing;
 * - `/readyz` answers 503 with `mongodb: false` (and `redis: true`);
 * - checks and lists of customers whose sets are in the cache keep answering,
 *   correctly, from Redis (the process-memory level is off here, so Redis
 *   alone carries them);
 * - a customer whose set is not cached cannot be answered: CheckEntitlement
 *   is UNAVAILABLE (never a made-up "not allowed"), within the driver's
 *   server selection timeout (3 s; measured: well under 1 s, the driver
 *   already knows the server is gone).
 * The outage is checked twice: at once, and again 3 s later.
 * Once it is back, `/readyz` is 200 again and Stripe's retries (every
 * webhook re-posted until 2xx, with backoff) all apply: the final
 * entitlements are those of the events.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import test from 'ava';
import { readyz } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import {
  comparableMessages,
  forEachLimit,
  type PrivateFerretDb,
  startPrivateFerretDb,
} from '../helpers/chaos.js';
import { uniqueDbName } from '../helpers/services.js';
import {
  makeEvent,
  makeSubscription,
  nowSeconds,
  type SubscriptionItemSpec,
} from '../helpers/stripe-objects.js';
import { pause, waitFor } from '../helpers/wait.js';

const DAY = 86_400;
/** Webhooks posted during the outage, all at once (each waits for server selection). */
const OUTAGE_EVENTS = 12;
const RETRY_ATTEMPTS = 30;
/** After FerretDB is back, the time the service may take to see it (driver heartbeats). */
const RECOVERY_MS = 30_000;

let ferret: PrivateFerretDb | undefined;
let h: BillingHarness | undefined;

test.after.always(async () => {
  await h?.close();
  await ferret?.dispose();
});

/** The error code of a call, or 'ok'. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (err) {
    return err instanceof ConnectError ? Code[err.code] : `not a ConnectError: ${String(err)}`;
  }
}

test('MongoDB down: webhooks 5xx, unready, cached checks answer, uncached UNAVAILABLE; back: retries apply', async (t) => {
  t.timeout(120_000);
  const server = await startPrivateFerretDb();
  ferret = server;
  const harness = await startBillingHarness({
    env: {
      MONGODB_URL: server.url,
      MONGODB_DATABASE: uniqueDbName('chaos_mongodb_down'),
      ENTITLEMENT_MEMORY_TTL_MS: '0',
    },
  });
  h = harness;
  const { entitlements, auth } = harness;
  const base = nowSeconds();
  const pro = (quantity: number): SubscriptionItemSpec => ({
    price: 'price_pro_monthly',
    product: 'prod_pro',
    quantity,
    current_period_start: base - DAY,
    current_period_end: base + 29 * DAY,
  });
  const subscriptionEvent = (
    type: 'customer.subscription.created' | 'customer.subscription.deleted',
    name: string,
    stripeCustomer: string,
    quantity: number,
    created: number,
  ) =>
    makeEvent({
      id: `evt_mongo_down_${name}_${type.split('.').at(-1)}`,
      type,
      created,
      object: makeSubscription({
        id: `sub_mongo_down_${name}`,
        customer: stripeCustomer,
        status: type === 'customer.subscription.deleted' ? 'canceled' : 'active',
        created: base - 2 * DAY,
        current_period_start: base - DAY,
        items: [pro(quantity)],
        ...(type === 'customer.subscription.deleted'
          ? { canceled_at: created, ended_at: created }
          : {}),
      }),
    });

  // Before: `cached` has 3 seats, `unsubscribed` nothing; both are read (so cached).
  // `uncached` has 2 seats but is never read before the outage.
  const cached = await harness.linkCustomer('cached');
  const uncached = await harness.linkCustomer('uncached');
  await harness.linkCustomer('unsubscribed');
  for (const [name, customer, quantity] of [
    ['cached', cached, 3],
    ['uncached', uncached, 2],
  ] as const) {
    const answer = await harness.post(
      subscriptionEvent('customer.subscription.created', name, customer, quantity, base - 600),
    );
    if (answer.status !== 200) throw new Error(`setup: ${answer.status}`);
  }
  // Customers whose events arrive during the outage: new subscriptions, and `cached`
  // loses its subscription.
  const outageEvents = [
    subscriptionEvent('customer.subscription.deleted', 'cached', cached, 3, base - 60),
  ];
  const late: string[] = [];
  await forEachLimit(
    Array.from({ length: OUTAGE_EVENTS - 1 }, (_, i) => i),
    4,
    async (i) => {
      const name = `late${i}`;
      late.push(name);
      const customer = await harness.linkCustomer(name);
      outageEvents.push(
        subscriptionEvent('customer.subscription.created', name, customer, i + 1, base - 60),
      );
    },
  );
  const seats = async (customerId: string) =>
    (await entitlements.checkEntitlement({ customerId, feature: 'seats' }, auth)).entitlement;
  for (const customerId of ['cached', 'unsubscribed']) {
    await seats(customerId);
    await entitlements.listEntitlements({ customerId }, auth);
  }
  const cachedList = comparableMessages(
    await entitlements.listEntitlements({ customerId: 'cached' }, auth),
  );
  t.is((await seats('cached'))?.limit, 3n);

  // Down.
  await server.stop();
  const downAt = Date.now();

  const [webhooks, ready, cachedSeats, cachedListDuring, unsubscribedSeats, uncachedCheck] =
    await Promise.all([
      Promise.all(outageEvents.map((event) => harness.post(event))),
      readyz(harness.server.baseUrl),
      (async () => {
        const start = Date.now();
        const entitlement = await seats('cached');
        return { limit: entitlement?.limit, ms: Date.now() - start };
      })(),
      entitlements.listEntitlements({ customerId: 'cached' }, auth),
      seats('unsubscribed'),
      (async () => {
        const start = Date.now();
        const code = await outcome(seats('uncached'));
        return { code, ms: Date.now() - start };
      })(),
    ]);
  const outageMs = Date.now() - downAt;
  t.log(
    `during the outage (${outageMs} ms of requests): webhooks ${JSON.stringify(
      webhooks.map((w) => w.status),
    )}, cached check ${cachedSeats.ms} ms, uncached check ${uncachedCheck.code} after ` +
      `${uncachedCheck.ms} ms`,
  );
  t.deepEqual(
    webhooks.filter((w) => w.status < 500 || w.status > 599),
    [],
    'every webhook answers 5xx while MongoDB is down',
  );
  t.is(ready.status, 503);
  t.deepEqual(ready.body.checks, { mongodb: false, redis: true });
  t.is(cachedSeats.limit, 3n, 'a cached customer is answered from Redis');
  t.deepEqual(comparableMessages(cachedListDuring), cachedList);
  t.is(unsubscribedSeats?.allowed, false, 'a cached "not allowed" is answered too');
  t.is(uncachedCheck.code, 'Unavailable', 'an uncached customer: UNAVAILABLE');
  // Asked at the same moment, the cached answer comes before the uncached one gives up on MongoDB.
  t.true(
    cachedSeats.ms < uncachedCheck.ms,
    `a cached answer does not wait for MongoDB (${cachedSeats.ms} ms, uncached ${uncachedCheck.ms} ms)`,
  );

  // Still down a while later: the same answers.
  await pause(Math.max(0, downAt + 3000 - Date.now()));
  const [stillReady, stillCached, stillUncached, stillWebhook] = await Promise.all([
    readyz(harness.server.baseUrl),
    seats('cached'),
    outcome(seats('uncached')),
    outageEvents[0] ? harness.post(outageEvents[0]) : Promise.reject(new Error('no event')),
  ]);
  t.deepEqual(
    {
      ready: stillReady.status,
      cached: stillCached?.limit,
      uncached: stillUncached,
      webhook: stillWebhook.status >= 500,
    },
    { ready: 503, cached: 3n, uncached: 'Unavailable', webhook: true },
    `${Date.now() - downAt} ms into the outage`,
  );

  // Back: ready again, and every event delivered by Stripe's retries.
  await server.restart();
  const backAt = Date.now();
  const readyAgain = await waitFor(() => readyz(harness.server.baseUrl), {
    what: '/readyz to say 200 once FerretDB is back',
    until: (ready) => ready.status === 200,
    timeoutMs: RECOVERY_MS,
    everyMs: 250,
  });
  t.log(`/readyz ${readyAgain.status} ${Date.now() - backAt} ms after FerretDB was back`);
  t.is(readyAgain.status, 200);
  t.deepEqual(readyAgain.body.checks, { mongodb: true, redis: true });

  const retried = await Promise.all(
    outageEvents.map(async (event) => {
      for (let attempt = 1; ; attempt += 1) {
        const answer = await harness.post(event);
        if ((answer.status >= 200 && answer.status < 300) || attempt >= RETRY_ATTEMPTS) {
          return { attempt, status: answer.status, outcome: answer.body.outcome };
        }
        await pause(Math.min(100 * 2 ** attempt, 2000)); // Stripe retries later
      }
    }),
  );
  t.deepEqual(
    retried.filter((r) => r.status !== 200 || r.outcome !== 'processed'),
    [],
    'every retried event applies (once: none was applied during the outage)',
  );

  t.is((await seats('cached'))?.allowed, false, 'the cancellation reached the cache');
  t.is((await seats('uncached'))?.limit, 2n);
  const lateSeats = await Promise.all(late.map(async (name) => (await seats(name))?.limit));
  t.deepEqual(
    lateSeats,
    late.map((name) => BigInt(Number(name.slice('late'.length)) + 1)),
  );
  const computed = await harness.server.app.entitlements.compute(
    harness.project.projectId,
    'cached',
  );
  t.deepEqual(computed.entitlements, []);
});
