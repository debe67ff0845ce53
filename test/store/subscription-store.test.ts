// needs: mongodb
/**
 * SubscriptionStore against the shared FerretDB: versions are inserted, the
 * newest wins, and pruning never removes the newest whatever the order in
 * which versions arrive.
 */
import test from 'ava';
import { MongoClient } from 'mongodb';
import { SubscriptionStore } from '../../src/store/subscription-store.js';
import { subscriptionDoc } from '../../src/stripe/subscription-mapping.js';
import { testMongoUrl, uniqueDbName } from '../helpers/services.js';
import { makeSubscription } from '../helpers/stripe-objects.js';

let client: MongoClient;
let store: SubscriptionStore;
let dbName: string;

test.before(async () => {
  client = await new MongoClient(testMongoUrl()).connect();
  dbName = uniqueDbName('subscription_store');
  store = new SubscriptionStore(client.db(dbName));
});

test.after.always(async () => {
  await client?.close();
});

const now = new Date();

function version(subscriptionId: string, status: 'active' | 'past_due' | 'canceled', at: number) {
  // One Stripe customer per subscription: the tests run concurrently.
  const customer = `cus_${subscriptionId}`;
  const subscription = makeSubscription({ id: subscriptionId, customer, status });
  return subscriptionDoc('proj_prune', subscription, at, now);
}

test('pruning after each version keeps the newest, in order and out of order', async (t) => {
  const id = 'sub_prune_orders';
  const v1 = version(id, 'active', 1000);
  const v2 = version(id, 'past_due', 2000);
  const v3 = version(id, 'canceled', 3000);
  for (const doc of [v2, v1, v3]) {
    t.is(await store.record(doc), 'recorded');
    await store.pruneOlderThan(doc);
  }
  const current = await store.current('proj_prune', id);
  t.is(current?.status, 'canceled');
  t.is(current?.event_created, 3000);
  const stored = await client
    .db(dbName)
    .collection('subscriptions')
    .find({ stripe_subscription_id: id })
    .toArray();
  t.deepEqual(
    stored.map((doc) => doc._id),
    [v3._id],
    'only the newest version is left',
  );
});

test('an older version pruned against prunes nothing newer', async (t) => {
  const id = 'sub_prune_late';
  const newer = version(id, 'active', 5000);
  const older = version(id, 'canceled', 4000);
  await store.record(newer);
  await store.record(older);
  t.is(await store.pruneOlderThan(older), 0, 'nothing is older than the late version');
  t.is((await store.current('proj_prune', id))?.status, 'active', 'the newer version still wins');
  t.is(await store.pruneOlderThan(newer), 1, 'the next newer version prunes the late one');
  t.is((await store.current('proj_prune', id))?._id, newer._id);
});

test('a version of the same event time is a duplicate', async (t) => {
  const doc = version('sub_prune_dup', 'active', 7000);
  t.is(await store.record(doc), 'recorded');
  t.is(await store.record(doc), 'duplicate');
});
