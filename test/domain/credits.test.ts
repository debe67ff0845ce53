/**
 * Credits, pure: the lots credit packs give, when a lot counts, what is
 * left of it; the engine's CREDITS source; and that neither credits nor
 * pack entries count as period allowance.
 */
import test from 'ava';
import { type Catalog, type CatalogFeature, catalogFromEntries } from '../../src/domain/catalog.js';
import {
  type CreditLotFacts,
  isLotActive,
  isPackLotId,
  type PackPurchaseFacts,
  packLotId,
  packLots,
  remainingOf,
} from '../../src/domain/credits.js';
import {
  computeEntitlements,
  type EntitlementInputs,
  entitlementFor,
} from '../../src/domain/entitlements.js';
import { meteredAllowance } from '../../src/domain/usage-balance.js';
import { at, inputs, now, subscription } from './engine-fixtures.js';

const meteredRules = {
  allowance: 100,
  allowancePerUnit: false,
  reset: 'billing_period' as const,
  overage: 'block' as const,
  stripeMeterEventName: null,
};
const plan: CatalogFeature = {
  feature: 'api_calls',
  limit: null,
  limitPerUnit: false,
  kind: 'metered',
  metered: meteredRules,
};
const pack = (amountPerUnit: number, expiresAfterDays: number): CatalogFeature => ({
  ...plan,
  metered: { ...meteredRules, allowance: 0 },
  creditPack: { amountPerUnit, expiresAfterDays },
});

const catalog: Catalog = new Map<string, readonly CatalogFeature[]>([
  ['price_plan', [plan]],
  ['price_pack_1k', [pack(1000, 30)]],
  ['prod_forever', [pack(50, 0)]],
  ['price_two', [pack(10, 0), { ...pack(5, 7), feature: 'ai_tokens' }]],
  [
    'price_sso',
    [{ feature: 'sso', limit: null, limitPerUnit: false, kind: 'boolean', metered: null }],
  ],
]);

function purchase(overrides: Partial<PackPurchaseFacts> = {}): PackPurchaseFacts {
  return {
    checkoutSessionId: 'cs_test_1',
    paidAt: at(-1),
    refundedAt: null,
    items: [{ priceId: 'price_pack_1k', productId: 'prod_pack', quantity: 3 }],
    ...overrides,
  };
}

function lot(overrides: Partial<CreditLotFacts> = {}): CreditLotFacts {
  return {
    id: 'crd_000000001aaaaaa',
    feature: 'api_calls',
    source: 'grant',
    amount: 500,
    createdAt: at(-2),
    expiresAt: null,
    endedAt: null,
    ...overrides,
  };
}

test('a paid pack gives one lot: amount per unit x quantity, dated and expiring from payment', (t) => {
  t.deepEqual(packLots([purchase()], catalog), [
    {
      id: 'cs_test_1:price_pack_1k:api_calls',
      feature: 'api_calls',
      source: 'pack',
      amount: 3000,
      createdAt: at(-1),
      expiresAt: at(29),
      endedAt: null,
    },
  ]);
});

test('a pack that expires after 0 days never expires', (t) => {
  const items = [{ priceId: 'price_other', productId: 'prod_forever', quantity: 2 }];
  const [forever] = packLots([purchase({ items })], catalog);
  t.like(forever, { id: 'cs_test_1:prod_forever:api_calls', amount: 100, expiresAt: null });
});

test('an unpaid purchase gives no lot; a refunded one gives an ended lot', (t) => {
  t.deepEqual(packLots([purchase({ paidAt: null })], catalog), []);
  const [refunded] = packLots([purchase({ refundedAt: at(-0.5) })], catalog);
  t.deepEqual(refunded?.endedAt, at(-0.5));
  t.false(refunded !== undefined && isLotActive(refunded, now));
});

test('two line items of one pack add up to one lot; each pack feature is its own lot', (t) => {
  const items = [
    { priceId: 'price_pack_1k', productId: 'prod_pack', quantity: 1 },
    { priceId: 'price_pack_1k', productId: 'prod_pack', quantity: 2 },
    { priceId: 'price_two', productId: 'prod_two', quantity: 4 },
  ];
  const lots = packLots([purchase({ items })], catalog);
  t.deepEqual(
    lots.map((l) => [l.id, l.amount, l.expiresAt]),
    [
      ['cs_test_1:price_pack_1k:api_calls', 3000, at(29)],
      ['cs_test_1:price_two:api_calls', 40, null],
      ['cs_test_1:price_two:ai_tokens', 20, at(6)],
    ],
  );
});

test('plans, boolean features and unknown prices give no lot; lots are named per purchase', (t) => {
  const items = [
    { priceId: 'price_plan', productId: 'prod_plan', quantity: 1 },
    { priceId: 'price_sso', productId: 'prod_sso', quantity: 1 },
    { priceId: 'price_gone', productId: 'prod_gone', quantity: 1 },
  ];
  t.deepEqual(packLots([purchase({ items })], catalog), []);
  const again = packLots([purchase(), purchase({ checkoutSessionId: 'cs_test_2' })], catalog);
  t.deepEqual(
    again.map((l) => l.id),
    ['cs_test_1:price_pack_1k:api_calls', 'cs_test_2:price_pack_1k:api_calls'],
  );
});

test('a stored credit pack reaches the engine on metered features only', (t) => {
  const stored = catalogFromEntries([
    {
      stripe_id: 'price_pack',
      features: [
        {
          feature: 'api_calls',
          limit: null,
          limit_per_unit: false,
          kind: 'metered',
          metered: {
            allowance: 0,
            allowance_per_unit: false,
            reset: 'billing_period',
            overage: 'block',
            stripe_meter_event_name: null,
          },
          credit_pack: { amount_per_unit: 100, expires_after_days: 365 },
        },
        {
          feature: 'sso',
          limit: null,
          limit_per_unit: false,
          kind: 'boolean',
          credit_pack: { amount_per_unit: 1, expires_after_days: 0 },
        },
      ],
    },
  ]);
  const [credits, sso] = stored.get('price_pack') ?? [];
  t.deepEqual(credits?.creditPack, { amountPerUnit: 100, expiresAfterDays: 365 });
  t.is(sso?.creditPack, undefined);
});

test('pack lot ids are told apart from granted ones', (t) => {
  t.true(isPackLotId(packLotId('cs_test_a1B2', 'price_pack', 'api_calls')));
  t.true(isPackLotId('cs_live_x:prod_credits:ns:feature.v2'));
  t.false(isPackLotId('crd_000000001aaaaaa'));
  t.false(isPackLotId('cs_test_1'));
  t.false(isPackLotId('cs_test_1:sub_1:api_calls'));
});

test('a lot is active until it expires, is revoked or refunded', (t) => {
  t.true(isLotActive(lot(), now));
  t.true(isLotActive(lot({ expiresAt: at(1) }), now));
  t.false(isLotActive(lot({ expiresAt: now }), now), 'expiry is exclusive');
  t.false(isLotActive(lot({ expiresAt: at(-1) }), now));
  t.false(isLotActive(lot({ endedAt: at(-1) }), now));
});

test('what is left: amount minus used, never below 0, 0 once ended or expired', (t) => {
  t.is(remainingOf(lot(), 0, now), 500);
  t.is(remainingOf(lot(), 120, now), 380);
  t.is(remainingOf(lot(), 900, now), 0);
  t.is(remainingOf(lot({ endedAt: at(-1) }), 0, now), 0);
  t.is(remainingOf(lot({ expiresAt: at(-1) }), 0, now), 0);
});

const engineInputs = (overrides: Partial<EntitlementInputs>): EntitlementInputs =>
  inputs({ catalog, gracePeriodSeconds: 0, now, ...overrides });

test('an active lot of a metered feature is a CREDITS source, valid until its expiry', (t) => {
  const set = computeEntitlements(engineInputs({ credits: [lot({ expiresAt: at(3) })] }));
  const api = entitlementFor(set, 'api_calls');
  t.true(api.allowed);
  t.deepEqual(api.sources, [
    {
      kind: 'credits',
      id: 'crd_000000001aaaaaa',
      limit: null,
      validUntil: at(3),
      status: null,
      catalogId: null,
    },
  ]);
  t.deepEqual(api.validUntil, at(3));
  t.deepEqual(set.validUntil, at(3));
});

test('the earliest lot expiry bounds the answer', (t) => {
  const credits = [
    lot({ id: 'crd_a', expiresAt: at(9) }),
    lot({ id: 'crd_b', expiresAt: at(2) }),
    lot({ id: 'crd_c' }),
  ];
  const api = entitlementFor(computeEntitlements(engineInputs({ credits })), 'api_calls');
  t.deepEqual(
    api.sources.map((s) => s.id),
    ['crd_a', 'crd_b', 'crd_c'],
  );
  t.deepEqual(api.validUntil, at(2));
});

test('revoked, refunded and expired lots give nothing: the feature has no source', (t) => {
  const credits = [
    lot({ id: 'crd_revoked', endedAt: at(-1) }),
    lot({ id: 'crd_expired', expiresAt: at(-1) }),
  ];
  const api = entitlementFor(computeEntitlements(engineInputs({ credits })), 'api_calls');
  t.false(api.allowed);
  t.is(api.denialReason, 'no_source');
});

test('lots of features that are not metered, or not in the catalog, give nothing', (t) => {
  const credits = [lot({ id: 'crd_sso', feature: 'sso' }), lot({ id: 'crd_x', feature: 'gone' })];
  const set = computeEntitlements(engineInputs({ credits }));
  t.deepEqual(set.entitlements, []);
});

test('a paid pack purchase gives credits only: no purchase source for its feature', (t) => {
  const bought = {
    id: 'cs_test_1',
    paid: true,
    refunded: false,
    items: [{ priceId: 'price_pack_1k', productId: 'prod_pack', quantity: 3 }],
  };
  const credits = packLots([purchase()], catalog);
  const set = computeEntitlements(engineInputs({ purchases: [bought], credits }));
  const api = entitlementFor(set, 'api_calls');
  t.deepEqual(
    api.sources.map((s) => [s.kind, s.id]),
    [['credits', 'cs_test_1:price_pack_1k:api_calls']],
  );
  // Once the pack expires, nothing is left to give the feature.
  const later = computeEntitlements(engineInputs({ purchases: [bought], credits, now: at(40) }));
  t.false(entitlementFor(later, 'api_calls').allowed);
});

test('credits and pack entries add no period allowance', (t) => {
  const period = { currentPeriodStart: at(-10), currentPeriodEnd: at(20) };
  const items = [
    { priceId: 'price_plan', productId: 'prod_plan', quantity: 1, ...period },
    // A pack price on a subscription gives no allowance either.
    { priceId: 'price_pack_1k', productId: 'prod_pack', quantity: 1, ...period },
  ];
  const subscriptions = [subscription({ items })];
  const withPlan = engineInputs({ subscriptions, credits: [lot()] });
  const api = entitlementFor(computeEntitlements(withPlan), 'api_calls');
  t.is(meteredAllowance(api, withPlan)?.allowance, 100);
  const creditsOnly = engineInputs({ credits: [lot()] });
  const alone = entitlementFor(computeEntitlements(creditsOnly), 'api_calls');
  t.is(meteredAllowance(alone, creditsOnly)?.allowance, 0);
});
