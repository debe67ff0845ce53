/**
 * ChangeCoalescer with a fake clock: a burst becomes a leading and a
 * trailing send carrying the newest change, keys are independent and
 * forgotten when quiet, an immediate change cancels what waits, and flush
 * sends what waits at shutdown.
 */
import test from 'ava';
import { ChangeCoalescer } from '../../src/services/change-coalescer.js';
import { FakeCoalescerClock } from './fake-coalescer-clock.js';

function coalescer(windowMs = 250) {
  const clock = new FakeCoalescerClock();
  const sent: string[] = [];
  const changes = new ChangeCoalescer<string>(windowMs, (change) => void sent.push(change), clock);
  return { clock, sent, changes };
}

/** The timer callbacks run the rule asynchronously: let them finish. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

test('a burst of 1,000 changes in one window is sent twice: the first at once, the newest at the window end', async (t) => {
  const { clock, sent, changes } = coalescer();
  t.true(await changes.usageChanged('c1', 'usage 1'));
  for (let i = 2; i <= 1000; i += 1) t.false(await changes.usageChanged('c1', `usage ${i}`));
  t.deepEqual(sent, ['usage 1']);
  t.is(changes.pendingCount, 1);
  clock.advance(250);
  await settle();
  t.deepEqual(sent, ['usage 1', 'usage 1000']);
  t.is(changes.pendingCount, 0);
});

test('changes spread over 10 windows are sent at most once per window, the last one always', async (t) => {
  const { clock, sent, changes } = coalescer(100);
  for (let i = 1; i <= 100; i += 1) {
    await changes.usageChanged('c1', `usage ${i}`);
    clock.advance(10);
    await settle();
  }
  clock.advance(100);
  await settle();
  t.true(sent.length <= 1000 / 100 + 2, `${sent.length} sends`);
  t.is(sent[sent.length - 1], 'usage 100');
});

test('keys are coalesced independently', async (t) => {
  const { sent, changes } = coalescer();
  await changes.usageChanged('c1', 'c1 a');
  await changes.usageChanged('c2', 'c2 a');
  await changes.usageChanged('c1', 'c1 b');
  t.deepEqual(sent, ['c1 a', 'c2 a']);
});

test('a quiet key is forgotten after its window: no timer stays planned', async (t) => {
  const { clock, changes } = coalescer();
  await changes.usageChanged('c1', 'a');
  t.is(clock.plannedTimers, 1);
  clock.advance(250);
  await settle();
  t.is(clock.plannedTimers, 0);
});

test('an immediate change carries what waits: the trailing send does not come, the next usage waits a window', async (t) => {
  const { clock, sent, changes } = coalescer();
  await changes.usageChanged('c1', 'a');
  await changes.usageChanged('c1', 'b');
  clock.advance(100);
  changes.immediateChangeSent('c1');
  clock.advance(150);
  await settle();
  t.deepEqual(sent, ['a']);
  t.false(await changes.usageChanged('c1', 'c'));
  clock.advance(100);
  await settle();
  t.deepEqual(sent, ['a', 'c']);
});

test('flush sends what waits at once and forgets every key', async (t) => {
  const { clock, sent, changes } = coalescer();
  await changes.usageChanged('c1', 'a');
  await changes.usageChanged('c1', 'b');
  await changes.usageChanged('c2', 'x');
  await changes.flush();
  t.deepEqual(sent, ['a', 'x', 'b']);
  t.is(clock.plannedTimers, 0);
  clock.advance(1000);
  await settle();
  t.is(sent.length, 3);
});
