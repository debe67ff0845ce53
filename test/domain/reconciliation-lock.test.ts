/** When a project's reconciliation lock is held, and for how long claims last. */
import test from 'ava';
import {
  isBusy,
  isHeld,
  type LockLease,
  leaseEnd,
  renewalIntervalMs,
} from '../../src/domain/reconciliation-lock.js';

const now = new Date('2026-06-15T12:00:00Z');
const after = (ms: number) => new Date(now.getTime() + ms);
const lease = (phase: LockLease['phase'], leaseUntil: Date): LockLease => ({ phase, leaseUntil });

test('held: a queued or running generation whose lease has not ended', (t) => {
  t.true(isHeld(lease('queued', after(1)), now));
  t.true(isHeld(lease('running', after(60_000)), now));
});

test('not held: never taken, released, or its lease ended (the end itself included)', (t) => {
  t.false(isHeld(null, now));
  t.false(isHeld(lease('released', after(60_000)), now));
  t.false(isHeld(lease('running', now), now), 'a lease ends at its end');
  t.false(isHeld(lease('running', after(-1)), now));
  t.false(isHeld(lease('queued', after(-60_000)), now));
});

test('busy: held by an active run, or by one whose run is not inserted yet', (t) => {
  const held = lease('running', after(1000));
  t.true(isBusy(held, true, now));
  t.true(isBusy(held, null, now), 'a start in progress on another replica');
  t.false(isBusy(held, false, now), 'its run finished but the lock was not released');
});

test('not busy when the lock is not held, whatever its run', (t) => {
  for (const holderActive of [true, false, null]) {
    t.false(isBusy(null, holderActive, now));
    t.false(isBusy(lease('released', after(1000)), holderActive, now));
    t.false(isBusy(lease('running', after(-1)), holderActive, now));
  }
});

test('a queued claim lasts ten leases (it waits for a worker), a running one a lease', (t) => {
  t.deepEqual(leaseEnd('running', now, 3000), after(3000));
  t.deepEqual(leaseEnd('queued', now, 3000), after(30_000));
});

test('a holder renews three times a lease, never more often than every 100 ms', (t) => {
  t.is(renewalIntervalMs(3000), 1000);
  t.is(renewalIntervalMs(1000), 333);
  t.is(renewalIntervalMs(300), 100);
  t.is(renewalIntervalMs(30), 100);
});
