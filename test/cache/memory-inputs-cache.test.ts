/**
 * The engine's inputs kept in process memory: usage-only changes keep them
 * (usage never changes subscriptions, grants or the catalog), every other
 * change of the customer or its project evicts them, and inputs read while
 * an eviction happened are not kept.
 */
import test from 'ava';
import { MemoryInputsCache } from '../../src/cache/memory-inputs-cache.js';
import { inputs } from '../domain/engine-fixtures.js';
import { FakeBus } from './fake-bus.js';

const t0 = new Date('2027-03-01T00:00:00Z');
const later = (ms: number) => new Date(t0.getTime() + ms);

function cacheWithOne(ttlMs = 60_000) {
  const bus = new FakeBus();
  const cache = new MemoryInputsCache(bus, ttlMs, 100);
  cache.set('p1', 'c1', inputs({ now: t0, gracePeriodSeconds: 7 }), cache.readToken());
  return { bus, cache };
}

test('held inputs are answered as of the asking time', (t) => {
  const { cache } = cacheWithOne();
  const held = cache.get('p1', 'c1', later(1000));
  t.is(held?.gracePeriodSeconds, 7);
  t.deepEqual(held?.now, later(1000));
  t.is(cache.get('p1', 'c2', later(1000)), undefined, 'another customer is not held');
});

test('a usage-only change keeps them; any other change of the customer evicts them', (t) => {
  const { bus, cache } = cacheWithOne();
  bus.send({ kind: 'entitlements', projectId: 'p1', customerId: 'c1', usageOnly: true });
  t.truthy(cache.get('p1', 'c1', later(1)));
  bus.send({ kind: 'entitlements', projectId: 'p1', customerId: 'c9' });
  t.truthy(cache.get('p1', 'c1', later(1)), 'another customer changed');
  bus.send({ kind: 'entitlements', projectId: 'p1', customerId: 'c1' });
  t.is(cache.get('p1', 'c1', later(1)), undefined);
});

test('a project change (catalog, grace period) evicts every customer', (t) => {
  const { bus, cache } = cacheWithOne();
  bus.send({ kind: 'project', projectId: 'p2' });
  t.is(cache.get('p1', 'c1', later(1)), undefined);
});

test('inputs read while an eviction happened are not kept', (t) => {
  const bus = new FakeBus();
  const cache = new MemoryInputsCache(bus, 60_000, 100);
  const token = cache.readToken();
  bus.send({ kind: 'entitlements', projectId: 'p1', customerId: 'c1' });
  cache.set('p1', 'c1', inputs({ now: t0 }), token);
  t.is(cache.get('p1', 'c1', later(1)), undefined);
});

test("another customer's eviction meanwhile does not stop them being kept", (t) => {
  const bus = new FakeBus();
  const cache = new MemoryInputsCache(bus, 60_000, 100);
  const token = cache.readToken();
  bus.send({ kind: 'entitlements', projectId: 'p1', customerId: 'c2' });
  cache.set('p1', 'c1', inputs({ now: t0, gracePeriodSeconds: 7 }), token);
  t.is(cache.get('p1', 'c1', later(1))?.gracePeriodSeconds, 7);
});

test('they expire after the TTL, and the oldest customer goes when full', (t) => {
  const { cache } = cacheWithOne(1000);
  t.is(cache.get('p1', 'c1', later(1000)), undefined);
  const bus = new FakeBus();
  const small = new MemoryInputsCache(bus, 60_000, 2);
  for (const customer of ['a', 'b', 'c']) {
    small.set('p1', customer, inputs({ now: t0 }), small.readToken());
  }
  t.is(small.get('p1', 'a', later(1)), undefined);
  t.truthy(small.get('p1', 'c', later(1)));
});
