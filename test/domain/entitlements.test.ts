/** The entitlement engine, rule by rule, with a fixed clock. */
import test from 'ava';
import type { Catalog } from '../../src/domain/catalog.js';
import {
  computeEntitlements,
  type EntitlementInputs,
  entitlementFor,
  type GrantFacts,
  type PurchaseFacts,
  type SubscriptionFacts,
} from '../../src/domain/entitlements.js';

const now = new Date('2026-06-15T12:00:00Z');
const day = 24 * 3600 * 1000;
const at = (offsetDays: number) => new Date(now.getTime() + offsetDays * day);

const catalog: Catalog = new Map([
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

function subscription(overrides: Partial<SubscriptionFacts> = {}): SubscriptionFacts {
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

function inputs(overrides: Partial<EntitlementInputs>): EntitlementInputs {
  return {
    catalog,
    gracePeriodSeconds: 3 * 24 * 3600,
    subscriptions: [],
    purchases: [],
    grants: [],
    now,
    ...overrides,
  };
}

const features = (input: EntitlementInputs) =>
  computeEntitlements(input).entitlements.map((e) => e.feature);

test('an active subscription gives its price features, with no end of its own', (t) => {
  const set = computeEntitlements(inputs({ subscriptions: [subscription()] }));
  t.deepEqual(
    set.entitlements.map((e) => e.feature),
    ['reports', 'seats'],
  );
  const reports = entitlementFor(set, 'reports');
  t.true(reports.allowed);
  t.is(reports.limit, null);
  t.is(reports.validUntil, null);
  t.deepEqual(reports.sources, [
    {
      kind: 'subscription',
      id: 'sub_1',
      limit: null,
      validUntil: null,
      status: 'active',
      catalogId: 'price_pro_monthly',
    },
  ]);
  t.is(set.validUntil, null);
});

test('a per-unit limit is multiplied by the item quantity (seats)', (t) => {
  const set = computeEntitlements(inputs({ subscriptions: [subscription()] }));
  t.is(entitlementFor(set, 'seats').limit, 5);
});

test('a product id in the catalog matches every price of that product', (t) => {
  const sub = subscription({
    items: [
      {
        priceId: 'price_api_yearly',
        productId: 'prod_api',
        quantity: 1,
        currentPeriodStart: at(-1),
        currentPeriodEnd: at(300),
      },
    ],
  });
  const api = entitlementFor(computeEntitlements(inputs({ subscriptions: [sub] })), 'api');
  t.true(api.allowed);
  t.is(api.limit, 1000);
  t.is(api.sources[0]?.catalogId, 'prod_api');
});

test('a trial gives features until trial_end, then not', (t) => {
  const trial = subscription({ status: 'trialing', trialEnd: at(7) });
  const during = entitlementFor(computeEntitlements(inputs({ subscriptions: [trial] })), 'reports');
  t.true(during.allowed);
  t.deepEqual(during.validUntil, at(7));
  t.deepEqual(features(inputs({ subscriptions: [trial], now: at(7) })), []);
});

test('past_due keeps features for the grace period counted from when it became past_due', (t) => {
  // A mid-cycle upgrade invoice failed an hour ago; the period began 20 days ago.
  const pastDue = subscription({
    status: 'past_due',
    items: [
      {
        priceId: 'price_pro_monthly',
        productId: 'prod_pro',
        quantity: 1,
        currentPeriodStart: at(-20),
        currentPeriodEnd: at(10),
      },
    ],
    pastDueSince: new Date(now.getTime() - 3600_000),
  });
  const within = entitlementFor(
    computeEntitlements(inputs({ subscriptions: [pastDue] })),
    'reports',
  );
  t.true(within.allowed);
  t.deepEqual(within.validUntil, new Date(at(3).getTime() - 3600_000));
  t.deepEqual(features(inputs({ subscriptions: [pastDue], now: at(3) })), []);
  t.deepEqual(features(inputs({ subscriptions: [pastDue], gracePeriodSeconds: 0 })), []);
});

test('past_due since four days, with a three-day grace period, gives nothing', (t) => {
  const pastDue = subscription({ status: 'past_due', pastDueSince: at(-4) });
  t.deepEqual(features(inputs({ subscriptions: [pastDue] })), []);
});

test('past_due without a known start gives no grace', (t) => {
  const pastDue = subscription({ status: 'past_due', pastDueSince: null });
  t.deepEqual(features(inputs({ subscriptions: [pastDue] })), []);
});

test('cancel_at_period_end keeps features until the period ends', (t) => {
  const canceling = subscription({ cancelAtPeriodEnd: true });
  const reports = entitlementFor(
    computeEntitlements(inputs({ subscriptions: [canceling] })),
    'reports',
  );
  t.true(reports.allowed);
  t.deepEqual(reports.validUntil, at(20));
  t.deepEqual(features(inputs({ subscriptions: [canceling], now: at(20) })), []);
});

test('a scheduled cancel_at ends features at that time', (t) => {
  const scheduled = subscription({ cancelAt: at(3) });
  t.deepEqual(
    entitlementFor(computeEntitlements(inputs({ subscriptions: [scheduled] })), 'reports')
      .validUntil,
    at(3),
  );
  t.deepEqual(features(inputs({ subscriptions: [scheduled], now: at(4) })), []);
});

for (const status of ['canceled', 'unpaid', 'incomplete', 'incomplete_expired', 'paused']) {
  test(`status ${status} gives nothing`, (t) => {
    t.deepEqual(features(inputs({ subscriptions: [subscription({ status })] })), []);
  });
}

test('a paid purchase gives its features for good; refunded or unpaid, nothing', (t) => {
  const purchase: PurchaseFacts = {
    id: 'cs_1',
    paid: true,
    refunded: false,
    items: [{ priceId: 'price_lifetime', productId: 'prod_lifetime', quantity: 1 }],
  };
  const exported = entitlementFor(computeEntitlements(inputs({ purchases: [purchase] })), 'export');
  t.true(exported.allowed);
  t.is(exported.validUntil, null);
  t.is(exported.sources[0]?.kind, 'purchase');
  t.deepEqual(features(inputs({ purchases: [{ ...purchase, refunded: true }] })), []);
  t.deepEqual(features(inputs({ purchases: [{ ...purchase, paid: false }] })), []);
});

test('a grant gives its feature until it expires or is revoked', (t) => {
  const grant: GrantFacts = {
    id: 'gr_1',
    feature: 'beta',
    limit: 3,
    expiresAt: at(1),
    revokedAt: null,
  };
  const beta = entitlementFor(computeEntitlements(inputs({ grants: [grant] })), 'beta');
  t.true(beta.allowed);
  t.is(beta.limit, 3);
  t.deepEqual(beta.validUntil, at(1));
  t.deepEqual(features(inputs({ grants: [grant], now: at(1) })), []);
  t.deepEqual(features(inputs({ grants: [{ ...grant, revokedAt: at(-1) }] })), []);
  t.deepEqual(features(inputs({ grants: [{ ...grant, expiresAt: null }], now: at(10_000) })), [
    'beta',
  ]);
});

test('the limit is the largest of all sources; unlimited beats any number', (t) => {
  const api = (grants: GrantFacts[]) =>
    entitlementFor(
      computeEntitlements(
        inputs({
          subscriptions: [
            subscription({
              items: [
                {
                  priceId: 'price_small_api',
                  productId: 'prod_x',
                  quantity: 1,
                  currentPeriodStart: at(-1),
                  currentPeriodEnd: at(29),
                },
              ],
            }),
          ],
          grants,
        }),
      ),
      'api',
    );
  t.is(api([]).limit, 200);
  t.is(api([{ id: 'g', feature: 'api', limit: 500, expiresAt: null, revokedAt: null }]).limit, 500);
  t.is(api([{ id: 'g', feature: 'api', limit: 50, expiresAt: null, revokedAt: null }]).limit, 200);
  t.is(
    api([{ id: 'g', feature: 'api', limit: null, expiresAt: null, revokedAt: null }]).limit,
    null,
  );
  t.is(
    api([{ id: 'g', feature: 'api', limit: null, expiresAt: null, revokedAt: null }]).sources
      .length,
    2,
  );
});

test('valid_until is the earliest end among sources, and of the whole set', (t) => {
  const set = computeEntitlements(
    inputs({
      subscriptions: [subscription({ cancelAtPeriodEnd: true })],
      grants: [
        { id: 'g1', feature: 'reports', limit: null, expiresAt: at(5), revokedAt: null },
        { id: 'g2', feature: 'beta', limit: null, expiresAt: at(2), revokedAt: null },
      ],
    }),
  );
  t.deepEqual(entitlementFor(set, 'reports').validUntil, at(5));
  t.deepEqual(set.validUntil, at(2));
});

test('a feature nobody gives is not allowed, with no sources', (t) => {
  const answer = entitlementFor(
    computeEntitlements(inputs({ subscriptions: [subscription()] })),
    'nope',
  );
  t.deepEqual(answer, {
    feature: 'nope',
    allowed: false,
    limit: null,
    sources: [],
    validUntil: null,
  });
});

test('prices missing from the catalog give nothing', (t) => {
  const sub = subscription({
    items: [
      {
        priceId: 'price_unknown',
        productId: 'prod_unknown',
        quantity: 1,
        currentPeriodStart: at(-1),
        currentPeriodEnd: at(1),
      },
    ],
  });
  t.deepEqual(features(inputs({ subscriptions: [sub] })), []);
});
