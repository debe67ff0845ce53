/**
 * Sandbox Stripe object builders: subscriptions and their items (billing periods live on the items).
 * Shaped on Stripe's fixtures and typed with the SDK's types (stripe-objects.ts).
 */
import type Stripe from 'stripe';
import { makePrice, planFromPrice } from './price-objects.js';
import { addInterval, type Interval, nowSeconds, stripeId } from './stripe-values.js';

export interface SubscriptionItemSpec {
  readonly id?: string;
  /** A price id (the price is built from the other fields) or a full price. */
  readonly price: string | Stripe.Price;
  readonly product?: string;
  readonly quantity?: number;
  readonly interval?: Interval;
  readonly interval_count?: number;
  readonly unit_amount?: number;
  readonly currency?: string;
  readonly current_period_start?: number;
  readonly current_period_end?: number;
  readonly created?: number;
  readonly metadata?: Stripe.Metadata;
}

export interface SubscriptionSpec {
  readonly id?: string;
  readonly customer?: string;
  readonly status?: Stripe.Subscription.Status;
  /** Default: one item, a monthly 20.00 USD price. */
  readonly items?: readonly SubscriptionItemSpec[];
  readonly created?: number;
  /** Default for every item's `current_period_start`: `created`. */
  readonly current_period_start?: number;
  readonly cancel_at_period_end?: boolean;
  /** Default: the period end when `cancel_at_period_end`, else null. */
  readonly cancel_at?: number | null;
  /** Default: `now` for a canceled subscription, else null. */
  readonly canceled_at?: number | null;
  readonly ended_at?: number | null;
  readonly trial_start?: number | null;
  /** Default: the period end for a `trialing` subscription, else null. */
  readonly trial_end?: number | null;
  readonly currency?: string;
  readonly metadata?: Stripe.Metadata;
  readonly latest_invoice?: string | null;
  readonly collection_method?: Stripe.Subscription.CollectionMethod;
  readonly description?: string | null;
}

function itemPrice(spec: SubscriptionItemSpec, currency: string, created: number): Stripe.Price {
  if (typeof spec.price !== 'string') return spec.price;
  return makePrice({
    id: spec.price,
    created,
    currency: spec.currency ?? currency,
    unit_amount: spec.unit_amount ?? 2000,
    recurring: { interval: spec.interval ?? 'month', interval_count: spec.interval_count ?? 1 },
    ...(spec.product === undefined ? {} : { product: spec.product }),
  });
}

/** A full `Stripe.SubscriptionItem` of subscription `subscriptionId`. */
export function makeSubscriptionItem(
  spec: SubscriptionItemSpec,
  subscriptionId: string,
  defaults: { readonly currency?: string; readonly created?: number; readonly start?: number } = {},
): Stripe.SubscriptionItem {
  const created = spec.created ?? defaults.created ?? nowSeconds();
  const price = itemPrice(spec, defaults.currency ?? 'usd', created);
  const recurring = price.recurring;
  if (recurring === null) throw new Error(`subscription item price ${price.id} is not recurring`);
  const start = spec.current_period_start ?? defaults.start ?? created;
  return {
    id: spec.id ?? stripeId('si_', 14),
    object: 'subscription_item',
    billing_thresholds: null,
    created,
    current_period_end:
      spec.current_period_end ?? addInterval(start, recurring.interval, recurring.interval_count),
    current_period_start: start,
    current_trial: null,
    discounts: [],
    metadata: { ...spec.metadata },
    plan: planFromPrice(price),
    price,
    quantity: spec.quantity ?? 1,
    subscription: subscriptionId,
    tax_rates: [],
  };
}

/**
 * A full `Stripe.Subscription` (fixture `resources.subscription`), with its
 * periods on the items. Note: `cancellation_details.feedback_option` and
 * `trial_settings.end_behavior.billing_cycle_anchor` are required by the types
 * but absent from the fixture; `transfer_data` is null (the fixture's
 * `{ id, object }` destination is not a valid `string | Account`).
 */
export function makeSubscription(spec: SubscriptionSpec = {}): Stripe.Subscription {
  const id = spec.id ?? stripeId('sub_');
  const created = spec.created ?? nowSeconds();
  const currency = spec.currency ?? 'usd';
  const start = spec.current_period_start ?? created;
  const itemSpecs = spec.items ?? [{ price: stripeId('price_') }];
  const items = itemSpecs.map((item) =>
    makeSubscriptionItem(item, id, { currency, created, start }),
  );
  const status = spec.status ?? 'active';
  const periodEnd = items.reduce(
    (end, item) => Math.min(end, item.current_period_end),
    Number.POSITIVE_INFINITY,
  );
  const firstEnd = Number.isFinite(periodEnd) ? periodEnd : addInterval(start, 'month');
  const cancelAtPeriodEnd = spec.cancel_at_period_end ?? false;
  const canceledAt =
    spec.canceled_at !== undefined
      ? spec.canceled_at
      : status === 'canceled' || cancelAtPeriodEnd
        ? nowSeconds()
        : null;
  const trialEnd =
    spec.trial_end !== undefined ? spec.trial_end : status === 'trialing' ? firstEnd : null;
  const trialStart =
    spec.trial_start !== undefined ? spec.trial_start : trialEnd === null ? null : created;
  return {
    id,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: start,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: null, type: 'classic' },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: spec.cancel_at !== undefined ? spec.cancel_at : cancelAtPeriodEnd ? firstEnd : null,
    cancel_at_period_end: cancelAtPeriodEnd,
    canceled_at: canceledAt,
    cancellation_details: {
      comment: null,
      feedback: null,
      feedback_option: null,
      reason: status === 'canceled' || cancelAtPeriodEnd ? 'cancellation_requested' : null,
    },
    collection_method: spec.collection_method ?? 'charge_automatically',
    created,
    currency,
    customer: spec.customer ?? stripeId('cus_', 14),
    customer_account: null,
    days_until_due: null,
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: spec.description ?? null,
    discounts: [],
    ended_at:
      spec.ended_at !== undefined ? spec.ended_at : status === 'canceled' ? canceledAt : null,
    invoice_settings: {
      account_tax_ids: null,
      custom_fields: null,
      description: null,
      footer: null,
      issuer: { type: 'self' },
    },
    items: {
      object: 'list',
      data: items,
      has_more: false,
      url: `/v1/subscription_items?subscription=${id}`,
    },
    latest_invoice: spec.latest_invoice ?? null,
    livemode: false,
    managed_payments: null,
    metadata: { ...spec.metadata },
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: {
      payment_method_options: null,
      payment_method_types: null,
      save_default_payment_method: 'off',
    },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: created,
    status,
    test_clock: null,
    transfer_data: null,
    trial_end: trialEnd,
    trial_settings: {
      end_behavior: { billing_cycle_anchor: null, missing_payment_method: 'create_invoice' },
    },
    trial_start: trialStart,
  };
}
