/** Outbound webhook rules: event types, ids, bodies and signatures, retries, thresholds, past_due. */
import test from 'ava';
import Stripe from 'stripe';
import type { SubscriptionFacts } from '../../src/domain/entitlements.js';
import {
  endpointReceives,
  eventBody,
  eventTypesRefusal,
  nextDeliveryAttemptAt,
  normalizedEventTypes,
  type OutboundEvent,
  outboundEventId,
  pastDueStarts,
  signatureHeader,
  thresholdsCrossed,
} from '../../src/domain/outbound-webhooks.js';
import { type CustomerFacts, noFacts } from '../../src/domain/timeline.js';

const event: OutboundEvent = {
  id: outboundEventId('test', 1),
  type: 'entitlement.changed',
  projectId: 'proj_1',
  customerId: 'user_1',
  created: new Date('2026-12-04T10:00:00Z'),
  order: 1,
  data: { customer_id: 'user_1', changed_features: ['seats'] },
};

test('event types: known ones or * alone count; the list is sorted without repeats', (t) => {
  t.is(eventTypesRefusal(['entitlement.changed', 'grant.expiring']), undefined);
  t.is(eventTypesRefusal(['*']), undefined);
  t.regex(eventTypesRefusal([]) ?? '', /at least one/);
  t.regex(eventTypesRefusal(['entitlement.created']) ?? '', /unknown event type/);
  t.deepEqual(normalizedEventTypes(['grant.expiring', 'entitlement.changed', 'grant.expiring']), [
    'entitlement.changed',
    'grant.expiring',
  ]);
  t.deepEqual(normalizedEventTypes(['grant.expiring', '*']), ['*']);
  t.true(endpointReceives(['*'], 'usage.threshold_reached'));
  t.true(endpointReceives(['grant.expiring'], 'grant.expiring'));
  t.false(endpointReceives(['grant.expiring'], 'entitlement.changed'));
});

test('event ids are derived from their parts: the same parts, the same id', (t) => {
  const id = outboundEventId('usage.threshold_reached', 'p', 'c', 'f', 1, 80);
  t.regex(id, /^bev_[0-9a-f]{32}$/);
  t.is(outboundEventId('usage.threshold_reached', 'p', 'c', 'f', 1, 80), id);
  t.not(outboundEventId('usage.threshold_reached', 'p', 'c', 'f', 1, 100), id);
  // Parts are not concatenated: ('ab', 'c') and ('a', 'bc') differ.
  t.not(outboundEventId('ab', 'c'), outboundEventId('a', 'bc'));
});

test("the body is Stripe's event shape and the signature verifies with Stripe's SDK", (t) => {
  const body = eventBody(event);
  const parsed = JSON.parse(body);
  t.like(parsed, {
    id: event.id,
    object: 'event',
    type: 'entitlement.changed',
    created: 1796378400,
    project_id: 'proj_1',
    data: { object: { customer_id: 'user_1' } },
  });
  const secret = 'whsec_test_0123456789';
  const at = new Date();
  const header = signatureHeader(secret, body, at);
  t.regex(header, /^t=\d+,v1=[0-9a-f]{64}$/);
  const stripe = new Stripe('sk_test_unused');
  const verified = stripe.webhooks.constructEvent(body, header, secret);
  t.is(verified.id, event.id);
  t.throws(() => stripe.webhooks.constructEvent(body, header, 'whsec_other'));
  t.throws(() => stripe.webhooks.constructEvent(`${body} `, header, secret));
});

test('retries double from the base, with jitter between half and all of the wait, up to the cap', (t) => {
  const policy = { baseMs: 1000, maxMs: 8000, retryForMs: 3 * 24 * 3600_000 };
  const now = new Date(0);
  const wait = (failures: number, random: number) =>
    nextDeliveryAttemptAt(now, failures, policy, () => random).getTime();
  t.is(wait(1, 1), 1000);
  t.is(wait(1, 0), 500);
  t.is(wait(2, 1), 2000);
  t.is(wait(3, 0.5), 3000);
  t.is(wait(4, 1), 8000);
  t.is(wait(10, 1), 8000);
  t.is(wait(60, 0), 4000);
});

test('thresholds: 80% and 100% of the allowance, each when a usage takes it across', (t) => {
  t.deepEqual(thresholdsCrossed(79, 10, 100), []);
  t.deepEqual(thresholdsCrossed(80, 10, 100), [80]);
  t.deepEqual(thresholdsCrossed(85, 5, 100), []);
  t.deepEqual(thresholdsCrossed(100, 20, 100), [100]);
  t.deepEqual(thresholdsCrossed(120, 50, 100), [80, 100]);
  t.deepEqual(thresholdsCrossed(130, 10, 100), []);
  t.deepEqual(thresholdsCrossed(4, 1, 5), [80]);
  t.deepEqual(thresholdsCrossed(50, 50, null), []);
  t.deepEqual(thresholdsCrossed(5, 5, 0), []);
});

const subscription = (status: string, pastDueSince: Date | null): SubscriptionFacts => ({
  id: 'sub_1',
  status,
  items: [],
  cancelAtPeriodEnd: false,
  cancelAt: null,
  trialEnd: null,
  pastDueSince,
});
const factsWith = (...subscriptions: SubscriptionFacts[]): CustomerFacts => ({
  ...noFacts,
  subscriptions,
});

test('past_due starts: a subscription that became past_due, or past_due from a new moment', (t) => {
  const since = new Date('2026-12-01T00:00:00Z');
  const later = new Date('2026-12-20T00:00:00Z');
  t.deepEqual(
    pastDueStarts(
      factsWith(subscription('active', null)),
      factsWith(subscription('past_due', since)),
    ),
    [{ subscriptionId: 'sub_1', since }],
  );
  t.deepEqual(pastDueStarts(null, factsWith(subscription('past_due', since))), [
    { subscriptionId: 'sub_1', since },
  ]);
  // Still past_due since the same moment (another event of the same run): nothing new.
  t.deepEqual(
    pastDueStarts(
      factsWith(subscription('past_due', since)),
      factsWith(subscription('past_due', since)),
    ),
    [],
  );
  t.deepEqual(
    pastDueStarts(
      factsWith(subscription('past_due', since)),
      factsWith(subscription('past_due', later)),
    ),
    [{ subscriptionId: 'sub_1', since: later }],
  );
  t.deepEqual(
    pastDueStarts(
      factsWith(subscription('past_due', since)),
      factsWith(subscription('active', null)),
    ),
    [],
  );
});
