// needs: mongodb redis
/**
 * Three states of one subscription in one second, each delivered while
 * Stripe holds it: created, set to cancel at period end, deleted. The
 * second event disagrees with the first of its second, so the service
 * fetches Stripe and records the fetched version of that second. The third
 * disagrees too; its fetch (the deleted state) must win over the first
 * fetch, although records are insert-only: it is recorded as the second
 * fetch of that second (src/stripe/handlers/apply-subscription.ts). Found by
 * the README's first minutes in a browser (an upgrade, a cancel and
 * `advance 31d` within one second); real Stripe does the same whenever a
 * subscription changes twice within the second of an earlier change.
 */
import test from 'ava';
import type Stripe from 'stripe';
import { makeEvent, nowSeconds } from '../helpers/stripe-objects.js';
import { allowed, proSubscription, useBillingHarness } from './helpers.js';

const harness = useBillingHarness();

test('three states of a subscription in one second: the last one wins', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('three-states');
  const id = 'sub_three_states';
  const now = nowSeconds();
  const steps: [Stripe.Subscription, Stripe.Event['type']][] = [
    [proSubscription(customer, id), 'customer.subscription.created'],
    [
      proSubscription(customer, id, { cancel_at_period_end: true }),
      'customer.subscription.updated',
    ],
    [
      proSubscription(customer, id, { status: 'canceled', ended_at: now, canceled_at: now }),
      'customer.subscription.deleted',
    ],
  ];
  for (const [state, type] of steps) {
    // Stripe holds this state when its event arrives (what a fetch finds).
    h.fake.setSubscription(state, h.project.stripeSecretKey);
    const answer = await h.post(makeEvent({ type, object: state, created: now }));
    t.is(answer.status, 200);
  }
  t.false(await allowed(h, 'three-states', 'reports'));
});
