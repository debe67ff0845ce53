/**
 * ExpiringMemo, the in-memory part of ProjectCache and WebhookEndpointCache:
 * one read for callers that come together, re-read after the TTL, and no
 * value kept from a read that an invalidation overtook.
 */
import test from 'ava';
import { ExpiringMemo } from '../../src/services/expiring-memo.js';

/** A read that answers when the test says, counting how often it was asked. */
function controlledRead() {
  const answers: ((value: string) => void)[] = [];
  return {
    reads: () => answers.length,
    read: () => new Promise<string>((resolve) => answers.push(resolve)),
    answer: (index: number, value: string) => answers[index]?.(value),
  };
}

test('callers that find a key missing together share one read', async (t) => {
  const memo = new ExpiringMemo<string>(1000);
  const source = controlledRead();
  const callers = [1, 2, 3].map(() => memo.get('p1', source.read));
  source.answer(0, 'v1');
  t.deepEqual(await Promise.all(callers), ['v1', 'v1', 'v1']);
  t.is(source.reads(), 1);
  t.is(await memo.get('p1', source.read), 'v1', 'kept');
  t.is(source.reads(), 1);
});

test('a value is read again once its TTL is over', async (t) => {
  let now = 0;
  const memo = new ExpiringMemo<string>(1000, () => now);
  let reads = 0;
  const read = async () => `v${++reads}`;
  t.is(await memo.get('p1', read), 'v1');
  now = 999;
  t.is(await memo.get('p1', read), 'v1');
  now = 1000;
  t.is(await memo.get('p1', read), 'v2');
});

test('a read begun before an invalidation answers its callers but is not kept', async (t) => {
  const memo = new ExpiringMemo<string>(60_000);
  const source = controlledRead();
  const early = memo.get('p1', source.read);
  memo.invalidate('p1');
  // The change's own read starts now, apart from the one in flight.
  const late = memo.get('p1', source.read);
  t.is(source.reads(), 2);
  source.answer(0, 'before the change');
  source.answer(1, 'after the change');
  t.is(await early, 'before the change');
  t.is(await late, 'after the change');
  t.is(await memo.get('p1', source.read), 'after the change', 'the newer read is kept');
  t.is(source.reads(), 2);
});

test('a value `keep` refuses is answered, not remembered', async (t) => {
  const memo = new ExpiringMemo<string | null>(60_000);
  let reads = 0;
  const read = async () => {
    reads += 1;
    return null;
  };
  const known = (value: string | null) => value !== null;
  t.is(await memo.get('unknown', read, known), null);
  t.is(await memo.get('unknown', read, known), null);
  t.is(reads, 2);
});
