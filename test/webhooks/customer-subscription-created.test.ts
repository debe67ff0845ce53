// needs: mongodb redis
/**
 * customer.subscription.created gives the plan's features (seats times
 * quantity, the subscription as their source); a duplicate is a no-op; a
 * created that arrives after a newer event of its subscription changes
 * nothing.
 */
import test from 'ava';
import { EntitlementSourceKind } from '../../gen/billing/v1/entitlements_pb.js';
import { makeEvent, nowSeconds } from '../helpers/stripe-objects.js';
import {
  allowed,
  deliverTwice,
  entitlementOf,
  proSubscription,
  useBillingHarness,
} from './helpers.js';

const harness = useBillingHarness();

test('created gives the features, with seats times quantity and the source', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('sub-created');
  t.false(await allowed(h, 'sub-created', 'reports'));
  const sub = proSubscription(customer, 'sub_created1');
  const answer = await h.post(makeEvent({ type: 'customer.subscription.created', object: sub }));
  t.is(answer.status, 200);
  t.is(answer.body.outcome, 'processed');

  const reports = await entitlementOf(h, 'sub-created', 'reports');
  t.true(reports.allowed);
  t.is(reports.limit, undefined);
  t.is(reports.sources[0]?.kind, EntitlementSourceKind.SUBSCRIPTION);
  t.is(reports.sources[0]?.id, 'sub_created1');
  t.is(reports.sources[0]?.status, 'active');
  t.is((await entitlementOf(h, 'sub-created', 'seats')).limit, 3n);
});

test('a duplicate delivery is a no-op', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('sub-dup');
  const event = makeEvent({
    type: 'customer.subscription.created',
    object: proSubscription(customer, 'sub_dup1'),
  });
  await deliverTwice(t, h, event);
  t.true(await allowed(h, 'sub-dup', 'reports'));
  t.is((await entitlementOf(h, 'sub-dup', 'seats')).limit, 3n);
});

test('an older created arriving late never overwrites a newer state', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('sub-late');
  const created = nowSeconds() - 100;
  const deleted = proSubscription(customer, 'sub_late1', {
    status: 'canceled',
    ended_at: created + 5,
  });
  await h.post(
    makeEvent({ type: 'customer.subscription.deleted', object: deleted, created: created + 5 }),
  );
  const late = await h.post(
    makeEvent({
      type: 'customer.subscription.created',
      object: proSubscription(customer, 'sub_late1'),
      created,
    }),
  );
  t.is(late.status, 200);
  t.false(await allowed(h, 'sub-late', 'reports'));
});
