/**
 * When a memory cache may keep what it read: not when its own key or
 * everything was evicted meanwhile; yes when only other keys were. The
 * record of evicted keys is bounded and errs on the side of "stale".
 */
import test from 'ava';
import { EvictionClock } from '../../src/cache/eviction-clock.js';

test('a read with no eviction since it started may be kept', (t) => {
  const clock = new EvictionClock(10);
  clock.evicted('a');
  t.true(clock.mayKeep('a', clock.readToken()));
});

test("its own key's eviction meanwhile makes a read stale; another key's does not", (t) => {
  const clock = new EvictionClock(10);
  const token = clock.readToken();
  clock.evicted('b');
  t.true(clock.mayKeep('a', token));
  clock.evicted('a');
  t.false(clock.mayKeep('a', token));
  t.true(clock.mayKeep('a', clock.readToken()));
});

test('evicting everything makes every read in flight stale, not later ones', (t) => {
  const clock = new EvictionClock(10);
  const token = clock.readToken();
  clock.evictedAll();
  t.false(clock.mayKeep('a', token));
  t.true(clock.mayKeep('a', clock.readToken()));
});

test('past maxKeys evicted keys the record is emptied and reads in flight count as stale', (t) => {
  const clock = new EvictionClock(2);
  const token = clock.readToken();
  clock.evicted('x');
  clock.evicted('y');
  t.true(clock.mayKeep('a', token));
  clock.evicted('z');
  t.false(clock.mayKeep('a', token));
  t.true(clock.mayKeep('x', clock.readToken()));
});
