// needs: mongodb redis
/**
 * checkout.session.completed (both modes), async_payment_succeeded,
 * charge.refunded and invoice events, each from a session the service
 * really created through the fake Stripe.
 */
import test from 'ava';
import { CheckoutMode } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementSourceKind } from '../../gen/billing/v1/entitlements_pb.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import {
  makeCharge,
  makeEvent,
  makeInvoice,
  makeSubscription,
  nowSeconds,
} from '../helpers/stripe-objects.js';

let h: BillingHarness;

test.before(async () => {
  h = await startBillingHarness();
});

test.after.always(async () => {
  await h?.close();
});

async function allowed(customerId: string, feature: string): Promise<boolean> {
  const answer = await h.entitlements.checkEntitlement({ customerId, feature }, h.auth);
  return answer.entitlement?.allowed ?? false;
}

async function startCheckout(customerId: string, mode: CheckoutMode, priceId: string) {
  return h.checkout.createCheckoutSession(
    {
      customerId,
      mode,
      lineItems: [{ priceId, quantity: 1n }],
      successUrl: 'https://app.example/ok',
      cancelUrl: 'https://app.example/cancel',
    },
    h.auth,
  );
}

const apiKey = () => h.project.stripeSecretKey;

test('subscription checkout completed gives the plan at once', async (t) => {
  const started = await startCheckout('co-sub', CheckoutMode.SUBSCRIPTION, 'price_pro_monthly');
  const { session, subscription } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: apiKey(),
  });
  t.truthy(subscription);
  const answer = await h.post(makeEvent({ type: 'checkout.session.completed', object: session }));
  t.is(answer.body.outcome, 'processed');
  t.true(await allowed('co-sub', 'reports'));
});

test('a one-time purchase gives its feature; a full refund takes it back', async (t) => {
  const started = await startCheckout('co-pay', CheckoutMode.PAYMENT, 'price_lifetime');
  const { session } = h.fake.completeCheckoutSession(started.sessionId, { apiKey: apiKey() });
  await h.post(makeEvent({ type: 'checkout.session.completed', object: session }));
  const exported = await h.entitlements.checkEntitlement(
    { customerId: 'co-pay', feature: 'export' },
    h.auth,
  );
  t.true(exported.entitlement?.allowed);
  t.is(exported.entitlement?.sources[0]?.kind, EntitlementSourceKind.PURCHASE);
  t.is(exported.entitlement?.sources[0]?.id, session.id);

  const partial = makeCharge({
    payment_intent: String(session.payment_intent),
    customer: started.stripeCustomerId,
    amount: 9900,
    amount_refunded: 100,
  });
  await h.post(makeEvent({ type: 'charge.refunded', object: partial }));
  t.true(await allowed('co-pay', 'export'), 'a partial refund keeps the purchase');

  const full = makeCharge({
    payment_intent: String(session.payment_intent),
    customer: started.stripeCustomerId,
    amount: 9900,
    amount_refunded: 9900,
  });
  await h.post(makeEvent({ type: 'charge.refunded', object: full }));
  t.false(await allowed('co-pay', 'export'));
});

test('an async payment gives access only once it succeeds', async (t) => {
  const started = await startCheckout('co-async', CheckoutMode.PAYMENT, 'price_lifetime');
  const { session } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: apiKey(),
    payment_status: 'unpaid',
  });
  await h.post(makeEvent({ type: 'checkout.session.completed', object: session }));
  t.false(await allowed('co-async', 'export'));
  const paid = { ...session, payment_status: 'paid' as const };
  await h.post(makeEvent({ type: 'checkout.session.async_payment_succeeded', object: paid }));
  t.true(await allowed('co-async', 'export'));
});

test('a refund that arrives before its purchase still wins', async (t) => {
  const started = await startCheckout('co-refund-first', CheckoutMode.PAYMENT, 'price_lifetime');
  const { session } = h.fake.completeCheckoutSession(started.sessionId, { apiKey: apiKey() });
  const refund = makeCharge({
    payment_intent: String(session.payment_intent),
    customer: started.stripeCustomerId,
    amount: 9900,
    amount_refunded: 9900,
  });
  await h.post(makeEvent({ type: 'charge.refunded', object: refund }));
  await h.post(makeEvent({ type: 'checkout.session.completed', object: session }));
  t.false(await allowed('co-refund-first', 'export'));
});

test('invoice.payment_failed refreshes the subscription from Stripe', async (t) => {
  const started = await startCheckout('co-invoice', CheckoutMode.SUBSCRIPTION, 'price_pro_monthly');
  const { session, subscription } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: apiKey(),
  });
  await h.post(
    makeEvent({
      type: 'checkout.session.completed',
      object: session,
      created: nowSeconds() - 5 * 86400,
    }),
  );
  t.true(await allowed('co-invoice', 'reports'));
  if (!subscription) throw new Error('the fake made no subscription');
  // Stripe moved it to past_due four days ago, beyond the 3-day grace period.
  const now = nowSeconds();
  const pastDue = makeSubscription({
    id: subscription.id,
    customer: started.stripeCustomerId,
    status: 'past_due',
    items: [
      {
        price: 'price_pro_monthly',
        product: 'prod_pro',
        current_period_start: now - 10 * 86400,
        current_period_end: now + 20 * 86400,
      },
    ],
  });
  await h.post(
    makeEvent({ type: 'customer.subscription.updated', object: pastDue, created: now - 4 * 86400 }),
  );
  // Stripe tried again and failed again: the invoice event says nothing of the
  // subscription, so its state is fetched; it is past_due as before.
  h.fake.setSubscription(pastDue, apiKey());
  const invoice = makeInvoice({
    customer: started.stripeCustomerId,
    subscription: subscription.id,
    status: 'open',
  });
  const answer = await h.post(makeEvent({ type: 'invoice.payment_failed', object: invoice }));
  t.is(answer.body.outcome, 'processed');
  t.false(await allowed('co-invoice', 'reports'));
});

// Serial: failNext fails whatever request comes next, so nothing else may run.
test.serial('a failure answers 500 and Stripe retry applies the event', async (t) => {
  const started = await startCheckout('co-retry', CheckoutMode.PAYMENT, 'price_lifetime');
  const { session } = h.fake.completeCheckoutSession(started.sessionId, { apiKey: apiKey() });
  const event = makeEvent({ type: 'checkout.session.completed', object: session });
  // Listing the line items fails (the SDK retries twice, so three failures).
  h.fake.failNext(3, 500);
  const failed = await h.post(event);
  t.is(failed.status, 500);
  t.false(await allowed('co-retry', 'export'));
  const retried = await h.post(event);
  t.is(retried.status, 200);
  t.is(retried.body.outcome, 'processed');
  t.true(await allowed('co-retry', 'export'));
});
