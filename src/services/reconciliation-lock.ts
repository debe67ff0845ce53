/**
 * A project's reconciliation lock as the service uses it: one run at a time
 * per project, across replicas, on MongoDB and FerretDB alike. A run holds
 * the lock from the moment it is queued until it finishes; claims are
 * inserted generations (store/reconciliation-lock-store.ts), the rules of
 * holding it are pure (domain/reconciliation-lock.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  isBusy,
  isHeld,
  type LockLease,
  leaseEnd,
  renewalIntervalMs,
} from '../domain/reconciliation-lock.js';
import type { Logger } from '../logger.js';
import type { ReconciliationLockDoc, ReconciliationRunDoc } from '../store/documents.js';
import type { ReconciliationLockStore } from '../store/reconciliation-lock-store.js';
import {
  isActiveRunState,
  type ReconciliationRunStore,
} from '../store/reconciliation-run-store.js';

/** What a job worker keeps alive while it holds the lock. */
export interface LeaseContext {
  /** Keeps the job's own lock alive (Agenda `touch`). */
  touch(): Promise<void>;
  /** Aborted at shutdown. */
  readonly signal: AbortSignal;
}

export interface LockSnapshot {
  /** The lock generation as read, and the run it names (null: none, or not inserted yet). */
  readonly newest: ReconciliationLockDoc | null;
  readonly holder: ReconciliationRunDoc | null;
  /** Held by a run that is queued or running (or being created) right now. */
  readonly busy: boolean;
}

/** Renews the lease while a run works; `check` throws once the lock is lost or stopping. */
export interface LeaseKeeper {
  check(): void;
  /** Stops renewing and waits for a renewal in flight. */
  stop(): Promise<void>;
}

/** The lock was taken over (our lease had ended): stop without writing anything more. */
export class LostLockError extends Error {
  override readonly name = 'LostLockError';
}

export interface ReconciliationLockDeps {
  readonly locks: ReconciliationLockStore;
  readonly runs: ReconciliationRunStore;
  /** How long a holder keeps the lock without renewing it. */
  readonly leaseMs: number;
  /** Names this replica in lock documents. */
  readonly instanceId: string;
  readonly now: () => Date;
}

/** The lease a stored lock generation grants. */
export function leaseOf(lock: ReconciliationLockDoc | null): LockLease | null {
  return lock && { phase: lock.phase, leaseUntil: lock.lease_until };
}

export class ReconciliationLock {
  constructor(private readonly deps: ReconciliationLockDeps) {}

  /**
   * The project's lock as it stands. `waitForHolder`: when the lock is held
   * but its run is not inserted yet (a start in progress on another
   * replica), wait a moment for it.
   */
  async snapshot(projectId: string, waitForHolder: boolean): Promise<LockSnapshot> {
    const newest = await this.deps.locks.newest(projectId);
    if (!newest || newest.phase === 'released') return { newest, holder: null, busy: false };
    const lease = leaseOf(newest);
    let holder = await this.deps.runs.get(projectId, newest.run_id);
    for (let i = 0; waitForHolder && !holder && isHeld(lease, this.deps.now()) && i < 40; i += 1) {
      await sleep(50);
      holder = await this.deps.runs.get(projectId, newest.run_id);
    }
    const holderActive = holder === null ? null : isActiveRunState(holder.state);
    return { newest, holder, busy: isBusy(lease, holderActive, this.deps.now()) };
  }

  /**
   * Claims the generation after `previous` for the run. Null when another
   * replica claimed it first (look again).
   */
  async claim(
    projectId: string,
    previous: ReconciliationLockDoc | null,
    runId: string,
    phase: 'queued' | 'running',
    now: Date = this.deps.now(),
  ): Promise<ReconciliationLockDoc | null> {
    return this.deps.locks.advance(projectId, previous, {
      runId,
      phase,
      owner: this.deps.instanceId,
      leaseUntil: leaseEnd(phase, now, this.deps.leaseMs),
      now,
    });
  }

  /** Lets go once the run is finished, and prunes old generations (history only). */
  async releaseAfterRun(lock: ReconciliationLockDoc, log: Logger): Promise<void> {
    await this.deps.locks.release(lock);
    await this.deps.locks.prune(lock.project_id).catch((error: unknown) =>
      // Old lock generations only cost space; the next run prunes them.
      log.debug('old reconciliation lock generations not pruned', { error }),
    );
  }

  /** Lets go: the next taker may start at once. */
  async release(lock: ReconciliationLockDoc): Promise<void> {
    await this.deps.locks.release(lock);
  }

  /** Gives the lease back at shutdown, so another replica resumes the run at its next sweep. */
  async giveBack(lock: ReconciliationLockDoc, log: Logger): Promise<void> {
    await this.deps.locks
      .expire(lock, this.deps.now())
      .catch((error: unknown) =>
        log.warn('reconciliation lease not given back; the run resumes once it ends', { error }),
      );
  }

  /**
   * Renews the lock's lease and touches the Agenda job every third of the
   * lease, on a timer: long awaits (loading the local versions, a slow
   * Stripe page) never starve it.
   */
  keepLease(lock: ReconciliationLockDoc, context: LeaseContext, log: Logger): LeaseKeeper {
    let lost = false;
    let beating: Promise<void> | undefined;
    const beat = async () => {
      try {
        const leaseUntil = leaseEnd('running', this.deps.now(), this.deps.leaseMs);
        if (!(await this.deps.locks.renew(lock, leaseUntil))) lost = true;
        else await context.touch();
      } catch (error) {
        // MongoDB down for a moment: the next beat tries again before the lease ends.
        log.warn('reconciliation lease renewal failed', { error });
      }
    };
    const timer = setInterval(() => {
      if (beating || lost) return;
      beating = beat().finally(() => {
        beating = undefined;
      });
    }, renewalIntervalMs(this.deps.leaseMs));
    timer.unref();
    void context.touch().catch((error: unknown) =>
      // The lock is what keeps the run ours; the job is touched again at the next beat.
      log.debug('reconciliation job not touched', { error }),
    );
    return {
      check: () => {
        context.signal.throwIfAborted();
        if (lost) throw new LostLockError();
      },
      stop: async () => {
        clearInterval(timer);
        await beating;
      },
    };
  }
}
