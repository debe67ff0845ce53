/**
 * Sandbox Stripe object builders: prices and the legacy plans derived from them.
 * Shaped on Stripe's fixtures and typed with the SDK's types (stripe-objects.ts).
 */
import Stripe from 'stripe';
import { type Interval, nowSeconds, stripeId } from './stripe-values.js';

export function decimal(value: number | null): Stripe.Decimal | null {
  // The types say Decimal (the SDK turns `*_decimal` strings of API responses
  // into Decimal objects); JSON.stringify writes it back as the string Stripe sends.
  return value === null ? null : Stripe.Decimal.from(String(value));
}

export interface PriceSpec {
  readonly id?: string;
  readonly product?: string;
  readonly currency?: string;
  readonly unit_amount?: number | null;
  /** Omit or `null` for a one-time price. */
  readonly recurring?: {
    readonly interval: Interval;
    readonly interval_count?: number;
    readonly trial_period_days?: number | null;
  } | null;
  readonly active?: boolean;
  readonly created?: number;
  readonly nickname?: string | null;
  readonly lookup_key?: string | null;
  readonly metadata?: Stripe.Metadata;
}

/** A full `Stripe.Price` (fixture `resources.price`). */
export function makePrice(spec: PriceSpec = {}): Stripe.Price {
  const unitAmount = spec.unit_amount === undefined ? 2000 : spec.unit_amount;
  const recurring = spec.recurring ?? null;
  return {
    id: spec.id ?? stripeId('price_'),
    object: 'price',
    active: spec.active ?? true,
    billing_scheme: 'per_unit',
    created: spec.created ?? nowSeconds(),
    currency: spec.currency ?? 'usd',
    custom_unit_amount: null,
    livemode: false,
    lookup_key: spec.lookup_key ?? null,
    metadata: { ...spec.metadata },
    nickname: spec.nickname ?? null,
    product: spec.product ?? stripeId('prod_', 14),
    recurring:
      recurring === null
        ? null
        : {
            interval: recurring.interval,
            interval_count: recurring.interval_count ?? 1,
            meter: null,
            trial_period_days: recurring.trial_period_days ?? null,
            usage_type: 'licensed',
          },
    tax_behavior: 'unspecified',
    tiers_mode: null,
    transform_quantity: null,
    type: recurring === null ? 'one_time' : 'recurring',
    unit_amount: unitAmount,
    unit_amount_decimal: decimal(unitAmount),
  };
}

/** The legacy `plan` that Stripe still puts on subscription items, derived from a recurring price. */
export function planFromPrice(price: Stripe.Price): Stripe.Plan {
  const recurring = price.recurring;
  if (recurring === null) throw new Error(`price ${price.id} is not recurring`);
  return {
    id: price.id,
    object: 'plan',
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: price.billing_scheme,
    created: price.created,
    currency: price.currency,
    interval: recurring.interval,
    interval_count: recurring.interval_count,
    livemode: false,
    metadata: {},
    meter: null,
    nickname: price.nickname,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: recurring.trial_period_days,
    usage_type: recurring.usage_type,
  };
}
