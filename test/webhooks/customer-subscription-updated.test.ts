// needs: mongodb redis
/**
 * customer.subscription.updated changes what a customer has: seats follow the
 * quantity, a cancellation at period end keeps access until then, past_due
 * keeps it for the grace period (past-due-grace.test.ts has the rest of the
 * grace rules); a duplicate is a no-op; an older update arriving late never
 * overwrites a newer one.
 */
import test from 'ava';
import { makeEvent, nowSeconds } from '../helpers/stripe-objects.js';
import { day, deliverTwice, entitlementOf, proSubscription, useBillingHarness } from './helpers.js';

const harness = useBillingHarness();

test('updated with cancel_at_period_end keeps access until the period ends', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('sub-canceling');
  const created = nowSeconds() - 100;
  const sub = proSubscription(customer, 'sub_canceling1', { created: created - day });
  await h.post(makeEvent({ type: 'customer.subscription.created', object: sub, created }));
  const canceling = proSubscription(customer, 'sub_canceling1', {
    created: created - day,
    cancel_at_period_end: true,
  });
  await h.post(
    makeEvent({
      type: 'customer.subscription.updated',
      object: canceling,
      created: created + 10,
      previous_attributes: { cancel_at_period_end: false },
    }),
  );
  const reports = await entitlementOf(h, 'sub-canceling', 'reports');
  t.true(reports.allowed);
  t.is(Number(reports.validUntil?.seconds), canceling.items.data[0]?.current_period_end);
});

test('past_due keeps access for the grace period from the event that showed it past_due', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('sub-pastdue');
  const now = nowSeconds();
  const pastDue = (created: number) =>
    makeEvent({
      type: 'customer.subscription.updated',
      object: proSubscription(customer, 'sub_pd1', { status: 'past_due' }),
      created,
    });
  await h.post(pastDue(now - 10));
  const within = await entitlementOf(h, 'sub-pastdue', 'reports');
  t.true(within.allowed);
  t.is(Number(within.validUntil?.seconds), now - 10 + 3 * day);

  // Another past_due event (a retried payment that failed again) does not restart it.
  await h.post(pastDue(now - 5));
  t.is(
    Number((await entitlementOf(h, 'sub-pastdue', 'reports')).validUntil?.seconds),
    now - 10 + 3 * day,
  );

  // Learning that it was past_due four days ago ends the grace period.
  await h.post(pastDue(now - 4 * day));
  t.false((await entitlementOf(h, 'sub-pastdue', 'reports')).allowed);
});

test('a new quantity changes the seats; a duplicate delivery is a no-op', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('upd-dup');
  const now = nowSeconds();
  await h.post(
    makeEvent({
      type: 'customer.subscription.created',
      object: proSubscription(customer, 'sub_upd_dup', { quantity: 3 }),
      created: now - 60,
    }),
  );
  const event = makeEvent({
    type: 'customer.subscription.updated',
    object: proSubscription(customer, 'sub_upd_dup', { quantity: 5 }),
    created: now - 30,
  });
  await deliverTwice(t, h, event);
  t.is((await entitlementOf(h, 'upd-dup', 'seats')).limit, 5n);
});

test('an older update arriving late never overwrites a newer one', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('upd-late');
  const now = nowSeconds();
  await h.post(
    makeEvent({
      type: 'customer.subscription.updated',
      object: proSubscription(customer, 'sub_upd_late', { quantity: 5 }),
      created: now - 10,
    }),
  );
  const late = await h.post(
    makeEvent({
      type: 'customer.subscription.updated',
      object: proSubscription(customer, 'sub_upd_late', { quantity: 2 }),
      created: now - 50,
    }),
  );
  t.is(late.status, 200);
  t.is(late.body.outcome, 'processed');
  t.is((await entitlementOf(h, 'upd-late', 'seats')).limit, 5n);
});
