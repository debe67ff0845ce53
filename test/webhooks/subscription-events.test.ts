// needs: mongodb redis
/**
 * customer.subscription.* events drive entitlements: created gives, updated
 * changes, deleted takes away; an older event never overwrites a newer
 * state; a duplicate is a no-op.
 */
import test from 'ava';
import { EntitlementSourceKind } from '../../gen/billing/v1/entitlements_pb.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { makeEvent, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';

let h: BillingHarness;

test.before(async () => {
  h = await startBillingHarness();
});

test.after.always(async () => {
  await h?.close();
});

const day = 24 * 3600;

async function check(customerId: string, feature: string) {
  const answer = await h.entitlements.checkEntitlement({ customerId, feature }, h.auth);
  if (!answer.entitlement) throw new Error('no entitlement in the answer');
  return answer.entitlement;
}

function proSubscription(
  customer: string,
  id: string,
  overrides: Parameters<typeof makeSubscription>[0] = {},
) {
  const start = nowSeconds() - day;
  return makeSubscription({
    id,
    customer,
    status: 'active',
    created: start,
    items: [
      {
        price: 'price_pro_monthly',
        product: 'prod_pro',
        quantity: 3,
        current_period_start: start,
        current_period_end: start + 30 * day,
      },
    ],
    ...overrides,
  });
}

test('created gives the features, with seats times quantity and the source', async (t) => {
  const customer = await h.linkCustomer('sub-created');
  t.false((await check('sub-created', 'reports')).allowed);
  const sub = proSubscription(customer, 'sub_created1');
  const answer = await h.post(makeEvent({ type: 'customer.subscription.created', object: sub }));
  t.is(answer.status, 200);
  t.is(answer.body.outcome, 'processed');

  const reports = await check('sub-created', 'reports');
  t.true(reports.allowed);
  t.is(reports.limit, undefined);
  t.is(reports.sources[0]?.kind, EntitlementSourceKind.SUBSCRIPTION);
  t.is(reports.sources[0]?.id, 'sub_created1');
  t.is(reports.sources[0]?.status, 'active');
  t.is((await check('sub-created', 'seats')).limit, 3n);
});

test('updated with cancel_at_period_end keeps access until the period ends', async (t) => {
  const customer = await h.linkCustomer('sub-canceling');
  const created = nowSeconds() - 100;
  const sub = proSubscription(customer, 'sub_canceling1', { created: created - day });
  await h.post(makeEvent({ type: 'customer.subscription.created', object: sub, created }));
  const canceling = proSubscription(customer, 'sub_canceling1', {
    created: created - day,
    cancel_at_period_end: true,
  });
  await h.post(
    makeEvent({
      type: 'customer.subscription.updated',
      object: canceling,
      created: created + 10,
      previous_attributes: { cancel_at_period_end: false },
    }),
  );
  const reports = await check('sub-canceling', 'reports');
  t.true(reports.allowed);
  t.is(Number(reports.validUntil?.seconds), canceling.items.data[0]?.current_period_end);
});

test('deleted takes the features away', async (t) => {
  const customer = await h.linkCustomer('sub-deleted');
  const created = nowSeconds() - 100;
  await h.post(
    makeEvent({
      type: 'customer.subscription.created',
      object: proSubscription(customer, 'sub_del1'),
      created,
    }),
  );
  t.true((await check('sub-deleted', 'reports')).allowed);
  const deleted = proSubscription(customer, 'sub_del1', {
    status: 'canceled',
    ended_at: created + 5,
  });
  await h.post(
    makeEvent({ type: 'customer.subscription.deleted', object: deleted, created: created + 5 }),
  );
  t.false((await check('sub-deleted', 'reports')).allowed);
});

test('an older event arriving late never overwrites a newer state', async (t) => {
  const customer = await h.linkCustomer('sub-late');
  const created = nowSeconds() - 100;
  const deleted = proSubscription(customer, 'sub_late1', {
    status: 'canceled',
    ended_at: created + 5,
  });
  await h.post(
    makeEvent({ type: 'customer.subscription.deleted', object: deleted, created: created + 5 }),
  );
  const late = await h.post(
    makeEvent({
      type: 'customer.subscription.created',
      object: proSubscription(customer, 'sub_late1'),
      created,
    }),
  );
  t.is(late.status, 200);
  t.false((await check('sub-late', 'reports')).allowed);
});

test('a duplicate delivery is a no-op', async (t) => {
  const customer = await h.linkCustomer('sub-dup');
  const event = makeEvent({
    type: 'customer.subscription.created',
    object: proSubscription(customer, 'sub_dup1'),
  });
  t.is((await h.post(event)).body.outcome, 'processed');
  t.is((await h.post(event)).body.outcome, 'duplicate');
  t.true((await check('sub-dup', 'reports')).allowed);
});

test('past_due keeps access for the grace period from the event that showed it past_due', async (t) => {
  const customer = await h.linkCustomer('sub-pastdue');
  const now = nowSeconds();
  const pastDue = (created: number) =>
    makeEvent({
      type: 'customer.subscription.updated',
      object: proSubscription(customer, 'sub_pd1', { status: 'past_due' }),
      created,
    });
  await h.post(pastDue(now - 10));
  const within = await check('sub-pastdue', 'reports');
  t.true(within.allowed);
  t.is(Number(within.validUntil?.seconds), now - 10 + 3 * day);

  // Another past_due event (a retried payment that failed again) does not restart it.
  await h.post(pastDue(now - 5));
  t.is(Number((await check('sub-pastdue', 'reports')).validUntil?.seconds), now - 10 + 3 * day);

  // Learning that it was past_due four days ago ends the grace period.
  await h.post(pastDue(now - 4 * day));
  t.false((await check('sub-pastdue', 'reports')).allowed);
});

test('unknown event types answer 200 and are recorded as ignored', async (t) => {
  const customer = await h.linkCustomer('sub-ignored');
  const event = makeEvent({
    type: 'customer.subscription.trial_will_end',
    object: proSubscription(customer, 'sub_ign1'),
  });
  const answer = await h.post(event);
  t.is(answer.status, 200);
  t.is(answer.body.outcome, 'ignored');
});
