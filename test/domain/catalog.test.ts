/** How a project's stored catalog becomes the entitlement engine's. */
import test from 'ava';
import { catalogFromEntries } from '../../src/domain/catalog.js';

test('a stored catalog maps each Stripe id to its features, limits and per-unit flag', (t) => {
  const catalog = catalogFromEntries([
    {
      stripe_id: 'price_team',
      features: [
        { feature: 'seats', limit: 5, limit_per_unit: true },
        { feature: 'export', limit: null, limit_per_unit: false },
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
          { feature: 'seats', limit: 5, limitPerUnit: true },
          { feature: 'export', limit: null, limitPerUnit: false },
        ],
      ],
      ['prod_addon', []],
    ],
  );
});

test('an empty catalog maps nothing; of two entries for one id, the later counts', (t) => {
  t.is(catalogFromEntries([]).size, 0);
  const catalog = catalogFromEntries([
    { stripe_id: 'price_a', features: [{ feature: 'old', limit: 1, limit_per_unit: false }] },
    { stripe_id: 'price_a', features: [{ feature: 'new', limit: 2, limit_per_unit: false }] },
  ]);
  t.deepEqual(catalog.get('price_a'), [{ feature: 'new', limit: 2, limitPerUnit: false }]);
});
