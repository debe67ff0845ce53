/** How a project's stored catalog becomes the entitlement engine's. */
import test from 'ava';
import {
  catalogFromEntries,
  featureKindOf,
  hasMeteredFeature,
  mixedLimitFeatures,
} from '../../src/domain/catalog.js';

test('a stored catalog maps each Stripe id to its features, kinds, limits and per-unit flag', (t) => {
  const catalog = catalogFromEntries([
    {
      stripe_id: 'price_team',
      features: [
        { feature: 'seats', limit: 5, limit_per_unit: true, kind: 'limit', metered: null },
        { feature: 'export', limit: null, limit_per_unit: false, kind: 'boolean', metered: null },
      ],
    },
    { stripe_id: 'prod_addon', features: [] },
  ]);
  t.deepEqual(
    [...catalog],
    [
      [
        'price_team',
        [
          { feature: 'seats', limit: 5, limitPerUnit: true, kind: 'limit', metered: null },
          { feature: 'export', limit: null, limitPerUnit: false, kind: 'boolean', metered: null },
        ],
      ],
      ['prod_addon', []],
    ],
  );
});

test('a metered feature carries its rules to the engine', (t) => {
  const catalog = catalogFromEntries([
    {
      stripe_id: 'price_pro',
      features: [
        {
          feature: 'api_calls',
          limit: null,
          limit_per_unit: false,
          kind: 'metered',
          metered: {
            allowance: 10_000,
            allowance_per_unit: true,
            reset: 'month',
            overage: 'allow',
            stripe_meter_event_name: 'api_calls',
          },
        },
      ],
    },
  ]);
  t.deepEqual(catalog.get('price_pro'), [
    {
      feature: 'api_calls',
      limit: null,
      limitPerUnit: false,
      kind: 'metered',
      metered: {
        allowance: 10_000,
        allowancePerUnit: true,
        reset: 'month',
        overage: 'allow',
        stripeMeterEventName: 'api_calls',
      },
    },
  ]);
});

test('a catalog stored before kinds existed reads as before: a limit is a limit, else boolean', (t) => {
  const catalog = catalogFromEntries([
    {
      stripe_id: 'price_old',
      features: [
        { feature: 'seats', limit: 3, limit_per_unit: true },
        { feature: 'reports', limit: null, limit_per_unit: false },
        { feature: 'zero', limit: 0, limit_per_unit: false },
      ],
    },
  ]);
  t.deepEqual(catalog.get('price_old'), [
    { feature: 'seats', limit: 3, limitPerUnit: true, kind: 'limit', metered: null },
    { feature: 'reports', limit: null, limitPerUnit: false, kind: 'boolean', metered: null },
    { feature: 'zero', limit: 0, limitPerUnit: false, kind: 'limit', metered: null },
  ]);
});

test('featureKindOf: a stored kind wins over the old rule', (t) => {
  t.is(featureKindOf({ limit: 5 }), 'limit');
  t.is(featureKindOf({ limit: null }), 'boolean');
  t.is(featureKindOf({ limit: null, kind: 'metered' }), 'metered');
  t.is(featureKindOf({ limit: null, kind: 'limit' }), 'limit');
  t.is(featureKindOf({ limit: 5, kind: 'boolean' }), 'boolean');
});

test('metered rules on a feature not stored as metered are not read', (t) => {
  const catalog = catalogFromEntries([
    {
      stripe_id: 'price_a',
      features: [
        {
          feature: 'x',
          limit: null,
          limit_per_unit: false,
          metered: {
            allowance: 1,
            allowance_per_unit: false,
            reset: 'day',
            overage: 'block',
            stripe_meter_event_name: null,
          },
        },
      ],
    },
  ]);
  t.is(catalog.get('price_a')?.[0]?.metered, null);
  t.is(catalog.get('price_a')?.[0]?.kind, 'boolean');
});

test('an empty catalog maps nothing; of two entries for one id, the later counts', (t) => {
  t.is(catalogFromEntries([]).size, 0);
  const catalog = catalogFromEntries([
    { stripe_id: 'price_a', features: [{ feature: 'old', limit: 1, limit_per_unit: false }] },
    { stripe_id: 'price_a', features: [{ feature: 'new', limit: 2, limit_per_unit: false }] },
  ]);
  t.deepEqual(catalog.get('price_a'), [
    { feature: 'new', limit: 2, limitPerUnit: false, kind: 'limit', metered: null },
  ]);
});

test('a catalog has a metered feature when any entry gives one', (t) => {
  const plain = {
    stripe_id: 'price_pro',
    features: [{ feature: 'export', limit: null, limit_per_unit: false, kind: 'boolean' as const }],
  };
  const metered = {
    stripe_id: 'price_api',
    features: [
      {
        feature: 'api_calls',
        limit: null,
        limit_per_unit: false,
        kind: 'metered' as const,
        metered: {
          allowance: 100,
          allowance_per_unit: false,
          reset: 'billing_period' as const,
          overage: 'block' as const,
          stripe_meter_event_name: null,
        },
      },
    ],
  };
  t.false(hasMeteredFeature(catalogFromEntries([])));
  t.false(hasMeteredFeature(catalogFromEntries([plain, { stripe_id: 'prod_x', features: [] }])));
  t.true(hasMeteredFeature(catalogFromEntries([plain, metered])));
});

test('a feature limited on one price and unlimited on another is a mixed limit feature', (t) => {
  const feature = (name: string, limit: number | null, kind?: 'boolean' | 'limit' | 'metered') => ({
    feature: name,
    limit,
    ...(kind ? { kind } : {}),
  });
  const mixed = mixedLimitFeatures([
    { features: [feature('seats', 5), feature('sso', null), feature('calls', null, 'metered')] },
    { features: [feature('seats', null), feature('sso', null, 'boolean'), feature('projects', 3)] },
    { features: [feature('calls', null, 'metered'), feature('projects', null, 'limit')] },
  ]);
  t.deepEqual([...mixed], ['seats']);
});
