/**
 * Compaction of entitlement sets before they are held in memory: the
 * compacted set reads exactly as the computed one, equal parts are held
 * once (within a set, and denial lists across customers), and the estimate
 * of what it takes grows with what it holds.
 */
import test from 'ava';
import { SetCompactor } from '../../src/cache/set-compaction.js';
import { computeEntitlements } from '../../src/domain/entitlements.js';
import { at, inputs, subscription } from '../domain/engine-fixtures.js';

const proSubscriber = (id: string) =>
  computeEntitlements(inputs({ subscriptions: [subscription({ id })] }));

test('a compacted set reads exactly as the computed one', (t) => {
  const computed = computeEntitlements(
    inputs({
      subscriptions: [subscription({ cancelAt: at(5) })],
      grants: [
        { id: 'g1', feature: 'api', limit: 50, expiresAt: at(3), revokedAt: null },
        { id: 'g2', feature: 'export', limit: null, expiresAt: null, revokedAt: null },
      ],
    }),
  );
  t.deepEqual(new SetCompactor().compact(computed).set, computed);
});

test('equal sources and equal dates within a set are held once', (t) => {
  const { set } = new SetCompactor().compact(
    computeEntitlements(inputs({ subscriptions: [subscription({ cancelAt: at(5) })] })),
  );
  const [reports, seats] = set.entitlements;
  t.truthy(reports && seats);
  t.is(reports?.validUntil, seats?.validUntil, 'one Date object for one instant');
  t.is(reports?.sources[0]?.validUntil, seats?.sources[0]?.validUntil);
});

test('customers with equal denials share one list', (t) => {
  const compactor = new SetCompactor();
  const first = compactor.compact(proSubscriber('sub_a'));
  const second = compactor.compact(proSubscriber('sub_b'));
  t.true((first.set.denials?.length ?? 0) > 0);
  t.is(first.set.denials, second.set.denials);
  t.true(second.bytes < first.bytes, 'a shared list costs the second customer nothing');
});

test('the estimate grows with the features held', (t) => {
  const compactor = new SetCompactor();
  const none = compactor.compact(computeEntitlements(inputs({})));
  const pro = compactor.compact(proSubscriber('sub_c'));
  t.true(pro.bytes > none.bytes);
  t.true(pro.bytes < 2_000, `${pro.bytes} bytes for two features`);
});
