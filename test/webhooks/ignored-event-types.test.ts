// needs: mongodb redis
/**
 * An event of a type no handler is registered for answers 200, so Stripe
 * stops sending it, and is recorded as ignored; it changes nothing.
 */
import test from 'ava';
import { makeEvent } from '../helpers/stripe-objects.js';
import { allowed, proSubscription, useBillingHarness } from './helpers.js';

const harness = useBillingHarness();

test('unknown event types answer 200 and are recorded as ignored', async (t) => {
  const h = harness();
  const customer = await h.linkCustomer('sub-ignored');
  const event = makeEvent({
    type: 'customer.subscription.trial_will_end',
    object: proSubscription(customer, 'sub_ign1'),
  });
  const answer = await h.post(event);
  t.is(answer.status, 200);
  t.is(answer.body.outcome, 'ignored');
  t.is((await h.post(event)).body.outcome, 'duplicate', 'recorded: a second delivery is known');
  t.false(await allowed(h, 'sub-ignored', 'reports'));
});
