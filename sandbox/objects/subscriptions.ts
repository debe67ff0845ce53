/**
 * Subscriptions: create (pays the first invoice with the customer's test
 * card; a declined card is Stripe's 402 `card_error`), update (price,
 * quantity, `cancel_at_period_end`), cancel, retrieve, list (`status`,
 * `customer`, `price`, `expand: ['data.customer']`). Periods live on the
 * items (`current_period_start/end`), as in API version 2026-10-28.
 */
import type Stripe from 'stripe';
import { cardError, invalid, missingParam, noSuch } from '../api/errors.js';
import type { Params } from '../api/form.js';
import { LIST_PARAMS, listResponse } from '../api/paging.js';
import type { Account } from './account.js';
import { chargeOutcome, testCardNumber } from './cards.js';
import type { EmitEvent, RequestContext } from './context.js';
import { findCustomer } from './customers.js';
import { idOf } from './ids.js';
import { attemptPayment, subscriptionInvoice } from './invoices.js';
import { makeSubscription, makeSubscriptionItem } from './stripe-objects.js';

export interface StartSubscription {
  readonly customer: string;
  readonly items: readonly { readonly price: Stripe.Price; readonly quantity: number }[];
  readonly trialDays: number | undefined;
  readonly metadata: Stripe.Metadata;
  readonly now: number;
}

export interface StartedSubscription {
  readonly subscription: Stripe.Subscription;
  readonly invoice: Stripe.Invoice;
}

/**
 * Creates a subscription and pays its first invoice (a trial's is free).
 * Returns null, and stores nothing, when the customer's card is declined.
 */
export function startSubscription(
  account: Account,
  start: StartSubscription,
  emit: EmitEvent,
): StartedSubscription | null {
  const { now, trialDays } = start;
  const trialEnd = trialDays === undefined ? null : now + trialDays * 86_400;
  if (trialEnd === null && chargeOutcome(account.cards.get(start.customer), false) === 'declined') {
    return null;
  }
  const created = makeSubscription({
    customer: start.customer,
    created: now,
    status: trialEnd === null ? 'active' : 'trialing',
    trial_end: trialEnd,
    currency: start.items[0]?.price.currency ?? 'usd',
    metadata: start.metadata,
    items: start.items.map((item) => ({
      price: item.price,
      quantity: item.quantity,
      created: now,
      ...(trialEnd === null ? {} : { current_period_end: trialEnd }),
    })),
  });
  const draft = subscriptionInvoice(created, {
    reason: 'subscription_create',
    now,
    free: trialEnd !== null,
  });
  const subscription = { ...created, latest_invoice: draft.id };
  account.subscriptions.put(subscription);
  emit(account, 'customer.subscription.created', subscription);
  const { invoice } = attemptPayment(
    account,
    draft,
    { renewal: false, now, nextAttempt: null },
    emit,
  );
  return { subscription, invoice };
}

export function findSubscription(account: Account, id: string, param = 'id'): Stripe.Subscription {
  const subscription = account.subscriptions.get(id);
  if (subscription === undefined) throw noSuch('subscription', id, param, 404);
  return subscription;
}

/** Stores the new state and emits `customer.subscription.updated` with the fields that changed. */
export function replaceSubscription(
  account: Account,
  before: Stripe.Subscription,
  after: Stripe.Subscription,
  emit: EmitEvent,
): Stripe.Subscription {
  account.subscriptions.put(after);
  const previous: Record<string, unknown> = {};
  for (const key of Object.keys(after) as (keyof Stripe.Subscription)[]) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) previous[key] = before[key];
  }
  emit(account, 'customer.subscription.updated', after, previous as Partial<Stripe.Subscription>);
  return after;
}

/** Ends a subscription now: `customer.subscription.deleted`. */
export function endSubscription(
  account: Account,
  before: Stripe.Subscription,
  now: number,
  reason: Stripe.Subscription.CancellationDetails.Reason,
  emit: EmitEvent,
): Stripe.Subscription {
  const after: Stripe.Subscription = {
    ...before,
    status: 'canceled',
    canceled_at: before.canceled_at ?? now,
    ended_at: now,
    cancellation_details: cancellation(reason),
  };
  account.subscriptions.put(after);
  account.dunning.delete(after.id);
  emit(account, 'customer.subscription.deleted', after);
  return after;
}

function cancellation(
  reason: Stripe.Subscription.CancellationDetails.Reason | null,
): Stripe.Subscription.CancellationDetails {
  return { comment: null, feedback: null, feedback_option: null, reason };
}

export function createSubscription(context: RequestContext): Stripe.Subscription {
  const { account, params, now, emit } = context;
  params.allow([
    'customer',
    'items',
    'trial_period_days',
    'trial_end',
    'metadata',
    'default_payment_method',
    'payment_behavior',
    'expand',
    'description',
    'collection_method',
    'proration_behavior',
  ]);
  const customer = findCustomer(account, params.required('customer'), 'customer').id;
  const card = params.string('default_payment_method');
  if (card !== undefined) {
    account.cards.set(customer, testCardNumber(card, 'default_payment_method'));
  }
  const items = (params.objects('items') ?? []).map((item) => {
    item.allow(['price', 'quantity', 'metadata']);
    return { price: recurringPrice(account, item), quantity: item.integer('quantity', 0) ?? 1 };
  });
  if (items.length === 0) throw missingParam('items');
  const started = startSubscription(
    account,
    {
      customer,
      items,
      trialDays: params.integer('trial_period_days', 1, 730),
      metadata: params.metadata() ?? {},
      now,
    },
    emit,
  );
  if (started === null) throw cardError('Your card was declined.', 'generic_decline');
  return started.subscription;
}

function recurringPrice(account: Account, item: Params): Stripe.Price {
  const id = item.required('price');
  const price = account.prices.get(id);
  if (price === undefined) throw noSuch('price', id, item.name('price'));
  if (price.recurring === null) {
    throw invalid(
      'The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.',
      item.name('price'),
    );
  }
  return price;
}

/**
 * `cancel_at_period_end`, `metadata`, and `items` (`{ id, price?, quantity? }`
 * changes an item; `{ price }` adds one; `{ id, deleted: true }` removes one).
 * Changes take effect at once, without prorations.
 */
export function updateSubscription(context: RequestContext): Stripe.Subscription {
  const { account, params, id, emit } = context;
  params.allow([
    'cancel_at_period_end',
    'items',
    'metadata',
    'proration_behavior',
    'expand',
    'default_payment_method',
    'payment_behavior',
    'description',
  ]);
  const before = findSubscription(account, id);
  if (before.status === 'canceled' || before.status === 'incomplete_expired') {
    throw invalid(
      'A canceled subscription can only update its cancellation_details and metadata.',
      undefined,
      'resource_missing',
    );
  }
  const cancelAtPeriodEnd = params.boolean('cancel_at_period_end');
  const metadata = params.metadata();
  const items = changedItems(context, before);
  const periodEnd = items.reduce((end, item) => Math.min(end, item.current_period_end), Infinity);
  let after: Stripe.Subscription = {
    ...before,
    metadata: metadata === undefined ? before.metadata : { ...before.metadata, ...metadata },
    items: { ...before.items, data: items },
  };
  if (cancelAtPeriodEnd !== undefined) {
    after = {
      ...after,
      cancel_at_period_end: cancelAtPeriodEnd,
      cancel_at: cancelAtPeriodEnd ? periodEnd : null,
      canceled_at: cancelAtPeriodEnd ? context.now : null,
      cancellation_details: cancellation(cancelAtPeriodEnd ? 'cancellation_requested' : null),
    };
  }
  return replaceSubscription(account, before, after, emit);
}

function changedItems(
  { account, params, now }: RequestContext,
  before: Stripe.Subscription,
): Stripe.SubscriptionItem[] {
  let items = [...before.items.data];
  for (const change of params.objects('items') ?? []) {
    change.allow(['id', 'price', 'quantity', 'deleted', 'metadata']);
    const itemId = change.string('id');
    const quantity = change.integer('quantity', 0);
    const priceId = change.string('price');
    const price = priceId === undefined ? undefined : recurringPrice(account, change);
    if (itemId === undefined) {
      if (price === undefined) throw missingParam(change.name('price'));
      const first = items[0];
      items.push(
        makeSubscriptionItem({ price, quantity: quantity ?? 1, created: now }, before.id, {
          currency: before.currency,
          created: now,
          start: first?.current_period_start ?? now,
        }),
      );
      continue;
    }
    const existing = items.find((item) => item.id === itemId);
    if (existing === undefined) throw noSuch('subscription_item', itemId, change.name('id'));
    if (change.boolean('deleted') === true) {
      items = items.filter((item) => item.id !== itemId);
      continue;
    }
    const changed: Stripe.SubscriptionItem = {
      ...existing,
      quantity: quantity ?? existing.quantity,
      ...(price === undefined ? {} : { price, plan: { ...existing.plan, id: price.id } }),
    };
    items = items.map((item) => (item.id === itemId ? changed : item));
  }
  if (items.length === 0) {
    throw invalid('A subscription must have at least one active plan.', 'items');
  }
  return items;
}

export function cancelSubscription(context: RequestContext): Stripe.Subscription {
  const { account, params, id, now, emit } = context;
  params.allow(['invoice_now', 'prorate', 'cancellation_details', 'expand']);
  const before = findSubscription(account, id);
  if (before.status === 'canceled') {
    throw invalid(
      `No such subscription: '${id}'; a similar object exists in test mode, but it is canceled.`,
      'id',
      'resource_missing',
    );
  }
  return endSubscription(account, before, now, 'cancellation_requested', emit);
}

export const SUBSCRIPTION_STATUSES = [
  'active',
  'all',
  'canceled',
  'ended',
  'incomplete',
  'incomplete_expired',
  'past_due',
  'paused',
  'trialing',
  'unpaid',
] as const;

export function listSubscriptions({
  account,
  params,
}: RequestContext): Stripe.ApiList<Stripe.Subscription> {
  params.allow([
    ...LIST_PARAMS,
    'status',
    'customer',
    'price',
    'created',
    'current_period_end',
    'current_period_start',
    'collection_method',
    'automatic_tax',
    'test_clock',
  ]);
  const status = params.enumValue('status', SUBSCRIPTION_STATUSES);
  const customer = params.string('customer');
  const price = params.string('price');
  const statusMatches = (sub: Stripe.Subscription): boolean => {
    switch (status) {
      case undefined:
        return sub.status !== 'canceled';
      case 'all':
        return true;
      case 'ended':
        return sub.status === 'canceled' || sub.status === 'incomplete_expired';
      default:
        return sub.status === status;
    }
  };
  const list = listResponse(
    account.subscriptions,
    params,
    '/v1/subscriptions',
    'subscription',
    (sub) =>
      statusMatches(sub) &&
      (customer === undefined || idOf(sub.customer) === customer) &&
      (price === undefined || sub.items.data.some((item) => item.price.id === price)),
  );
  if (!params.strings('expand').includes('data.customer')) return list;
  return { ...list, data: list.data.map((sub) => withCustomer(account, sub)) };
}

/** `expand: ['data.customer']`: the customer object in place of its id (deleted when gone). */
export function withCustomer(account: Account, sub: Stripe.Subscription): Stripe.Subscription {
  const id = idOf(sub.customer);
  const customer: Stripe.Customer | Stripe.DeletedCustomer = account.customers.get(id) ?? {
    id,
    object: 'customer',
    deleted: true,
  };
  return { ...sub, customer };
}

export function retrieveSubscription({ account, params, id }: RequestContext): Stripe.Subscription {
  params.allow(['expand']);
  return findSubscription(account, id);
}
