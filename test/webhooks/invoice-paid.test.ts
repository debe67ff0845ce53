// needs: mongodb redis
/**
 * invoice.paid: the invoice does not carry the subscription, so the service
 * fetches its current state from Stripe and applies it as of the event: a
 * past_due subscription whose invoice is paid gives access again; a
 * duplicate is a no-op; an older payment arriving after a newer state never
 * overwrites it.
 */
import test from 'ava';
import { makeEvent } from '../helpers/stripe-objects.js';
import {
  allowed,
  day,
  deliverTwice,
  entitlementOf,
  subscriptionWithInvoices,
  useBillingHarness,
} from './helpers.js';

const harness = useBillingHarness();

test('a paid invoice brings a past_due subscription back to active', async (t) => {
  const h = harness();
  const { now, state, invoiceEvent } = await subscriptionWithInvoices(
    h,
    'inv-paid',
    'invoice.paid',
    'past_due',
  );
  t.false(await allowed(h, 'inv-paid', 'reports'), 'past its grace period');
  h.fake.setSubscription(state('active'), h.project.stripeSecretKey);
  const answer = await h.post(invoiceEvent(now - 60));
  t.is(answer.status, 200);
  t.is(answer.body.outcome, 'processed');
  const reports = await entitlementOf(h, 'inv-paid', 'reports');
  t.true(reports.allowed);
  t.is(reports.sources[0]?.status, 'active');
});

test('a duplicate delivery is a no-op', async (t) => {
  const h = harness();
  const { now, state, invoiceEvent } = await subscriptionWithInvoices(
    h,
    'inv-paid-dup',
    'invoice.paid',
    'past_due',
  );
  h.fake.setSubscription(state('active'), h.project.stripeSecretKey);
  const event = invoiceEvent(now - 60);
  await deliverTwice(t, h, event);
  t.true(await allowed(h, 'inv-paid-dup', 'reports'));
});

test('an older payment arriving after a newer state never overwrites it', async (t) => {
  const h = harness();
  const { now, state, invoiceEvent } = await subscriptionWithInvoices(
    h,
    'inv-paid-late',
    'invoice.paid',
    'past_due',
  );
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
  const late = await h.post(invoiceEvent(now - 2 * day));
  t.is(late.body.outcome, 'processed');
  t.false(await allowed(h, 'inv-paid-late', 'reports'));
});
