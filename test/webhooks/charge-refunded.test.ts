// needs: mongodb redis
/**
 * charge.refunded: a full refund takes a one-time purchase back, a partial
 * one keeps it; a refund that arrives before its purchase still wins; a
 * duplicate is a no-op. The purchases are checkouts the service really
 * created through the fake Stripe.
 */
import test from 'ava';
import { CheckoutMode } from '../../gen/billing/v1/checkout_pb.js';
import type { BillingHarness } from '../helpers/billing-harness.js';
import { makeCharge, makeEvent } from '../helpers/stripe-objects.js';
import { allowed, deliverTwice, startCheckout, useBillingHarness } from './helpers.js';

const harness = useBillingHarness();

/** A one-time checkout of `customerId`, completed, and a refund of its charge of `refunded` cents. */
async function purchase(h: BillingHarness, customerId: string) {
  const started = await startCheckout(h, customerId, CheckoutMode.PAYMENT, 'price_lifetime');
  const { session } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: h.project.stripeSecretKey,
  });
  const completed = makeEvent({ type: 'checkout.session.completed', object: session });
  const refund = (refunded: number) =>
    makeEvent({
      type: 'charge.refunded',
      object: makeCharge({
        payment_intent: String(session.payment_intent),
        customer: started.stripeCustomerId,
        amount: 9900,
        amount_refunded: refunded,
      }),
    });
  return { completed, refund };
}

test('a partial refund keeps the purchase; a full refund takes it back', async (t) => {
  const h = harness();
  const { completed, refund } = await purchase(h, 'co-pay');
  await h.post(completed);
  t.true(await allowed(h, 'co-pay', 'export'));
  await h.post(refund(100));
  t.true(await allowed(h, 'co-pay', 'export'), 'a partial refund keeps the purchase');
  const answer = await h.post(refund(9900));
  t.is(answer.body.outcome, 'processed');
  t.false(await allowed(h, 'co-pay', 'export'));
});

test('a refund that arrives before its purchase still wins', async (t) => {
  const h = harness();
  const { completed, refund } = await purchase(h, 'co-refund-first');
  await h.post(refund(9900));
  await h.post(completed);
  t.false(await allowed(h, 'co-refund-first', 'export'));
});

test('a duplicate delivery is a no-op', async (t) => {
  const h = harness();
  const { completed, refund } = await purchase(h, 'refund-dup');
  await h.post(completed);
  const event = refund(9900);
  await deliverTwice(t, h, event);
  t.false(await allowed(h, 'refund-dup', 'export'));
});
