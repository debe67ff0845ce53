/** The allowance of a metered feature, its balance and the refusal rule, with a fixed clock. */
import test from 'ava';
import type { Catalog, CatalogFeature, MeteredRules } from '../../src/domain/catalog.js';
import {
  computeEntitlements,
  type EntitlementInputs,
  entitlementFor,
  type GrantFacts,
  type SubscriptionFacts,
} from '../../src/domain/entitlements.js';
import { chainStanding, emptyChainState } from '../../src/domain/usage-allocation.js';
import {
  coversRequest,
  meteredAllowance,
  meteredKindOf,
  meteredStanding,
  periodOf,
  wouldOverspend,
} from '../../src/domain/usage-balance.js';

const now = new Date('2026-06-15T12:00:00Z');
const day = 24 * 3600 * 1000;
const at = (days: number) => new Date(now.getTime() + days * day);

const rules = (overrides: Partial<MeteredRules> = {}): MeteredRules => ({
  allowance: 1000,
  allowancePerUnit: false,
  reset: 'billing_period',
  overage: 'block',
  stripeMeterEventName: null,
  ...overrides,
});
const metered = (feature: string, r: MeteredRules): CatalogFeature => ({
  feature,
  limit: null,
  limitPerUnit: false,
  kind: 'metered',
  metered: r,
});

const catalog: Catalog = new Map([
  ['price_pro', [metered('api_calls', rules())]],
  ['price_addon', [metered('api_calls', rules({ allowance: 500 }))]],
  ['price_team', [metered('ai_tokens', rules({ allowance: 100, allowancePerUnit: true }))]],
  [
    'price_basic',
    [{ feature: 'reports', limit: null, limitPerUnit: false, kind: 'boolean', metered: null }],
  ],
]);

function subscription(
  id: string,
  priceId: string,
  overrides: Partial<SubscriptionFacts> = {},
  quantity = 1,
): SubscriptionFacts {
  return {
    id,
    status: 'active',
    items: [
      {
        priceId,
        productId: 'prod_x',
        quantity,
        currentPeriodStart: at(-5),
        currentPeriodEnd: at(25),
      },
    ],
    cancelAtPeriodEnd: false,
    cancelAt: null,
    trialEnd: null,
    pastDueSince: null,
    ...overrides,
  };
}

function allowanceOf(
  feature: string,
  subscriptions: SubscriptionFacts[],
  grants: GrantFacts[] = [],
) {
  const inputs: EntitlementInputs = {
    catalog,
    gracePeriodSeconds: 3 * 86400,
    subscriptions,
    purchases: [],
    grants,
    credits: [],
    now,
  };
  return meteredAllowance(entitlementFor(computeEntitlements(inputs), feature), inputs);
}

test('one subscription: the catalog allowance, reset with its billing period', (t) => {
  const allowance = allowanceOf('api_calls', [subscription('sub_1', 'price_pro')]);
  t.is(allowance?.allowance, 1000);
  t.deepEqual(allowance?.billingPeriod, { start: at(-5), end: at(25) });
});

test('per unit: the allowance times the item quantity', (t) => {
  t.is(allowanceOf('ai_tokens', [subscription('sub_1', 'price_team', {}, 7)])?.allowance, 700);
  t.is(allowanceOf('ai_tokens', [subscription('sub_1', 'price_team', {}, 0)])?.allowance, 0);
});

test('several active subscriptions add up', (t) => {
  const allowance = allowanceOf('api_calls', [
    subscription('sub_1', 'price_pro'),
    subscription('sub_2', 'price_addon'),
  ]);
  t.is(allowance?.allowance, 1500);
});

test('past_due within grace counts; past grace or ended does not', (t) => {
  const within = subscription('sub_2', 'price_addon', { status: 'past_due', pastDueSince: at(-1) });
  const past = subscription('sub_3', 'price_addon', { status: 'past_due', pastDueSince: at(-4) });
  const ended = subscription('sub_4', 'price_addon', { status: 'canceled' });
  const pro = subscription('sub_1', 'price_pro');
  t.is(allowanceOf('api_calls', [pro, within])?.allowance, 1500);
  t.is(allowanceOf('api_calls', [pro, past])?.allowance, 1000);
  t.is(allowanceOf('api_calls', [pro, ended])?.allowance, 1000);
  t.is(allowanceOf('api_calls', [past, ended]), undefined);
});

test('a grant with a limit adds that many units per period; without a limit it makes the feature unlimited', (t) => {
  const grant = (limit: number | null): GrantFacts => ({
    id: 'gr_1',
    feature: 'api_calls',
    limit,
    expiresAt: null,
    revokedAt: null,
  });
  t.is(
    allowanceOf('api_calls', [subscription('sub_1', 'price_pro')], [grant(250)])?.allowance,
    1250,
  );
  t.is(
    allowanceOf('api_calls', [subscription('sub_1', 'price_pro')], [grant(null)])?.allowance,
    null,
  );
  const grantOnly = allowanceOf('api_calls', [], [grant(40)]);
  t.is(grantOnly?.allowance, 40);
  t.is(grantOnly?.billingPeriod, null);
});

test('not allowed or not metered: no allowance', (t) => {
  t.is(allowanceOf('api_calls', []), undefined);
  t.is(allowanceOf('reports', [subscription('sub_1', 'price_basic')]), undefined);
});

test('the catalog tells metered, not metered and unknown features apart', (t) => {
  t.is(meteredKindOf(catalog, 'api_calls').kind, 'metered');
  t.is(meteredKindOf(catalog, 'reports').kind, 'not_metered');
  t.is(meteredKindOf(catalog, 'nothing').kind, 'unknown');
});

test('of several subscriptions the one renewed last sets the period', (t) => {
  const later = subscription('sub_2', 'price_addon', {
    items: [
      {
        priceId: 'price_addon',
        productId: 'prod_x',
        quantity: 1,
        currentPeriodStart: at(-1),
        currentPeriodEnd: at(29),
      },
    ],
  });
  const allowance = allowanceOf('api_calls', [subscription('sub_1', 'price_pro'), later]);
  t.deepEqual(allowance?.billingPeriod, { start: at(-1), end: at(29) });
});

test('balance is the allowance minus usage, never below 0; resets_at is the period end', (t) => {
  const allowance = allowanceOf('api_calls', [subscription('sub_1', 'price_pro')]);
  if (!allowance) return t.fail();
  const period = periodOf(allowance, now);
  // Usage tracked in the period (no credits, no reservations).
  const used = (usage: number, limit: number | null = allowance.allowance) =>
    chainStanding(
      {
        ...emptyChainState,
        periods: [{ end: period.end, usage, fromAllowance: Math.min(usage, limit ?? usage) }],
      },
      { allowance: limit, lots: [], now },
      period.end,
    );
  t.deepEqual(meteredStanding(allowance, period, used(300)), {
    usage: 300,
    balance: 700,
    reserved: 0,
    credits: 0,
    resetsAt: at(25),
    overage: 'block',
  });
  t.is(meteredStanding(allowance, period, used(1300)).balance, 0);
  t.is(meteredStanding({ ...allowance, allowance: null }, period, used(5, null)).balance, null);
});

test('under block a request the balance does not cover is refused; under allow never', (t) => {
  const standing = {
    usage: 990,
    balance: 10,
    reserved: 0,
    credits: 0,
    resetsAt: now,
    overage: 'block' as const,
  };
  t.true(coversRequest(standing, 1));
  t.true(coversRequest(standing, 10));
  t.false(coversRequest(standing, 11));
  t.false(coversRequest({ ...standing, balance: 0 }, 1));
  t.true(coversRequest({ ...standing, balance: 0, overage: 'allow' }, 1000));
  t.true(coversRequest({ ...standing, balance: null }, 1_000_000));
});

test('an append overspends only past the allowance', (t) => {
  t.false(wouldOverspend(100, 90, 10));
  t.true(wouldOverspend(100, 90, 11));
  t.true(wouldOverspend(0, 0, 1));
  t.false(wouldOverspend(null, 1e12, 1e9));
});
