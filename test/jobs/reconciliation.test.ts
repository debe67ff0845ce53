// needs: mongodb redis
/**
 * Reconciliation against a fake Stripe holding 10,000 subscriptions, with
 * drift of each class injected into MongoDB: a dry run reports every drifted
 * subscription and changes nothing; a real run repairs them all (a second
 * run finds none) and entitlement checks follow; Stripe is walked page by
 * page (100 a page), never one call per subscription. The Stripe account
 * also holds another project's subscriptions (a shared account): they are
 * neither counted nor repaired.
 */
import test from 'ava';
import { MongoClient } from 'mongodb';
import type Stripe from 'stripe';
import type { DriftClass, SubscriptionDoc } from '../../src/store/documents.js';
import { subscriptionDoc } from '../../src/stripe/subscription-mapping.js';
import { scrapeAll } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { makePrice, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';
import { listCalls, waitForRun } from './helpers.js';

const total = 10_000;
const missingLocallyCount = 50;
const staleCount = 60;
const missingInStripeCount = 40;
/** Local subscriptions already canceled that Stripe does not list: not drift. */
const endedLocallyCount = 5;
/** In the same Stripe account: another project's customers', and unmarked customers'. */
const otherProjectCount = 300;
const unmarkedCount = 10;

/** Every subscription of the Stripe account: the walk pages through all of them. */
const listed = total + otherProjectCount + unmarkedCount;

let h: BillingHarness;
let mongo: MongoClient;
const injected: Record<DriftClass, Set<string>> = {
  missing_locally: new Set(),
  stale: new Set(),
  missing_in_stripe: new Set(),
};
let localVersions = 0;
const timings: string[] = [];

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await work();
  timings.push(`${label} ${Date.now() - started} ms`);
  return result;
}

test.before(async () => {
  h = await startBillingHarness({
    env: { JOB_POLL_MS: '100', RECONCILIATION_LEASE_MS: '5000' },
  });
  mongo = new MongoClient(h.server.config.mongodbUrl);
  await mongo.connect();
  const projectId = h.project.projectId;
  const apiKey = h.project.stripeSecretKey;

  // Four customers whose entitlements tell the classes apart ('reports' comes from price_pro_monthly).
  const customerOf: Record<string, string> = {};
  for (const user of ['u-missing-locally', 'u-stale', 'u-missing-in-stripe', 'u-unchanged'])
    customerOf[user] = await h.linkCustomer(user);
  const pro = makePrice({
    id: 'price_pro_monthly',
    product: 'prod_pro',
    unit_amount: 2000,
    recurring: { interval: 'month' },
  });
  const other = makePrice({
    id: 'price_other',
    product: 'prod_other',
    unit_amount: 900,
    recurring: { interval: 'month' },
  });

  const created = nowSeconds() - 30 * 86_400;
  const eventTime = nowSeconds() - 86_400;
  const now = new Date();
  const special = (user: string): Stripe.Subscription =>
    makeSubscription({ customer: customerOf[user], created, items: [{ price: pro }] });

  const stripeSubs: Stripe.Subscription[] = [];
  const local: SubscriptionDoc[] = [];
  const inStripeOnly = special('u-missing-locally');
  const staleSpecial = special('u-stale');
  stripeSubs.push(inStripeOnly, staleSpecial, special('u-unchanged'));
  // The project's own customers, marked as the service marks those it creates.
  const owned = Array.from(
    { length: 20 },
    () => h.fake.seedCustomer({ metadata: { billing_project_id: projectId } }, apiKey).id,
  );
  for (let i = stripeSubs.length; i < total; i += 1) {
    stripeSubs.push(
      makeSubscription({
        customer: owned[i % owned.length],
        created,
        items: [{ price: other, quantity: 1 + (i % 3) }],
      }),
    );
  }
  for (const [index, sub] of stripeSubs.entries()) {
    if (sub === inStripeOnly || (index >= 3 && index < 3 + missingLocallyCount - 1)) {
      injected.missing_locally.add(sub.id);
      continue; // MongoDB never heard of it
    }
    const isStale = sub === staleSpecial || (index >= 100 && index < 100 + staleCount - 1);
    if (isStale) {
      injected.stale.add(sub.id);
      // MongoDB's copy is behind: canceled locally (or a different quantity).
      const drifted: Stripe.Subscription =
        sub === staleSpecial || index % 2 === 0
          ? { ...sub, status: 'canceled' }
          : {
              ...sub,
              items: {
                ...sub.items,
                data: sub.items.data.map((item) => ({ ...item, quantity: 99 })),
              },
            };
      local.push(subscriptionDoc(projectId, drifted, eventTime, now));
    } else {
      local.push(subscriptionDoc(projectId, sub, eventTime, now));
    }
  }
  // In MongoDB only: live ones (drift), and a few already canceled (not drift).
  const localOnly = [special('u-missing-in-stripe')];
  for (let i = 1; i < missingInStripeCount; i += 1)
    localOnly.push(makeSubscription({ created, items: [{ price: other }] }));
  for (const sub of localOnly) {
    injected.missing_in_stripe.add(sub.id);
    local.push(subscriptionDoc(projectId, sub, eventTime, now));
  }
  for (let i = 0; i < endedLocallyCount; i += 1) {
    const ended = makeSubscription({ created, status: 'canceled', items: [{ price: other }] });
    local.push(subscriptionDoc(projectId, ended, eventTime, now));
  }

  h.fake.seedSubscriptions(stripeSubs, apiKey);
  const theirs = h.fake.seedCustomer(
    { metadata: { billing_project_id: 'proj_next_door' } },
    apiKey,
  );
  const unmarked = h.fake.seedCustomer({}, apiKey);
  h.fake.seedSubscriptions(
    [
      ...Array.from({ length: otherProjectCount }, () =>
        makeSubscription({ customer: theirs.id, created, items: [{ price: pro }] }),
      ),
      ...Array.from({ length: unmarkedCount }, () =>
        makeSubscription({ customer: unmarked.id, created, items: [{ price: pro }] }),
      ),
    ],
    apiKey,
  );
  const collection = mongo
    .db(h.server.config.mongodbDatabase)
    .collection<SubscriptionDoc>('subscriptions');
  await timed(`insert ${local.length} local versions`, async () => {
    for (let i = 0; i < local.length; i += 1000)
      await collection.insertMany(local.slice(i, i + 1000));
  });
  localVersions = local.length;
});

test.after.always(async () => {
  await mongo?.close();
  await h?.close();
});

const check = async (customerId: string): Promise<boolean> => {
  const answer = await h.entitlements.checkEntitlement({ customerId, feature: 'reports' }, h.auth);
  return answer.entitlement?.allowed ?? false;
};

async function entitlementsOfAll(): Promise<Record<string, boolean>> {
  const users = ['u-missing-locally', 'u-stale', 'u-missing-in-stripe', 'u-unchanged'];
  const result: Record<string, boolean> = {};
  for (const user of users) result[user] = await check(user);
  return result;
}

async function storedVersions(): Promise<number> {
  return mongo
    .db(h.server.config.mongodbDatabase)
    .collection('subscriptions')
    .countDocuments({ project_id: h.project.projectId });
}

async function reconcile(dryRun: boolean, label: string) {
  const app = h.server.app;
  const projectId = h.project.projectId;
  h.fake.clearRequestLog();
  return timed(label, async () => {
    const { run, created } = await app.reconciliation.start({
      projectId,
      dryRun,
      triggeredBy: 'test',
      reason: label,
    });
    if (!created) throw new Error('a run was already going');
    return waitForRun(app, projectId, run._id);
  });
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const text = await scrapeAll(h.server);
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

test.serial(
  'a dry run reports every drifted subscription exactly and changes nothing',
  async (t) => {
    const before = await timed('4 checks', entitlementsOfAll);
    t.deepEqual(before, {
      'u-missing-locally': false,
      'u-stale': false,
      'u-missing-in-stripe': true,
      'u-unchanged': true,
    });
    const run = await reconcile(true, 'dry run');
    t.is(run.state, 'succeeded', run.error ?? '');
    t.true(run.dry_run);
    t.deepEqual(run.counts, {
      checked: total,
      missing_locally: missingLocallyCount,
      stale: staleCount,
      missing_in_stripe: missingInStripeCount,
      repaired: 0,
      errors: 0,
    });
    for (const driftClass of ['missing_locally', 'stale', 'missing_in_stripe'] as const)
      t.deepEqual(
        [...run.drift_samples[driftClass]].sort(),
        [...injected[driftClass]].sort(),
        driftClass,
      );

    // Pages of 100, never one call per subscription.
    const calls = listCalls(h.fake, h.project.stripeSecretKey);
    t.is(run.stripe_list_calls, calls);
    t.true(calls <= Math.ceil(listed / 100) + 2, `${calls} list calls`);
    t.is(
      h.fake.requestLog.filter((r) => r.path.startsWith('/v1/subscriptions/')).length,
      0,
      'no subscription fetched one by one',
    );

    t.is(await timed('count', storedVersions), localVersions, 'no version written');
    t.deepEqual(await entitlementsOfAll(), before);
    const labels = { project: h.project.projectId, dry_run: 'true' };
    t.is(
      await timed('scrape', () =>
        metricValue('reconciliation_drift_total', { ...labels, class: 'stale' }),
      ),
      staleCount,
    );
    t.is(
      await metricValue('reconciliation_drift_total', { ...labels, class: 'missing_locally' }),
      missingLocallyCount,
    );
  },
);

test.serial('a real run repairs every drifted subscription; a second run finds none', async (t) => {
  const run = await reconcile(false, 'real run');
  t.is(run.state, 'succeeded', run.error ?? '');
  t.deepEqual(run.counts, {
    checked: total,
    missing_locally: missingLocallyCount,
    stale: staleCount,
    missing_in_stripe: missingInStripeCount,
    repaired: missingLocallyCount + staleCount + missingInStripeCount,
    errors: 0,
  });
  t.true(run.stripe_list_calls <= Math.ceil(listed / 100) + 2);
  t.is(
    await storedVersions(),
    localVersions + missingLocallyCount + staleCount + missingInStripeCount,
    'one new version per repaired subscription',
  );
  t.deepEqual(await entitlementsOfAll(), {
    'u-missing-locally': true,
    'u-stale': true,
    'u-missing-in-stripe': false,
    'u-unchanged': true,
  });

  const again = await reconcile(false, 'second run');
  t.is(again.state, 'succeeded', again.error ?? '');
  t.deepEqual(again.counts, {
    checked: total,
    missing_locally: 0,
    stale: 0,
    missing_in_stripe: 0,
    repaired: 0,
    errors: 0,
  });
  t.log(timings.join('; '));
});
