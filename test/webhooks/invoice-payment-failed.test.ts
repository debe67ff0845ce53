// needs: mongodb redis
/**
 * invoice.payment_failed: the invoice does not carry the subscription, so
 * the service fetches its current state from Stripe and applies it as of the
 * event: past_due from then on, with the grace period counted from the
 * event; a duplicate is a no-op; an older failure arriving after a newer
 * state never overwrites it.
 */
import test from 'ava';
import { CheckoutMode } from '../../gen/billing/v1/checkout_pb.js';
import { makeEvent, makeInvoice, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';
import {
  allowed,
  day,
  deliverTwice,
  entitlementOf,
  startCheckout,
  subscriptionWithInvoices,
  useBillingHarness,
} from './helpers.js';

const harness = useBillingHarness();

test('a failed payment makes the subscription past_due, with grace from the event', async (t) => {
  const h = harness();
  const { now, state, invoiceEvent } = await subscriptionWithInvoices(
    h,
    'inv-failed',
    'invoice.payment_failed',
    'active',
  );
  h.fake.setSubscription(state('past_due'), h.project.stripeSecretKey);
  const answer = await h.post(invoiceEvent(now - 60));
  t.is(answer.body.outcome, 'processed');
  const reports = await entitlementOf(h, 'inv-failed', 'reports');
  t.true(reports.allowed, 'within the grace period');
  t.is(Number(reports.validUntil?.seconds), now - 60 + 3 * day);
  t.is(reports.sources[0]?.status, 'past_due');
});

test('invoice.payment_failed refreshes the subscription from Stripe', async (t) => {
  const h = harness();
  const started = await startCheckout(
    h,
    'co-invoice',
    CheckoutMode.SUBSCRIPTION,
    'price_pro_monthly',
  );
  const { session, subscription } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: h.project.stripeSecretKey,
  });
  await h.post(
    makeEvent({
      type: 'checkout.session.completed',
      object: session,
      created: nowSeconds() - 5 * 86400,
    }),
  );
  t.true(await allowed(h, 'co-invoice', 'reports'));
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
  h.fake.setSubscription(pastDue, h.project.stripeSecretKey);
  const invoice = makeInvoice({
    customer: started.stripeCustomerId,
    subscription: subscription.id,
    status: 'open',
  });
  const answer = await h.post(makeEvent({ type: 'invoice.payment_failed', object: invoice }));
  t.is(answer.body.outcome, 'processed');
  t.false(await allowed(h, 'co-invoice', 'reports'));
});

test('a duplicate delivery is a no-op', async (t) => {
  const h = harness();
  const { now, state, invoiceEvent } = await subscriptionWithInvoices(
    h,
    'inv-failed-dup',
    'invoice.payment_failed',
    'active',
  );
  h.fake.setSubscription(state('past_due'), h.project.stripeSecretKey);
  const event = invoiceEvent(now - 60);
  await deliverTwice(t, h, event);
  const reports = await entitlementOf(h, 'inv-failed-dup', 'reports');
  t.is(Number(reports.validUntil?.seconds), now - 60 + 3 * day, 'the grace period did not move');
});

test('an older failure arriving after a newer state never overwrites it', async (t) => {
  const h = harness();
  const { now, state, invoiceEvent } = await subscriptionWithInvoices(
    h,
    'inv-failed-late',
    'invoice.payment_failed',
    'active',
  );
  // The subscription was paid again a minute ago...
  await h.post(
    makeEvent({
      type: 'customer.subscription.updated',
      object: state('active'),
      created: now - 60,
    }),
  );
  // ...and the failure of four days ago arrives now, while Stripe still shows it past_due.
  h.fake.setSubscription(state('past_due'), h.project.stripeSecretKey);
  const late = await h.post(invoiceEvent(now - 4 * day));
  t.is(late.body.outcome, 'processed');
  const reports = await entitlementOf(h, 'inv-failed-late', 'reports');
  t.true(reports.allowed);
  t.is(reports.sources[0]?.status, 'active');
});
