/** The timeline's pure rules: which features a change changed, and what time alone changes. */
import test from 'ava';
import { computeEntitlements, type GrantFacts } from '../../src/domain/entitlements.js';
import {
  changedFeatures,
  factsOf,
  inputsAt,
  noFacts,
  timeDrivenSteps,
} from '../../src/domain/timeline.js';
import { at, inputs, now, subscription } from './engine-fixtures.js';

const grant = (
  feature: string,
  expiresAt: Date | null,
  limit: number | null = null,
): GrantFacts => ({
  id: `gr_${feature}`,
  feature,
  limit,
  expiresAt,
  revokedAt: null,
});

test('changedFeatures: a feature given, taken or with another limit; nothing for an equal answer', (t) => {
  const before = computeEntitlements(inputs({ grants: [grant('a', null), grant('b', null, 5)] }));
  const after = computeEntitlements(
    inputs({ grants: [grant('b', null, 7), grant('c', null), grant('a', null)] }),
  );
  t.deepEqual(changedFeatures(before, after), ['b', 'c']);
  t.deepEqual(changedFeatures(null, before), ['a', 'b'], 'a first entry: everything it gives');
  t.deepEqual(changedFeatures(after, after), []);
});

test('timeDrivenSteps: each expiry in the gap, at its instant, and none past `until`', (t) => {
  const facts = { ...noFacts, grants: [grant('a', at(1)), grant('b', at(2)), grant('c', at(5))] };
  const terms = inputs({});
  const setAt = (when: Date) => computeEntitlements(inputsAt(facts, terms, when));
  const steps = timeDrivenSteps(setAt, now, at(3), 20);
  t.deepEqual(
    steps.map((step) => [step.at.toISOString(), step.kind, step.changed]),
    [
      [at(1).toISOString(), 'expiry', ['a']],
      [at(2).toISOString(), 'expiry', ['b']],
    ],
  );
  t.deepEqual(
    steps[1]?.after.entitlements.map((e) => e.feature),
    ['c'],
  );
  t.deepEqual(timeDrivenSteps(setAt, now, at(3), 1).length, 1, 'at most max');
});

test('timeDrivenSteps: a subscription set to cancel ends at its period end', (t) => {
  const ending = subscription({ cancelAtPeriodEnd: true, cancelAt: at(20) });
  const facts = { ...noFacts, subscriptions: [ending] };
  const setAt = (when: Date) => computeEntitlements(inputsAt(facts, inputs({}), when));
  const [step, ...rest] = timeDrivenSteps(setAt, now, at(30), 20);
  t.deepEqual(rest, []);
  t.is(step?.at.getTime(), at(20).getTime());
  t.deepEqual(step?.changed, ['reports', 'seats']);
  t.is(step?.kind, 'expiry');
});

test('factsOf and inputsAt: the facts leave the project terms and the clock behind', (t) => {
  const full = inputs({ grants: [grant('a', null)] });
  const facts = factsOf(full);
  t.deepEqual(Object.keys(facts).sort(), ['credits', 'grants', 'purchases', 'subscriptions']);
  const later = inputsAt(facts, full, at(3));
  t.is(later.now.getTime(), at(3).getTime());
  t.is(later.catalog, full.catalog);
  t.is(later.gracePeriodSeconds, full.gracePeriodSeconds);
});
