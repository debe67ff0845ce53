/**
 * When a project's reconciliation lock is held, and for how long a claim
 * lasts. Pure; the lock itself is a sequence of inserted generations
 * (store/reconciliation-lock-store.ts), of which the newest counts.
 */

export interface LockLease {
  readonly phase: 'queued' | 'running' | 'released';
  /** After this the holder counts as gone and the lock may be taken over. */
  readonly leaseUntil: Date;
}

/** A queued run waits for a worker; its lock lasts this many leases before the sweep re-queues it. */
const queuedLeaseFactor = 10;

/** Whether the lock is held at `now`: its newest generation is neither released nor expired. */
export function isHeld(lock: LockLease | null, now: Date): boolean {
  return lock !== null && lock.phase !== 'released' && lock.leaseUntil.getTime() > now.getTime();
}

/**
 * Whether the project is busy: its lock is held by a run that is queued or
 * running, or not inserted yet (`holderActive` null: a start in progress).
 * A finished run whose lock was not released (a crash in between) holds
 * nothing.
 */
export function isBusy(lock: LockLease | null, holderActive: boolean | null, now: Date): boolean {
  return isHeld(lock, now) && (holderActive === null || holderActive);
}

/** When a claim taken at `now` for `phase` ends unless renewed. */
export function leaseEnd(phase: 'queued' | 'running', now: Date, leaseMs: number): Date {
  const factor = phase === 'queued' ? queuedLeaseFactor : 1;
  return new Date(now.getTime() + leaseMs * factor);
}

/** How often a running holder renews: three times a lease, so one missed renewal is harmless. */
export function renewalIntervalMs(leaseMs: number): number {
  return Math.max(100, Math.floor(leaseMs / 3));
}
