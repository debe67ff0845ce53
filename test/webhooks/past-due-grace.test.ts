// needs: mongodb redis
/**
 * The grace period of a past_due subscription runs from when it became
 * past_due (the event that first showed it), never from the period start;
 * it does not restart while the subscription stays past_due, and it comes
 * out the same whatever order the events arrive in.
 */
import test from 'ava';
import type Stripe from 'stripe';
import { DenialReason } from '../../gen/billing/v1/entitlements_pb.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { Rng, seedFromEnv } from '../helpers/random.js';
import { makeEvent, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';
import { waitFor } from '../helpers/wait.js';

let h: BillingHarness;

test.before(async () => {
  h = await startBillingHarness();
});

test.after.always(async () => {
  await h?.close();
});

const day = 24 * 3600;
/** The harness project's grace period. */
const grace = 3 * day;

async function check(customerId: string) {
  const answer = await h.entitlements.checkEntitlement({ customerId, feature: 'reports' }, h.auth);
  if (!answer.entitlement) throw new Error('no entitlement in the answer');
  return answer.entitlement;
}

/** A pro subscription in its period that began at `periodStart`. */
function subscriptionIn(
  status: Stripe.Subscription.Status,
  stripeCustomer: string,
  id: string,
  periodStart: number,
  collection: Stripe.Subscription.CollectionMethod = 'charge_automatically',
) {
  return makeSubscription({
    id,
    customer: stripeCustomer,
    status,
    created: periodStart - 60 * day,
    collection_method: collection,
    items: [
      {
        price: 'price_pro_monthly',
        product: 'prod_pro',
        current_period_start: periodStart,
        current_period_end: periodStart + 30 * day,
      },
    ],
  });
}

function updated(subscription: Stripe.Subscription, created: number) {
  return makeEvent({ type: 'customer.subscription.updated', object: subscription, created });
}

test('a failed mid-cycle upgrade invoice keeps access for the grace period from the failure', async (t) => {
  const customer = await h.linkCustomer('grace-upgrade');
  const now = nowSeconds();
  const periodStart = now - 20 * day;
  const id = 'sub_grace_upgrade';
  await h.post(updated(subscriptionIn('active', customer, id, periodStart), periodStart));
  // The upgrade invoice's payment failed a minute ago.
  await h.post(updated(subscriptionIn('past_due', customer, id, periodStart), now - 60));
  const answer = await check('grace-upgrade');
  t.true(answer.allowed, 'still within the 3-day grace period');
  t.is(Number(answer.validUntil?.seconds), now - 60 + grace);
});

test('a send_invoice invoice just past its due date keeps access for the grace period', async (t) => {
  const customer = await h.linkCustomer('grace-send-invoice');
  const now = nowSeconds();
  const periodStart = now - 14 * day - 30;
  const id = 'sub_grace_invoice';
  await h.post(
    updated(subscriptionIn('active', customer, id, periodStart, 'send_invoice'), periodStart),
  );
  // The 14-day invoice passed its due date 30 seconds ago: Stripe marks it past_due.
  await h.post(
    updated(subscriptionIn('past_due', customer, id, periodStart, 'send_invoice'), now - 30),
  );
  const answer = await check('grace-send-invoice');
  t.true(answer.allowed);
  t.is(Number(answer.validUntil?.seconds), now - 30 + grace);
});

test('the grace period does not restart while the subscription stays past_due', async (t) => {
  const customer = await h.linkCustomer('grace-no-restart');
  const now = nowSeconds();
  const periodStart = now - 10 * day;
  const id = 'sub_grace_norestart';
  await h.post(updated(subscriptionIn('past_due', customer, id, periodStart), now - 4 * day));
  t.false((await check('grace-no-restart')).allowed, 'past_due for four days');
  // A retried payment failed again just now: still past_due, still no access.
  await h.post(updated(subscriptionIn('past_due', customer, id, periodStart), now - 5));
  t.false((await check('grace-no-restart')).allowed, 'a second failure does not restart grace');
  // Paid, then a new failure: a new run, a new grace period.
  await h.post(updated(subscriptionIn('active', customer, id, periodStart), now - 4));
  await h.post(updated(subscriptionIn('past_due', customer, id, periodStart), now - 3));
  const again = await check('grace-no-restart');
  t.true(again.allowed);
  t.is(Number(again.validUntil?.seconds), now - 3 + grace);
});

test('CheckEntitlement says why: past grace, then subscription ended', async (t) => {
  const customer = await h.linkCustomer('grace-reasons');
  const now = nowSeconds();
  const periodStart = now - 10 * day;
  const id = 'sub_grace_reasons';
  t.is((await check('grace-reasons')).denialReason, DenialReason.NO_SOURCE, 'no subscription yet');
  // The first answer is in process memory until the change's bus message
  // evicts it, which may come just after the webhook's 200: wait for it.
  const reasonBecomes = (reason: DenialReason) =>
    waitFor(() => check('grace-reasons'), {
      what: `denial reason ${DenialReason[reason]}`,
      until: (entitlement) => entitlement.denialReason === reason,
    });
  await h.post(updated(subscriptionIn('past_due', customer, id, periodStart), now - 4 * day));
  t.like(await reasonBecomes(DenialReason.PAST_GRACE), { allowed: false });
  await h.post(updated(subscriptionIn('canceled', customer, id, periodStart), now - 5));
  t.like(await reasonBecomes(DenialReason.SUBSCRIPTION_ENDED), { allowed: false });
  const unknown = await h.entitlements.checkEntitlement(
    { customerId: 'grace-reasons', feature: 'not_in_catalog' },
    h.auth,
  );
  t.is(unknown.entitlement?.denialReason, DenialReason.UNKNOWN_FEATURE);
});

test('any delivery order ends with the grace period of in-order delivery', async (t) => {
  const seed = seedFromEnv('PAST_DUE_ORDER_SEED');
  t.log(`seed ${seed} (PAST_DUE_ORDER_SEED to repeat)`);
  const rng = new Rng(seed);
  const now = nowSeconds();
  const periodStart = now - 20 * day;
  // Active, past_due twice (a failed renewal retried), paid, then past_due again twice.
  const history: Array<[Stripe.Subscription.Status, number]> = [
    ['active', periodStart],
    ['past_due', now - 5 * day],
    ['past_due', now - 4 * day],
    ['active', now - 2 * day],
    ['past_due', now - 2 * day + 60],
    ['past_due', now - 30],
  ];
  const expectedUntil = now - 2 * day + 60 + grace;
  const orders = [
    history,
    [...history].reverse(),
    ...[1, 2, 3, 4, 5, 6].map(() => rng.shuffle(history)),
  ];
  for (const [n, order] of orders.entries()) {
    const customerId = `grace-order-${n}`;
    const customer = await h.linkCustomer(customerId);
    const id = `sub_grace_order_${n}`;
    for (const [status, created] of order) {
      const answer = await h.post(
        updated(subscriptionIn(status, customer, id, periodStart), created),
      );
      t.is(answer.status, 200);
    }
    const answer = await check(customerId);
    const shown = order.map(([status, created]) => `${status}@${created - now}`).join(' ');
    t.true(answer.allowed, `order ${shown}`);
    t.is(Number(answer.validUntil?.seconds), expectedUntil, `order ${shown}`);
  }
});
