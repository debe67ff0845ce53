// needs: mongodb redis
/**
 * customer.subscription.deleted takes the plan's features away; a duplicate
 * is a no-op; an older event of the subscription arriving after it never
 * gives them back. (delivery-order.test.ts races a deleted against its
 * created.)
 */
import test from 'ava';
import { makeEvent, nowSeconds } from '../helpers/stripe-objects.js';
import { allowed, deliverTwice, proSubscription, useBillingHarness } from './helpers.js';

const harness = useBillingHarness();

test('deleted takes the features away', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('sub-deleted');
  const created = nowSeconds() - 100;
  await h.post(
    makeEvent({
      type: 'customer.subscription.created',
      object: proSubscription(customer, 'sub_del1'),
      created,
    }),
  );
  t.true(await allowed(h, 'sub-deleted', 'reports'));
  const deleted = proSubscription(customer, 'sub_del1', {
    status: 'canceled',
    ended_at: created + 5,
  });
  await h.post(
    makeEvent({ type: 'customer.subscription.deleted', object: deleted, created: created + 5 }),
  );
  t.false(await allowed(h, 'sub-deleted', 'reports'));
});

test('a duplicate delivery is a no-op', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('del-dup');
  const created = nowSeconds() - 100;
  await h.post(
    makeEvent({
      type: 'customer.subscription.created',
      object: proSubscription(customer, 'sub_del_dup'),
      created,
    }),
  );
  const event = makeEvent({
    type: 'customer.subscription.deleted',
    object: proSubscription(customer, 'sub_del_dup', { status: 'canceled', ended_at: created + 5 }),
    created: created + 5,
  });
  await deliverTwice(t, h, event);
  t.false(await allowed(h, 'del-dup', 'reports'));
});

test('an older update arriving after the deletion does not give the features back', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('del-late');
  const created = nowSeconds() - 100;
  await h.post(
    makeEvent({
      type: 'customer.subscription.deleted',
      object: proSubscription(customer, 'sub_del_late', {
        status: 'canceled',
        ended_at: created + 5,
      }),
      created: created + 5,
    }),
  );
  const late = await h.post(
    makeEvent({
      type: 'customer.subscription.updated',
      object: proSubscription(customer, 'sub_del_late'),
      created,
    }),
  );
  t.is(late.status, 200);
  t.false(await allowed(h, 'del-late', 'reports'));
});
