/**
 * The entitlement engine's test inputs, with a fixed clock: shared by the
 * engine's tests (entitlements.test.ts) and the denial reasons' tests.
 */
import type { Catalog } from '../../src/domain/catalog.js';
import type { CreditLotFacts } from '../../src/domain/credits.js';
import type { EntitlementInputs, SubscriptionFacts } from '../../src/domain/entitlements.js';

export const now = new Date('2026-06-15T12:00:00Z');
export const day = 24 * 3600 * 1000;
export const at = (offsetDays: number) => new Date(now.getTime() + offsetDays * day);

export const catalog: Catalog = new Map([
  [
    'price_pro_monthly',
    [
      { feature: 'reports', limit: null, limitPerUnit: false, kind: 'boolean', metered: null },
      { feature: 'seats', limit: 1, limitPerUnit: true, kind: 'limit', metered: null },
    ],
  ],
  [
    'prod_api',
    [{ feature: 'api', limit: 1000, limitPerUnit: false, kind: 'limit', metered: null }],
  ],
  [
    'price_lifetime',
    [{ feature: 'export', limit: null, limitPerUnit: false, kind: 'boolean', metered: null }],
  ],
  [
    'price_small_api',
    [{ feature: 'api', limit: 200, limitPerUnit: false, kind: 'limit', metered: null }],
  ],
]);

export function subscription(overrides: Partial<SubscriptionFacts> = {}): SubscriptionFacts {
  return {
    id: 'sub_1',
    status: 'active',
    items: [
      {
        priceId: 'price_pro_monthly',
        productId: 'prod_pro',
        quantity: 5,
        currentPeriodStart: at(-10),
        currentPeriodEnd: at(20),
      },
    ],
    cancelAtPeriodEnd: false,
    cancelAt: null,
    trialEnd: null,
    pastDueSince: null,
    ...overrides,
  };
}

export function inputs(overrides: Partial<EntitlementInputs>): EntitlementInputs {
  return {
    catalog,
    gracePeriodSeconds: 3 * 24 * 3600,
    subscriptions: [],
    purchases: [],
    grants: [],
    credits: [],
    now,
    ...overrides,
  };
}

/** A credit lot of api_calls granted 5 days ago that never expires, unless overridden. */
export function creditLot(
  id: string,
  amount: number,
  overrides: Partial<CreditLotFacts> = {},
): CreditLotFacts {
  return {
    id,
    feature: 'api_calls',
    source: 'grant',
    amount,
    createdAt: at(-5),
    expiresAt: null,
    endedAt: null,
    ...overrides,
  };
}
