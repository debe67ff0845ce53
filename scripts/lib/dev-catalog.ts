/**
 * The dev project's sample catalog for `npm run start:local`: free, pro,
 * team (per seat), a metered feature (`api_requests`, reported to a Stripe
 * meter of that name) and a credit pack of it. The products and prices are
 * created in the Stripe account (the sandbox, or a real test-mode account)
 * through the SDK, once: products by their fixed ids, prices by lookup key.
 */
import type Stripe from 'stripe';
import type { CatalogEntryDoc } from '../../src/store/documents.js';

interface DevPlan {
  readonly product: string;
  readonly name: string;
  readonly lookupKey: string;
  readonly unitAmount: number;
  /** null: a one-time price. */
  readonly interval: 'month' | null;
  readonly features: CatalogEntryDoc['features'];
}

const metered = (allowance: number, perUnit: boolean, overage: 'block' | 'allow') => ({
  feature: 'api_requests',
  limit: null,
  limit_per_unit: false,
  kind: 'metered' as const,
  metered: {
    allowance,
    allowance_per_unit: perUnit,
    reset: 'billing_period' as const,
    overage,
    stripe_meter_event_name: overage === 'allow' ? 'api_requests' : null,
  },
});

export const DEV_PLANS: readonly DevPlan[] = [
  {
    product: 'prod_dev_free',
    name: 'Free',
    lookupKey: 'dev_free_monthly',
    unitAmount: 0,
    interval: 'month',
    features: [
      { feature: 'projects', limit: 3, limit_per_unit: false, kind: 'limit' },
      metered(1000, false, 'block'),
    ],
  },
  {
    product: 'prod_dev_pro',
    name: 'Pro',
    lookupKey: 'dev_pro_monthly',
    unitAmount: 2000,
    interval: 'month',
    features: [
      { feature: 'projects', limit: 50, limit_per_unit: false, kind: 'limit' },
      { feature: 'export', limit: null, limit_per_unit: false, kind: 'boolean' },
      metered(100_000, false, 'allow'),
    ],
  },
  {
    product: 'prod_dev_team',
    name: 'Team (per seat)',
    lookupKey: 'dev_team_seat_monthly',
    unitAmount: 1000,
    interval: 'month',
    features: [
      { feature: 'seats', limit: 1, limit_per_unit: true, kind: 'limit' },
      { feature: 'projects', limit: 500, limit_per_unit: false, kind: 'limit' },
      { feature: 'export', limit: null, limit_per_unit: false, kind: 'boolean' },
      metered(50_000, true, 'allow'),
    ],
  },
  {
    product: 'prod_dev_credits',
    name: '10,000 API requests',
    lookupKey: 'dev_api_requests_pack',
    unitAmount: 1000,
    interval: null,
    features: [
      {
        ...metered(0, false, 'block'),
        credit_pack: { amount_per_unit: 10_000, expires_after_days: 365 },
      },
    ],
  },
];

export interface DevPrice {
  readonly name: string;
  readonly priceId: string;
  readonly mode: 'subscription' | 'payment';
}

/** Creates what is missing in the Stripe account; returns the prices, in DEV_PLANS order. */
export async function ensureDevPrices(stripe: Stripe): Promise<DevPrice[]> {
  const prices: DevPrice[] = [];
  for (const plan of DEV_PLANS) {
    await ensureProduct(stripe, plan);
    const found = await stripe.prices.list({ lookup_keys: [plan.lookupKey], limit: 1 });
    const price =
      found.data[0] ??
      (await stripe.prices.create({
        product: plan.product,
        currency: 'usd',
        unit_amount: plan.unitAmount,
        lookup_key: plan.lookupKey,
        nickname: plan.name,
        ...(plan.interval === null ? {} : { recurring: { interval: plan.interval } }),
      }));
    prices.push({
      name: plan.name,
      priceId: price.id,
      mode: plan.interval === null ? 'payment' : 'subscription',
    });
  }
  return prices;
}

async function ensureProduct(stripe: Stripe, plan: DevPlan): Promise<void> {
  try {
    await stripe.products.retrieve(plan.product);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    await stripe.products.create({ id: plan.product, name: plan.name });
  }
}

/** The catalog the dev project gets: features by product id. */
export function devCatalog(): CatalogEntryDoc[] {
  return DEV_PLANS.map((plan) => ({ stripe_id: plan.product, features: [...plan.features] }));
}
