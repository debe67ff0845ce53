// needs: mongodb redis
/**
 * checkout.session.async_payment_succeeded: a purchase paid by a delayed
 * method (a bank debit) completes unpaid and gives access only once this
 * event says it was paid; a duplicate is a no-op; the older unpaid
 * completion arriving after it does not take the access back.
 */
import test from 'ava';
import { CheckoutMode } from '../../gen/billing/v1/checkout_pb.js';
import type { BillingHarness } from '../helpers/billing-harness.js';
import { makeEvent, nowSeconds } from '../helpers/stripe-objects.js';
import { allowed, deliverTwice, startCheckout, useBillingHarness } from './helpers.js';

const harness = useBillingHarness();

/** A one-time checkout of `customerId`, completed unpaid, and the same session once paid. */
async function delayedPayment(h: BillingHarness, customerId: string) {
  const started = await startCheckout(h, customerId, CheckoutMode.PAYMENT, 'price_lifetime');
  const { session } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: h.project.stripeSecretKey,
    payment_status: 'unpaid',
  });
  return { unpaid: session, paid: { ...session, payment_status: 'paid' as const } };
}

test('an async payment gives access only once it succeeds', async (t) => {
  const h = harness();
  const { unpaid, paid } = await delayedPayment(h, 'co-async');
  await h.post(makeEvent({ type: 'checkout.session.completed', object: unpaid }));
  t.false(await allowed(h, 'co-async', 'export'));
  const answer = await h.post(
    makeEvent({ type: 'checkout.session.async_payment_succeeded', object: paid }),
  );
  t.is(answer.body.outcome, 'processed');
  t.true(await allowed(h, 'co-async', 'export'));
});

test('a duplicate delivery is a no-op', async (t) => {
  const h = harness();
  const { unpaid, paid } = await delayedPayment(h, 'async-dup');
  const now = nowSeconds();
  await h.post(
    makeEvent({ type: 'checkout.session.completed', object: unpaid, created: now - 60 }),
  );
  const event = makeEvent({ type: 'checkout.session.async_payment_succeeded', object: paid });
  await deliverTwice(t, h, event);
  t.true(await allowed(h, 'async-dup', 'export'));
});

test('the older unpaid completion arriving after the payment does not take access back', async (t) => {
  const h = harness();
  const { unpaid, paid } = await delayedPayment(h, 'async-late');
  const now = nowSeconds();
  await h.post(
    makeEvent({ type: 'checkout.session.async_payment_succeeded', object: paid, created: now - 5 }),
  );
  t.true(await allowed(h, 'async-late', 'export'));
  const late = await h.post(
    makeEvent({ type: 'checkout.session.completed', object: unpaid, created: now - 60 }),
  );
  t.is(late.body.outcome, 'processed');
  t.true(await allowed(h, 'async-late', 'export'));
});
