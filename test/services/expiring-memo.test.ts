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
  const source = controlledRead();
  const memo = new ExpiringMemo(source.read, 1000);
  const callers = [1, 2, 3].map(() => memo.get('p1'));
  source.answer(0, 'v1');
  t.deepEqual(await Promise.all(callers), ['v1', 'v1', 'v1']);
  t.is(source.reads(), 1);
  t.is(await memo.get('p1'), 'v1', 'kept');
  t.is(source.reads(), 1);
});

test('a value is read again once its TTL is over', async (t) => {
  let now = 0;
  let reads = 0;
  const memo = new ExpiringMemo(async () => `v${++reads}`, 1000, { nowMs: () => now });
  t.is(await memo.get('p1'), 'v1');
  now = 999;
  t.is(await memo.get('p1'), 'v1');
  now = 1000;
  t.is(await memo.get('p1'), 'v2');
});

test('a read begun before an invalidation answers its callers but is not kept', async (t) => {
  const source = controlledRead();
  const memo = new ExpiringMemo(source.read, 60_000);
  const early = memo.get('p1');
  memo.invalidate('p1');
  // The change's own read starts now, apart from the one in flight.
  const late = memo.get('p1');
  t.is(source.reads(), 2);
  source.answer(0, 'before the change');
  source.answer(1, 'after the change');
  t.is(await early, 'before the change');
  t.is(await late, 'after the change');
  t.is(await memo.get('p1'), 'after the change', 'the newer read is kept');
  t.is(source.reads(), 2);
});

test('a value `keep` refuses is answered, not remembered', async (t) => {
  let reads = 0;
  const read = async (): Promise<string | null> => {
    reads += 1;
    return null;
  };
  const memo = new ExpiringMemo(read, 60_000, { keep: (value) => value !== null });
  t.is(await memo.get('unknown'), null);
  t.is(await memo.get('unknown'), null);
  t.is(reads, 2);
});
