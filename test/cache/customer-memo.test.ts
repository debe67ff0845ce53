/**
 * The per-customer memo under both in-memory caches: what a bus message
 * evicts, values that go stale on their own, the TTL, the size bound, and
 * values computed while an eviction happened.
 */
import test from 'ava';
import { CustomerMemo, memoKey } from '../../src/cache/customer-memo.js';
import type { InvalidationMessage } from '../../src/cache/invalidation-bus.js';
import { FakeBus } from './fake-bus.js';

interface Held {
  readonly label: string;
  readonly goodUntilMs?: number;
}

const t0 = 1_000_000;

function memo(options: { maxEntries?: number; ttlMs?: number } = {}) {
  const bus = new FakeBus();
  const held = new CustomerMemo<Held>(bus, {
    ttlMs: options.ttlMs ?? 60_000,
    maxEntries: options.maxEntries ?? 100,
    evictionOf: (message: InvalidationMessage) => {
      if (message.kind === 'entitlements') {
        return { customer: memoKey(message.projectId, message.customerId) };
      }
      return message.kind === 'project' ? 'all' : 'none';
    },
    stillValid: (value, nowMs) => value.goodUntilMs === undefined || value.goodUntilMs > nowMs,
  });
  return { bus, held };
}

test('a customer change evicts that customer only', (t) => {
  const { bus, held } = memo();
  held.set('p1', 'c1', { label: 'one' }, t0, held.readToken());
  held.set('p1', 'c2', { label: 'two' }, t0, held.readToken());
  bus.send({ kind: 'entitlements', projectId: 'p1', customerId: 'c1' });
  t.is(held.get('p1', 'c1', t0), undefined);
  t.is(held.get('p1', 'c2', t0)?.label, 'two');
});

test('a project change evicts everything; an API key change evicts nothing', (t) => {
  const { bus, held } = memo();
  held.set('p1', 'c1', { label: 'one' }, t0, held.readToken());
  bus.send({ kind: 'api_key', secretHash: 'h' });
  t.is(held.get('p1', 'c1', t0)?.label, 'one');
  bus.send({ kind: 'project', projectId: 'p2' });
  t.is(held.get('p1', 'c1', t0), undefined);
});

test('the same customer id in another project is another entry', (t) => {
  const { bus, held } = memo();
  held.set('p1', 'c1', { label: 'p1' }, t0, held.readToken());
  held.set('p2', 'c1', { label: 'p2' }, t0, held.readToken());
  bus.send({ kind: 'entitlements', projectId: 'p2', customerId: 'c1' });
  t.is(held.get('p1', 'c1', t0)?.label, 'p1');
  t.is(held.get('p2', 'c1', t0), undefined);
});

test('a value is dropped at its TTL and when it goes stale on its own', (t) => {
  const { held } = memo({ ttlMs: 1000 });
  held.set('p1', 'c1', { label: 'ttl' }, t0, held.readToken());
  held.set('p1', 'c2', { label: 'stale', goodUntilMs: t0 + 500 }, t0, held.readToken());
  t.is(held.get('p1', 'c2', t0 + 499)?.label, 'stale');
  t.is(held.get('p1', 'c2', t0 + 500), undefined);
  t.is(held.get('p1', 'c1', t0 + 999)?.label, 'ttl');
  t.is(held.get('p1', 'c1', t0 + 1000), undefined);
});

test("a value read while its customer was evicted is not kept; another customer's eviction does not matter", (t) => {
  const { bus, held } = memo();
  const token = held.readToken();
  bus.send({ kind: 'entitlements', projectId: 'p1', customerId: 'c1' });
  held.set('p1', 'c1', { label: 'maybe stale' }, t0, token);
  t.is(held.get('p1', 'c1', t0), undefined);
  held.set('p1', 'c1', { label: 'fresh' }, t0, held.readToken());
  t.is(held.get('p1', 'c1', t0)?.label, 'fresh');
  const later = held.readToken();
  bus.send({ kind: 'entitlements', projectId: 'p1', customerId: 'other' });
  held.set('p1', 'c2', { label: 'unaffected' }, t0, later);
  t.is(held.get('p1', 'c2', t0)?.label, 'unaffected');
});

test('at the size bound the oldest entry makes room', (t) => {
  const { held } = memo({ maxEntries: 2 });
  for (const customer of ['c1', 'c2', 'c3']) {
    held.set('p1', customer, { label: customer }, t0, held.readToken());
  }
  t.is(held.get('p1', 'c1', t0), undefined);
  t.is(held.get('p1', 'c2', t0)?.label, 'c2');
  t.is(held.get('p1', 'c3', t0)?.label, 'c3');
});

test('at the byte bound the oldest entries make room, and a value above it is not held', (t) => {
  const bus = new FakeBus();
  const held = new CustomerMemo<Held>(bus, {
    ttlMs: 60_000,
    maxEntries: 100,
    maxBytes: 1000,
    evictionOf: (message) =>
      message.kind === 'entitlements'
        ? { customer: memoKey(message.projectId, message.customerId) }
        : 'none',
  });
  held.set('p1', 'c1', { label: 'c1' }, t0, held.readToken(), 400);
  held.set('p1', 'c2', { label: 'c2' }, t0, held.readToken(), 400);
  t.is(held.heldBytes(), 800);
  held.set('p1', 'c3', { label: 'c3' }, t0, held.readToken(), 400);
  t.is(held.get('p1', 'c1', t0), undefined, 'the oldest made room');
  t.is(held.heldBytes(), 800);
  held.set('p1', 'huge', { label: 'huge' }, t0, held.readToken(), 1001);
  t.is(held.get('p1', 'huge', t0), undefined);
  t.is(held.get('p1', 'c2', t0)?.label, 'c2', 'a value too big evicts nobody');
  bus.send({ kind: 'entitlements', projectId: 'p1', customerId: 'c2' });
  t.is(held.heldBytes(), 400, 'an eviction gives its bytes back');
  held.set('p1', 'c3', { label: 'c3 again' }, t0, held.readToken(), 300);
  t.is(held.heldBytes(), 300, 'setting a held customer again replaces its bytes');
});
