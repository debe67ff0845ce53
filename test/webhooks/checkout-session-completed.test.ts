// needs: mongodb redis
/**
 * checkout.session.completed, from a session the service really created
 * through the fake Stripe: a subscription checkout gives the plan at once, a
 * one-time purchase gives its feature; a duplicate is a no-op; a completion
 * arriving after a newer event of its subscription changes nothing; a
 * failure answers 500 and Stripe's retry applies it.
 */
import test from 'ava';
import { CheckoutMode } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementSourceKind } from '../../gen/billing/v1/entitlements_pb.js';
import { makeEvent, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';
import {
  allowed,
  deliverTwice,
  entitlementOf,
  startCheckout,
  useBillingHarness,
} from './helpers.js';

const harness = useBillingHarness();

test('subscription checkout completed gives the plan at once', async (t) => {
  const h = harness();
  const started = await startCheckout(h, 'co-sub', CheckoutMode.SUBSCRIPTION, 'price_pro_monthly');
  const { session, subscription } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: h.project.stripeSecretKey,
  });
  t.truthy(subscription);
  const answer = await h.post(makeEvent({ type: 'checkout.session.completed', object: session }));
  t.is(answer.body.outcome, 'processed');
  t.true(await allowed(h, 'co-sub', 'reports'));
});

test('a one-time purchase gives its feature, with the checkout as its source', async (t) => {
  const h = harness();
  const started = await startCheckout(h, 'co-pay', CheckoutMode.PAYMENT, 'price_lifetime');
  const { session } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: h.project.stripeSecretKey,
  });
  await h.post(makeEvent({ type: 'checkout.session.completed', object: session }));
  const exported = await entitlementOf(h, 'co-pay', 'export');
  t.true(exported.allowed);
  t.is(exported.sources[0]?.kind, EntitlementSourceKind.PURCHASE);
  t.is(exported.sources[0]?.id, session.id);
});

test('a duplicate delivery is a no-op', async (t) => {
  const h = harness();
  const started = await startCheckout(h, 'co-dup', CheckoutMode.PAYMENT, 'price_lifetime');
  const { session } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: h.project.stripeSecretKey,
  });
  const event = makeEvent({ type: 'checkout.session.completed', object: session });
  await deliverTwice(t, h, event);
  const exported = await entitlementOf(h, 'co-dup', 'export');
  t.true(exported.allowed);
  t.is(exported.sources.length, 1, 'one purchase, not two');
});

test('a completion arriving after its subscription was deleted does not give the plan back', async (t) => {
  const h = harness();
  const started = await startCheckout(h, 'co-late', CheckoutMode.SUBSCRIPTION, 'price_pro_monthly');
  const { session, subscription } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: h.project.stripeSecretKey,
  });
  if (!subscription) throw new Error('the fake made no subscription');
  const now = nowSeconds();
  const deleted = makeSubscription({
    id: subscription.id,
    customer: started.stripeCustomerId,
    status: 'canceled',
    ended_at: now - 5,
    items: [{ price: 'price_pro_monthly', product: 'prod_pro' }],
  });
  await h.post(
    makeEvent({ type: 'customer.subscription.deleted', object: deleted, created: now - 5 }),
  );
  t.false(await allowed(h, 'co-late', 'reports'));
  // The completion (delivered late) makes the service fetch the subscription,
  // which the fake still shows active: it is applied as of the older event.
  const late = await h.post(
    makeEvent({ type: 'checkout.session.completed', object: session, created: now - 60 }),
  );
  t.is(late.body.outcome, 'processed');
  t.false(await allowed(h, 'co-late', 'reports'));
});

// Serial: failNext fails whatever request comes next, so nothing else may run.
test.serial('a failure answers 500 and Stripe retry applies the event', async (t) => {
  const h = harness();
  const started = await startCheckout(h, 'co-retry', CheckoutMode.PAYMENT, 'price_lifetime');
  const { session } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: h.project.stripeSecretKey,
  });
  const event = makeEvent({ type: 'checkout.session.completed', object: session });
  // Listing the line items fails (the SDK retries twice, so three failures).
  h.fake.failNext(3, 500);
  const failed = await h.post(event);
  t.is(failed.status, 500);
  t.false(await allowed(h, 'co-retry', 'export'));
  const retried = await h.post(event);
  t.is(retried.status, 200);
  t.is(retried.body.outcome, 'processed');
  t.true(await allowed(h, 'co-retry', 'export'));
});
