/**
 * invoice.paid: the invoice does not carry the subscription, so the service
 * fetches its current state from Stripe and applies it as of the event: a
 * past_due subscription whose invoice is paid gives access again; a
 * duplicate is a no-op; an older payment arriving after a newer state never
 * overwrites it.
 */
import test from 'ava';
import type Stripe from 'stripe';
import type { BillingHarness } from '../helpers/billing-harness.js';
import { makeEvent, makeInvoice, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';
import { allowed, day, entitlementOf, useBillingHarness } from './helpers.js';

const harness = useBillingHarness();

/** A pro subscription of a new customer, past_due for five days: beyond its grace period. */
async function pastDueSubscription(h: BillingHarness, customerId: string) {
  const now = nowSeconds();
  const stripeCustomer = await h.linkCustomer(customerId);
  const state = (status: Stripe.Subscription.Status, extra: { ended_at?: number } = {}) =>
    makeSubscription({
      id: `sub_${customerId.replaceAll('-', '_')}`,
      customer: stripeCustomer,
      status,
      created: now - 10 * day,
      items: [
        {
          price: 'price_pro_monthly',
          product: 'prod_pro',
          current_period_start: now - 10 * day,
          current_period_end: now + 20 * day,
        },
      ],
      ...extra,
    });
  await h.post(
    makeEvent({
      type: 'customer.subscription.updated',
      object: state('past_due'),
      created: now - 5 * day,
    }),
  );
  const paid = (created: number) =>
    makeEvent({
      type: 'invoice.paid',
      object: makeInvoice({
        customer: stripeCustomer,
        subscription: state('active').id,
        status: 'paid',
      }),
      created,
    });
  return { now, state, paid };
}

test('a paid invoice brings a past_due subscription back to active', async (t) => {
  const h = harness();
  const { now, state, paid } = await pastDueSubscription(h, 'inv-paid');
  t.false(await allowed(h, 'inv-paid', 'reports'), 'past its grace period');
  h.fake.setSubscription(state('active'), h.project.stripeSecretKey);
  const answer = await h.post(paid(now - 60));
  t.is(answer.status, 200);
  t.is(answer.body.outcome, 'processed');
  const reports = await entitlementOf(h, 'inv-paid', 'reports');
  t.true(reports.allowed);
  t.is(reports.sources[0]?.status, 'active');
});

test('a duplicate delivery is a no-op', async (t) => {
  const h = harness();
  const { now, state, paid } = await pastDueSubscription(h, 'inv-paid-dup');
  h.fake.setSubscription(state('active'), h.project.stripeSecretKey);
  const event = paid(now - 60);
  t.is((await h.post(event)).body.outcome, 'processed');
  const again = await h.post(event);
  t.is(again.status, 200);
  t.is(again.body.outcome, 'duplicate');
  t.true(await allowed(h, 'inv-paid-dup', 'reports'));
});

test('an older payment arriving after a newer state never overwrites it', async (t) => {
  const h = harness();
  const { now, state, paid } = await pastDueSubscription(h, 'inv-paid-late');
  // Stripe gave up on the invoice and canceled the subscription a minute ago...
  await h.post(
    makeEvent({
      type: 'customer.subscription.deleted',
      object: state('canceled', { ended_at: now - 60 }),
      created: now - 60,
    }),
  );
  // ...and an older payment event arrives now, while Stripe (in this test) still shows it active.
  h.fake.setSubscription(state('active'), h.project.stripeSecretKey);
  const late = await h.post(paid(now - 2 * day));
  t.is(late.body.outcome, 'processed');
  t.false(await allowed(h, 'inv-paid-late', 'reports'));
});
