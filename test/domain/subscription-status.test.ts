/** Which Stripe statuses end a subscription for good. */
import test from 'ava';
import {
  endedStatuses,
  isEnded,
  neverStartedStatus,
} from '../../src/domain/subscription-status.js';
import { stripeSubscriptionStatuses } from '../helpers/subscription-state.js';

test('ended statuses are the terminal ones: canceled and incomplete_expired', (t) => {
  t.deepEqual([...endedStatuses].sort(), ['canceled', 'incomplete_expired']);
  for (const status of stripeSubscriptionStatuses) {
    t.is(isEnded(status), status === 'canceled' || status === 'incomplete_expired', status);
  }
});

test('incomplete_expired is the status of a subscription that never started', (t) => {
  t.is(neverStartedStatus, 'incomplete_expired');
  t.true(isEnded(neverStartedStatus));
});
