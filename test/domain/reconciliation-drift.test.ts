/** Reconciliation's drift classes, the stamp of its repairs, and when it must not cancel. */
import test from 'ava';
import {
  classifyDrift,
  classifyDriftOfSummary,
  isImplausiblyEmpty,
  repairVersionTime,
} from '../../src/domain/reconciliation-drift.js';
import {
  isNewerVersion,
  type SubscriptionState,
  stateFingerprint,
} from '../../src/domain/subscription-versions.js';
import { stripeSubscriptionStatuses, subscriptionState } from '../helpers/subscription-state.js';

test('listed in Stripe, unknown locally: missing locally, whatever its status', (t) => {
  for (const status of stripeSubscriptionStatuses) {
    t.is(classifyDrift(subscriptionState({ status }), undefined), 'missing_locally', status);
  }
});

test('listed and stored alike: in sync', (t) => {
  t.is(classifyDrift(subscriptionState(), subscriptionState()), 'in_sync');
  t.is(
    classifyDrift(
      subscriptionState({ status: 'canceled' }),
      subscriptionState({ status: 'canceled' }),
    ),
    'in_sync',
  );
});

test('listed and stored differently: stale, also when only a date or an item differs', (t) => {
  t.is(classifyDrift(subscriptionState({ status: 'past_due' }), subscriptionState()), 'stale');
  t.is(
    classifyDrift(subscriptionState({ status: 'canceled' }), subscriptionState()),
    'stale',
    'ended in Stripe only',
  );
  t.is(
    classifyDrift(subscriptionState(), subscriptionState({ status: 'canceled' })),
    'stale',
    'ended locally only',
  );
  t.is(
    classifyDrift(subscriptionState({ cancel_at_period_end: true }), subscriptionState()),
    'stale',
  );
  t.is(classifyDrift(subscriptionState({ items: [] }), subscriptionState()), 'stale');
  t.is(classifyDrift(subscriptionState({ trial_end: new Date(0) }), subscriptionState()), 'stale');
});

test('stored, not listed: missing in Stripe unless it ended locally', (t) => {
  for (const status of stripeSubscriptionStatuses) {
    const expected =
      status === 'canceled' || status === 'incomplete_expired' ? 'ended' : 'missing_in_stripe';
    t.is(classifyDrift(undefined, subscriptionState({ status })), expected, status);
  }
});

test('on neither side: nothing to repair', (t) => {
  t.is(classifyDrift(undefined, undefined), 'in_sync');
});

test('a repair is stamped one second before the run started', (t) => {
  t.is(repairVersionTime(new Date(1_000_000_000)), 999_999);
  t.is(repairVersionTime(new Date(1_000_000_999)), 999_999, 'within the start second');
  t.is(repairVersionTime(new Date(1_000_001_000)), 1_000_000);
});

test('a repair loses to an event of the run start second, and wins over earlier events', (t) => {
  const startedAt = new Date(1_000_000_500);
  const repair = { eventCreated: repairVersionTime(startedAt), fetchedFromStripe: true };
  const startSecond = Math.floor(startedAt.getTime() / 1000);
  t.true(isNewerVersion({ eventCreated: startSecond, fetchedFromStripe: false }, repair));
  t.true(isNewerVersion(repair, { eventCreated: startSecond - 1, fetchedFromStripe: false }));
  t.true(isNewerVersion(repair, { eventCreated: startSecond - 2, fetchedFromStripe: false }));
});

test('an empty listing with live local subscriptions is implausible; anything else is not', (t) => {
  t.true(isImplausiblyEmpty(0, 1));
  t.true(isImplausiblyEmpty(0, 500));
  t.false(isImplausiblyEmpty(0, 0), 'nothing anywhere');
  t.false(isImplausiblyEmpty(1, 500), 'Stripe listed one: the rest really are missing');
});

test('against a summary of the stored version (status and fingerprint), every verdict is the same', (t) => {
  const summary = (state: SubscriptionState | undefined) =>
    state === undefined
      ? undefined
      : { status: state.status, fingerprint: stateFingerprint(state) };
  const states: (SubscriptionState | undefined)[] = [
    undefined,
    subscriptionState(),
    subscriptionState({ cancel_at_period_end: true }),
    subscriptionState({ items: [] }),
    subscriptionState({ items: [{ id: 'si_1', price_id: 'price_team', quantity: 4 }] }),
    subscriptionState({ trial_end: new Date(0) }),
    subscriptionState({ stripe_customer_id: 'cus_2' }),
    ...stripeSubscriptionStatuses.map((status) => subscriptionState({ status })),
  ];
  for (const [i, listed] of states.entries())
    for (const [j, stored] of states.entries())
      t.is(
        classifyDriftOfSummary(listed, summary(stored)),
        classifyDrift(listed, stored),
        `listed ${i}, stored ${j}`,
      );
});
