/**
 * Entitlement sets as held in process memory (a shared template and the
 * customer's values): a held set reads exactly as the one computed, over
 * random sets; customers of one plan share one template; and a set the
 * template cannot give back exactly is still held, whole.
 */
import test from 'ava';
import { SetHolder } from '../../src/cache/held-sets.js';
import type { Denial } from '../../src/domain/denial-reasons.js';
import {
  computeEntitlements,
  type Entitlement,
  type EntitlementSet,
  type EntitlementSource,
  type SourceKind,
} from '../../src/domain/entitlements.js';
import { at, inputs, subscription } from '../domain/engine-fixtures.js';

/** A small seeded generator (mulberry32), so a failure can be replayed. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(values: readonly T[]): T => {
    const value = values[int(values.length)];
    if (value === undefined) throw new Error('pick from an empty list');
    return value;
  };
  return { next, int, pick };
}

type Random = ReturnType<typeof random>;

const kinds: readonly SourceKind[] = ['subscription', 'purchase', 'grant', 'credits'];
const someDate = (r: Random) => (r.next() < 0.3 ? null : new Date(1.7e12 + r.int(1e11)));
const someNumber = (r: Random) => r.pick([0, 1, 3, 10, 2 ** 31, 1e15, 2.5, -4, r.int(1e6)]);
const someLimit = (r: Random) => (r.next() < 0.4 ? null : someNumber(r));

function someSource(r: Random): EntitlementSource {
  return {
    kind: r.pick(kinds),
    id: r.pick(['sub_', 'cs_', 'grant_', 'lot_', '']) + r.int(1e9).toString(36),
    limit: someLimit(r),
    validUntil: someDate(r),
    status: r.pick([null, 'active', 'trialing', 'past_due']),
    catalogId: r.pick([null, 'price_pro', 'prod_api']),
  };
}

function someEntitlement(r: Random, feature: string): Entitlement {
  const sources = Array.from({ length: 1 + r.int(3) }, () => someSource(r));
  const entitlement: Entitlement = {
    feature,
    allowed: r.next() < 0.9,
    limit: someLimit(r),
    sources,
    validUntil: someDate(r),
    ...(r.next() < 0.1 ? { denialReason: 'no_source' as const } : {}),
  };
  if (r.next() < 0.6) return entitlement;
  return {
    ...entitlement,
    metered: {
      usage: someNumber(r),
      balance: someLimit(r),
      reserved: someNumber(r),
      credits: someNumber(r),
      resetsAt: new Date(1.7e12 + r.int(1e11)),
      overage: r.pick(['block', 'allow'] as const),
    },
  };
}

function someSet(r: Random): EntitlementSet {
  const features = ['api', 'exports', 'projects', 'reports', 'seats'].filter(() => r.next() < 0.6);
  const denials: Denial[] = ['billing', 'sso']
    .filter(() => r.next() < 0.5)
    .map((feature) => ({ feature, reason: r.pick(['no_source', 'past_grace'] as const) }));
  const roll = r.next();
  return {
    entitlements: features.map((f) => someEntitlement(r, f)),
    validUntil: someDate(r),
    ...(roll < 0.2 ? {} : { denials: roll < 0.4 ? [] : denials }),
  };
}

test('a held set reads exactly as the set it holds, over 2,000 random sets', (t) => {
  const holder = new SetHolder();
  for (let seed = 1; seed <= 2_000; seed++) {
    const set = someSet(random(seed));
    // Twice: the first holding makes the template, the second shares it.
    for (const round of [1, 2]) {
      const back = holder.hold(set, 20).held.set();
      t.deepEqual(back, set, `seed ${seed}, round ${round}`);
      t.is(JSON.stringify(back), JSON.stringify(set), `seed ${seed}: same keys, same order`);
    }
  }
});

test('a held set of the engine reads exactly as computed, and knows its valid_until', (t) => {
  const grant = { limit: 50, expiresAt: at(2), revokedAt: null };
  const subscribed = { subscriptions: [subscription({ status: 'trialing', trialEnd: at(4) })] };
  const computed = computeEntitlements(
    inputs({ ...subscribed, grants: [{ ...grant, id: 'g_api', feature: 'api' }] }),
  );
  const { held } = new SetHolder().hold(computed, 20);
  t.deepEqual(held.set(), computed);
  t.is(held.validUntilMs, computed.validUntil?.getTime() ?? null);
});

test('customers of one plan share one template, and each costs a few hundred bytes', (t) => {
  const holder = new SetHolder();
  const holdings = Array.from({ length: 50 }, (_, n) =>
    holder.hold(
      computeEntitlements(
        inputs({ subscriptions: [subscription({ id: `sub_${n}`, cancelAt: at(1 + n) })] }),
      ),
      20,
    ),
  );
  t.is(holder.templateCount, 1);
  for (const { bytes } of holdings) t.true(bytes < 600, `${bytes} bytes`);
  t.is(holdings[7]?.held.set().entitlements[0]?.sources[0]?.id, 'sub_7');
});

test('a set in another key order is still held, and reads exactly as it came', (t) => {
  const reordered: EntitlementSet = {
    validUntil: null,
    entitlements: [
      {
        sources: [],
        feature: 'reports',
        allowed: true,
        limit: null,
        validUntil: null,
      },
    ],
  };
  const { held } = new SetHolder().hold(reordered, 20);
  t.is(JSON.stringify(held.set()), JSON.stringify(reordered));
});

test('while a decoded set is in use, later hits return that same object', (t) => {
  const { held } = new SetHolder().hold(computeEntitlements(inputs({})), 20);
  const first = held.set();
  t.is(held.set(), first);
});
