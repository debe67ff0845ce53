/** Which stored version of a subscription is current, and when two say the same thing. */
import test from 'ava';
import {
  isNewerVersion,
  type SubscriptionState,
  sameSubscriptionState,
  type VersionStamp,
} from '../../src/domain/subscription-versions.js';
import { subscriptionState } from '../helpers/subscription-state.js';

const event = (eventCreated: number): VersionStamp => ({ eventCreated, fetchedFromStripe: false });
const fetched = (eventCreated: number): VersionStamp => ({ eventCreated, fetchedFromStripe: true });

test('a later second is newer, whichever version was fetched', (t) => {
  t.true(isNewerVersion(event(101), event(100)));
  t.true(isNewerVersion(event(101), fetched(100)));
  t.true(isNewerVersion(fetched(101), event(100)));
  t.false(isNewerVersion(event(100), event(101)));
  t.false(isNewerVersion(fetched(100), event(101)), 'fetching never beats a later event');
});

test('within one second the version fetched from Stripe wins', (t) => {
  t.true(isNewerVersion(fetched(100), event(100)));
  t.false(isNewerVersion(event(100), fetched(100)));
});

test('of two fetches for one second the later one wins (a third state within the second)', (t) => {
  const second = (fetchSeq: number): VersionStamp => ({ ...fetched(100), fetchSeq });
  t.true(isNewerVersion(second(2), fetched(100)));
  t.false(isNewerVersion(fetched(100), second(2)));
  t.true(isNewerVersion(second(3), second(2)));
  t.true(isNewerVersion(second(2), event(100)));
  t.false(isNewerVersion(second(2), event(101)), 'a later event still wins');
});

test('two versions of one second and the same kind: neither is newer (the first one read stays)', (t) => {
  t.false(isNewerVersion(event(100), event(100)));
  t.false(isNewerVersion(fetched(100), fetched(100)));
});

test('the order is strict: never both newer than each other, and transitive', (t) => {
  const stamps = [99, 100, 101].flatMap((second) => [
    event(second),
    fetched(second),
    { ...fetched(second), fetchSeq: 2 },
  ]);
  for (const a of stamps) {
    for (const b of stamps) {
      t.false(isNewerVersion(a, b) && isNewerVersion(b, a));
      for (const c of stamps) {
        if (isNewerVersion(a, b) && isNewerVersion(b, c)) t.true(isNewerVersion(a, c));
      }
    }
  }
});

test('the same state: equal, also when built apart', (t) => {
  t.true(sameSubscriptionState(subscriptionState(), subscriptionState()));
});

test('what is not part of the state does not count (event time, ids, when it was written)', (t) => {
  const a = { ...subscriptionState(), _id: 'a', event_created: 1, updated_at: new Date(1) };
  const b = { ...subscriptionState(), _id: 'b', event_created: 2, updated_at: new Date(2) };
  t.true(sameSubscriptionState(a, b));
});

test('any field that decides entitlements or figures makes another state', (t) => {
  const later = new Date('2026-07-01T00:00:00Z');
  const changes: Partial<SubscriptionState>[] = [
    { status: 'past_due' },
    { stripe_customer_id: 'cus_2' },
    { items: [{ id: 'si_1', price_id: 'price_team', quantity: 4 }] },
    { items: [{ id: 'si_1', price_id: 'price_pro', quantity: 3 }] },
    { items: [] },
    { cancel_at_period_end: true },
    { cancel_at: later },
    { canceled_at: later },
    { ended_at: later },
    { trial_end: later },
  ];
  for (const change of changes) {
    t.false(
      sameSubscriptionState(subscriptionState(), subscriptionState(change)),
      JSON.stringify(change),
    );
  }
  t.false(
    sameSubscriptionState(
      subscriptionState({ trial_end: later }),
      subscriptionState({ trial_end: new Date(0) }),
    ),
  );
});
