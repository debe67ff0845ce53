// needs: mongodb redis
/**
 * Metered periods end to end, through signed webhooks and the RPCs only: a
 * renewal resets the allowance exactly once (redelivered, repeated, or
 * followed by an older event), usage that occurred before it counts in the
 * previous period; an upgrade mid-period raises the allowance at once and
 * keeps the usage; a monthly reset on a yearly plan; past_due within and
 * past grace, cancel_at_period_end and a deleted subscription.
 */
import { type Timestamp, timestampDate, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import test from 'ava';
import type Stripe from 'stripe';
import { DenialReason } from '../../gen/billing/v1/entitlements_pb.js';
import type { CatalogEntryDoc } from '../../src/store/documents.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';
import { addInterval, makeEvent, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';
import { usageCatalog } from './usage-world.js';

const day = 86400;

const metered = (
  feature: string,
  allowance: number,
  rules: { perUnit?: boolean; reset?: 'billing_period' | 'month' } = {},
) => ({
  feature,
  limit: null,
  limit_per_unit: false,
  kind: 'metered' as const,
  metered: {
    allowance,
    allowance_per_unit: rules.perUnit ?? false,
    reset: rules.reset ?? 'billing_period',
    overage: 'block' as const,
    stripe_meter_event_name: null,
  },
});

/**
 * usage-world's catalog (price_metered: api_requests 100 per period, ai_tokens
 * 10 per unit), a larger plan (api_requests 500), and a yearly plan whose
 * monthly_calls (50) reset every month.
 */
const periodsCatalog: CatalogEntryDoc[] = [
  ...usageCatalog,
  { stripe_id: 'price_metered_big', features: [metered('api_requests', 500)] },
  { stripe_id: 'price_yearly_calls', features: [metered('monthly_calls', 50, { reset: 'month' })] },
];

let h: BillingHarness;

test.before(async () => {
  h = await startBillingHarness({ catalog: periodsCatalog });
});

test.after.always(async () => {
  await h?.close();
});

interface SubscriptionEvent {
  readonly id: string;
  readonly customer: string;
  /** The event's `created`: versions are ordered by it. */
  readonly created: number;
  readonly period: { readonly start: number; readonly end: number };
  readonly price?: string;
  readonly quantity?: number;
  readonly status?: Stripe.Subscription.Status;
  readonly cancelAtPeriodEnd?: boolean;
  readonly type?:
    | 'customer.subscription.created'
    | 'customer.subscription.updated'
    | 'customer.subscription.deleted';
}

function subscriptionEvent(spec: SubscriptionEvent): Stripe.Event {
  const status = spec.status ?? 'active';
  const object = makeSubscription({
    id: spec.id,
    customer: spec.customer,
    status,
    created: spec.created,
    cancel_at_period_end: spec.cancelAtPeriodEnd ?? false,
    ...(status === 'canceled' ? { ended_at: spec.created } : {}),
    items: [
      {
        id: 'si_periods',
        price: spec.price ?? 'price_metered',
        product: 'prod_metered',
        quantity: spec.quantity ?? 1,
        current_period_start: spec.period.start,
        current_period_end: spec.period.end,
      },
    ],
  });
  return makeEvent({
    type: spec.type ?? 'customer.subscription.updated',
    object,
    created: spec.created,
  });
}

async function post(event: Stripe.Event): Promise<void> {
  const answer = await h.post(event);
  if (answer.status !== 200) throw new Error(`webhook answered ${answer.status}`);
}

type Changes = Omit<SubscriptionEvent, 'id' | 'customer' | 'created' | 'period'> & {
  readonly period?: SubscriptionEvent['period'];
};

/**
 * Links `customerId` and posts its subscription's creation `createdAgo`
 * seconds ago (default: a period that began 5 days ago); `update(ago, changes)`
 * posts a later event of the same subscription.
 */
async function subscribe(customerId: string, createdAgo = 100, first: Changes = {}) {
  const now = nowSeconds();
  const period = first.period ?? { start: now - 5 * day, end: now + 25 * day };
  const customer = await h.linkCustomer(customerId);
  const base = { id: `sub_${customerId}`, customer, period };
  const event = (ago: number, changes: Changes) =>
    subscriptionEvent({ ...base, created: now - ago, ...changes });
  await post(event(createdAgo, { ...first, type: 'customer.subscription.created' }));
  const update = (ago: number, changes: Changes = {}) => post(event(ago, changes));
  return { now, period, update, event };
}

async function standing(customerId: string, feature = 'api_requests') {
  const answer = await h.entitlements.checkEntitlement({ customerId, feature }, h.auth);
  if (!answer.entitlement) throw new Error('no entitlement in the answer');
  return answer.entitlement;
}

const track = (
  customerId: string,
  amount: number,
  key: string,
  extra: { enforce?: boolean; occurredAt?: number; feature?: string } = {},
) =>
  h.entitlements.trackUsage(
    {
      customerId,
      feature: extra.feature ?? 'api_requests',
      amount: BigInt(amount),
      idempotencyKey: key,
      enforce: extra.enforce ?? false,
      occurredAt:
        extra.occurredAt === undefined ? undefined : timestampFromMs(extra.occurredAt * 1000),
    },
    h.auth,
  );

const ms = (timestamp: Timestamp | undefined) =>
  timestamp === undefined ? undefined : timestampDate(timestamp).getTime();

test('a renewal resets the allowance exactly once; usage before it counts in the previous period', async (t) => {
  const renewal = nowSeconds() - 3600;
  const oldPeriod = { start: renewal - 20 * day, end: renewal };
  const newPeriod = { start: renewal, end: renewal + 30 * day };
  const { update, event } = await subscribe('p-renew', 100, { period: oldPeriod });
  await track('p-renew', 40, 'p-renew-1', { occurredAt: renewal - 120 });

  const renewed = event(50, { period: newPeriod });
  await post(renewed);
  await post(renewed); // Stripe delivers it again
  t.like(await standing('p-renew'), { usage: 0n, balance: 100n });
  t.is(ms((await standing('p-renew')).resetsAt), newPeriod.end * 1000);

  await track('p-renew', 10, 'p-renew-2');
  // The renewal once more, as another event of the same state, and an older event after it.
  await post(renewed);
  await update(40, { period: newPeriod });
  await update(80, { period: oldPeriod });
  const after = await standing('p-renew');
  t.like(after, { usage: 10n, balance: 90n });
  t.is(ms(after.resetsAt), newPeriod.end * 1000);

  // Late usage of the previous period draws on that period's balance (60 left), not this one's.
  const late = { occurredAt: renewal - 60, enforce: true };
  t.is(await codeOf(track('p-renew', 61, 'p-renew-3', late)), Code.FailedPrecondition);
  await track('p-renew', 60, 'p-renew-4', late);
  t.like(await standing('p-renew'), { usage: 10n, balance: 90n });
});

test('an upgrade to a price with a larger allowance raises it at once and keeps the usage so far', async (t) => {
  const { update } = await subscribe('p-upgrade');
  await track('p-upgrade', 80, 'p-upgrade-1', { enforce: true });
  const more = () => track('p-upgrade', 30, 'p-upgrade-2', { enforce: true });
  t.is(await codeOf(more()), Code.FailedPrecondition);

  await update(50, { price: 'price_metered_big' });
  t.like(await standing('p-upgrade'), { allowed: true, usage: 80n, balance: 420n });
  t.like((await more()).entitlement, { usage: 110n, balance: 390n });
});

test('a higher quantity on a per-unit allowance raises it at once and keeps the usage so far', async (t) => {
  const { update } = await subscribe('p-seats', 100, { quantity: 2 });
  await track('p-seats', 15, 'p-seats-1', { feature: 'ai_tokens' });
  t.like(await standing('p-seats', 'ai_tokens'), { usage: 15n, balance: 5n });

  await update(50, { quantity: 5 });
  t.like(await standing('p-seats', 'ai_tokens'), { usage: 15n, balance: 35n });
});

test('a monthly reset on a yearly plan: last month does not count this month; resets_at is the next monthly anniversary', async (t) => {
  // About 40 days ago, on a day of the month every month has.
  let start = nowSeconds() - 40 * day;
  while (new Date(start * 1000).getUTCDate() > 28) start -= day;
  const period = { start, end: addInterval(start, 'year') };
  await subscribe('p-monthly', 100, { period, price: 'price_yearly_calls' });
  const lastMonth = { feature: 'monthly_calls', occurredAt: start + 12 * day };
  await track('p-monthly', 30, 'p-monthly-1', lastMonth);
  await track('p-monthly', 5, 'p-monthly-2', { feature: 'monthly_calls' });
  const thisMonth = await standing('p-monthly', 'monthly_calls');
  t.like(thisMonth, { allowed: true, usage: 5n, balance: 45n });
  t.is(ms(thisMonth.resetsAt), addInterval(start, 'month', 2) * 1000);
  // Last month keeps its own balance (20 left).
  const enforcedLastMonth = { ...lastMonth, enforce: true };
  const tooMuch = track('p-monthly', 21, 'p-monthly-3', enforcedLastMonth);
  t.is(await codeOf(tooMuch), Code.FailedPrecondition);
  await track('p-monthly', 20, 'p-monthly-4', enforcedLastMonth);
  t.like(await standing('p-monthly', 'monthly_calls'), { usage: 5n, balance: 45n });
});

test('past_due within grace keeps the balance usable', async (t) => {
  const { update } = await subscribe('p-grace');
  await track('p-grace', 10, 'p-grace-1');
  await update(50, { status: 'past_due' });
  t.like(await standing('p-grace'), { allowed: true, usage: 10n, balance: 90n });
  const accepted = await track('p-grace', 20, 'p-grace-2', { enforce: true });
  t.like(accepted.entitlement, { usage: 30n, balance: 70n });
});

test('past grace the feature is refused with PAST_GRACE and an enforced track records nothing', async (t) => {
  const { update } = await subscribe('p-late', 6 * day);
  // Past due for 4 days; the project's grace is 3.
  await update(4 * day, { status: 'past_due' });
  t.like(await standing('p-late'), { allowed: false, denialReason: DenialReason.PAST_GRACE });
  t.is(await codeOf(track('p-late', 1, 'p-late-1', { enforce: true })), Code.FailedPrecondition);
  // Paid at last: the refused track left no usage behind.
  await update(50);
  t.like(await standing('p-late'), { allowed: true, usage: 0n, balance: 100n });
});

test('cancel_at_period_end keeps the balance until the period ends; a deleted subscription ends it', async (t) => {
  const { update, period } = await subscribe('p-cancel');
  await update(80, { cancelAtPeriodEnd: true });
  const accepted = await track('p-cancel', 25, 'p-cancel-1', { enforce: true });
  t.like(accepted.entitlement, { allowed: true, usage: 25n, balance: 75n });
  const kept = await standing('p-cancel');
  t.is(ms(kept.validUntil), period.end * 1000);
  t.is(ms(kept.resetsAt), period.end * 1000);

  await update(50, { status: 'canceled', type: 'customer.subscription.deleted' });
  t.like(await standing('p-cancel'), {
    allowed: false,
    denialReason: DenialReason.SUBSCRIPTION_ENDED,
  });
  t.is(
    await codeOf(track('p-cancel', 1, 'p-cancel-2', { enforce: true })),
    Code.FailedPrecondition,
  );
});
