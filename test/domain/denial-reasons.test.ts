/** Why the engine refuses a feature (denial-reasons.ts), reason by reason, with a fixed clock. */
import test from 'ava';
import type { Catalog, CatalogFeature } from '../../src/domain/catalog.js';
import {
  computeEntitlements,
  type EntitlementInputs,
  type EntitlementSet,
  entitlementFor,
  type GrantFacts,
} from '../../src/domain/entitlements.js';
import { at, day, inputs as engineInputs, now, subscription } from './engine-fixtures.js';

const flag = (feature: string): CatalogFeature => ({
  feature,
  limit: null,
  limitPerUnit: false,
  kind: 'boolean',
  metered: null,
});

const catalog: Catalog = new Map([
  ['price_pro_monthly', [flag('reports'), flag('export')]],
  ['prod_pro', [flag('sso')]],
  ['price_other', [flag('audit')]],
]);

function grant(overrides: Partial<GrantFacts> = {}): GrantFacts {
  return {
    id: 'gr_1',
    feature: 'beta',
    limit: null,
    expiresAt: null,
    revokedAt: null,
    ...overrides,
  };
}

/** The engine's inputs over this file's catalog. */
const inputs = (overrides: Partial<EntitlementInputs> = {}) =>
  engineInputs({ catalog, ...overrides });

const reasonOf = (input: EntitlementInputs, feature: string) =>
  entitlementFor(computeEntitlements(input), feature).denialReason;

test('a feature in no catalog entry and in no grant is unknown', (t) => {
  t.is(reasonOf(inputs(), 'nope'), 'unknown_feature');
  t.is(reasonOf(inputs({ subscriptions: [subscription()] }), 'nope'), 'unknown_feature');
  t.is(reasonOf(inputs({ catalog: new Map() }), 'reports'), 'unknown_feature');
});

test('a catalog feature nobody gives has no source', (t) => {
  t.is(reasonOf(inputs(), 'reports'), 'no_source');
  // A subscription to another price does not make it ended.
  t.is(
    reasonOf(inputs({ subscriptions: [subscription({ status: 'canceled' })] }), 'audit'),
    'no_source',
  );
});

test('a feature only an expired or revoked grant gave has no source, not unknown', (t) => {
  t.is(reasonOf(inputs({ grants: [grant({ expiresAt: at(-1) })] }), 'beta'), 'no_source');
  t.is(reasonOf(inputs({ grants: [grant({ revokedAt: at(-1) })] }), 'beta'), 'no_source');
});

test('an allowed feature has no denial reason', (t) => {
  const set = computeEntitlements(inputs({ subscriptions: [subscription()], grants: [grant()] }));
  for (const feature of ['reports', 'export', 'sso', 'beta']) {
    t.true(entitlementFor(set, feature).allowed, feature);
    t.is(entitlementFor(set, feature).denialReason, undefined, feature);
  }
  t.deepEqual(set.denials, [{ feature: 'audit', reason: 'no_source' }]);
});

test('past_due beyond the grace is past grace, for price and product features alike', (t) => {
  const pastDue = subscription({ status: 'past_due', pastDueSince: at(-4) });
  for (const feature of ['reports', 'sso']) {
    t.is(reasonOf(inputs({ subscriptions: [pastDue] }), feature), 'past_grace', feature);
  }
});

test('past_due within the grace is allowed; with no known start it is past grace at once', (t) => {
  const within = subscription({ status: 'past_due', pastDueSince: at(-2) });
  t.is(reasonOf(inputs({ subscriptions: [within] }), 'reports'), undefined);
  const unknownStart = subscription({ status: 'past_due', pastDueSince: null });
  t.is(reasonOf(inputs({ subscriptions: [unknownStart] }), 'reports'), 'past_grace');
});

test('the grace ends exactly at its last second', (t) => {
  const pastDue = (since: Date) => subscription({ status: 'past_due', pastDueSince: since });
  const graceMs = 3 * day;
  t.is(
    reasonOf(inputs({ subscriptions: [pastDue(new Date(now.getTime() - graceMs))] }), 'reports'),
    'past_grace',
  );
  t.is(
    reasonOf(
      inputs({ subscriptions: [pastDue(new Date(now.getTime() - graceMs + 1))] }),
      'reports',
    ),
    undefined,
  );
});

for (const status of ['canceled', 'unpaid', 'incomplete_expired', 'paused']) {
  test(`a ${status} subscription is ended`, (t) => {
    t.is(
      reasonOf(inputs({ subscriptions: [subscription({ status })] }), 'reports'),
      'subscription_ended',
    );
  });
}

test('an incomplete subscription never started: no source, not ended', (t) => {
  t.is(
    reasonOf(inputs({ subscriptions: [subscription({ status: 'incomplete' })] }), 'reports'),
    'no_source',
  );
});

test('a trial that has ended is ended', (t) => {
  const trial = subscription({ status: 'trialing', trialEnd: at(-1) });
  t.is(reasonOf(inputs({ subscriptions: [trial] }), 'reports'), 'subscription_ended');
});

test('a scheduled cancellation that passed is ended, also while past_due', (t) => {
  t.is(
    reasonOf(inputs({ subscriptions: [subscription({ cancelAt: at(-1) })] }), 'reports'),
    'subscription_ended',
  );
  const pastDue = subscription({ status: 'past_due', pastDueSince: at(-10), cancelAt: at(-1) });
  t.is(reasonOf(inputs({ subscriptions: [pastDue] }), 'reports'), 'subscription_ended');
});

test('cancel_at_period_end after the period end is ended', (t) => {
  const item = {
    priceId: 'price_pro_monthly',
    productId: 'prod_pro',
    quantity: 1,
    currentPeriodStart: at(-40),
    currentPeriodEnd: at(-10),
  };
  const sub = subscription({ cancelAtPeriodEnd: true, items: [item] });
  t.is(reasonOf(inputs({ subscriptions: [sub] }), 'reports'), 'subscription_ended');
});

test('of two refusing subscriptions, past grace wins over ended', (t) => {
  const ended = subscription({ id: 'sub_old', status: 'canceled' });
  const pastDue = subscription({ id: 'sub_new', status: 'past_due', pastDueSince: at(-5) });
  t.is(reasonOf(inputs({ subscriptions: [ended, pastDue] }), 'reports'), 'past_grace');
  t.is(reasonOf(inputs({ subscriptions: [pastDue, ended] }), 'reports'), 'past_grace');
});

test('any source that gives the feature makes it allowed, whatever else ended', (t) => {
  const ended = subscription({ status: 'canceled' });
  t.true(
    entitlementFor(
      computeEntitlements(
        inputs({ subscriptions: [ended], grants: [grant({ feature: 'reports' })] }),
      ),
      'reports',
    ).allowed,
  );
  const live = subscription({ id: 'sub_2' });
  t.is(reasonOf(inputs({ subscriptions: [ended, live] }), 'reports'), undefined);
});

test('the denials are sorted by feature and list each known refused feature once', (t) => {
  const set = computeEntitlements(
    inputs({
      subscriptions: [subscription({ status: 'canceled' })],
      grants: [grant({ expiresAt: at(-1) })],
    }),
  );
  t.deepEqual(set.denials, [
    { feature: 'audit', reason: 'no_source' },
    { feature: 'beta', reason: 'no_source' },
    { feature: 'export', reason: 'subscription_ended' },
    { feature: 'reports', reason: 'subscription_ended' },
    { feature: 'sso', reason: 'subscription_ended' },
  ]);
});

test('a set cached before denial reasons answers no source for what it does not give', (t) => {
  const old: EntitlementSet = { entitlements: [], validUntil: null };
  t.is(entitlementFor(old, 'reports').denialReason, 'no_source');
});

test('denial reasons leave the allowed answer unchanged', (t) => {
  const input = inputs({
    subscriptions: [subscription({ status: 'past_due', pastDueSince: at(-1) })],
  });
  const set = computeEntitlements(input);
  t.deepEqual(
    set.entitlements.map((e) => [e.feature, e.allowed, e.validUntil?.toISOString()]),
    ['export', 'reports', 'sso'].map((f) => [f, true, at(2).toISOString()]),
  );
  t.is(set.validUntil?.toISOString(), at(2).toISOString());
});
