/**
 * The per-project reconciliation lock, built for FerretDB: its updates are
 * read-then-write (not a compare-and-swap) and Agenda's own job lock is not
 * exclusive across instances there (docs/ferretdb.md). Only an insert
 * against the unique `_id` is atomic on both MongoDB and FerretDB, so the
 * lock is a sequence of generations, each inserted once:
 *
 * - taking the lock = inserting generation n + 1 after reading generation n;
 *   of any number of racing takers exactly one insert succeeds (11000 for
 *   the rest). No document is ever deleted to take a lock, so a slow taker
 *   cannot remove the winner's generation;
 * - the newest generation says who holds the lock (a run, queued or
 *   running), until its lease ends or it is released;
 * - only the holder updates its own generation (lease renewal, release), so
 *   every update has a single writer.
 *
 * Generations below the newest are history and are pruned by `prune`.
 */
import type { Collection, Db } from 'mongodb';
import type { ReconciliationLockDoc, ReconciliationLockPhase } from './documents.js';
import { insertOnce } from './insert-once.js';

export interface LockClaim {
  readonly runId: string;
  readonly phase: Exclude<ReconciliationLockPhase, 'released'>;
  readonly owner: string;
  readonly leaseUntil: Date;
  readonly now: Date;
}

export class ReconciliationLockStore {
  private readonly locks: Collection<ReconciliationLockDoc>;

  constructor(db: Db) {
    this.locks = db.collection<ReconciliationLockDoc>('reconciliation_locks');
  }

  /** The newest generation of the project's lock (null: never taken). */
  async newest(projectId: string): Promise<ReconciliationLockDoc | null> {
    return this.locks.findOne({ project_id: projectId }, { sort: { generation: -1 } });
  }

  /**
   * Compare-and-swap: inserts the generation after `previous` (the newest
   * one the caller read; null when there was none). Returns the new
   * generation, or null when another caller took that generation first.
   */
  async advance(
    projectId: string,
    previous: ReconciliationLockDoc | null,
    claim: LockClaim,
  ): Promise<ReconciliationLockDoc | null> {
    const generation = (previous?.generation ?? 0) + 1;
    const doc: ReconciliationLockDoc = {
      _id: lockId(projectId, generation),
      project_id: projectId,
      generation,
      run_id: claim.runId,
      phase: claim.phase,
      owner: claim.owner,
      lease_until: claim.leaseUntil,
      created_at: claim.now,
    };
    return (await insertOnce(this.locks, doc)) === 'inserted' ? doc : null;
  }

  /**
   * The holder extends its lease. False when a newer generation exists: the
   * lease had ended and someone took the lock over, so the caller must stop.
   */
  async renew(lock: ReconciliationLockDoc, leaseUntil: Date): Promise<boolean> {
    await this.locks.updateOne({ _id: lock._id }, { $set: { lease_until: leaseUntil } });
    const newest = await this.newest(lock.project_id);
    return newest?._id === lock._id;
  }

  /** The holder lets go: the next taker may start at once. */
  async release(lock: ReconciliationLockDoc): Promise<void> {
    await this.locks.updateOne({ _id: lock._id }, { $set: { phase: 'released' } });
  }

  /** The holder gives up its lease early (shutdown): another replica may take over now. */
  async expire(lock: ReconciliationLockDoc, now: Date): Promise<void> {
    await this.locks.updateOne({ _id: lock._id }, { $set: { lease_until: now } });
  }

  /** Deletes the generations older than the newest (history only; never the newest). */
  async prune(projectId: string): Promise<number> {
    const newest = await this.newest(projectId);
    if (!newest) return 0;
    const result = await this.locks.deleteMany({
      project_id: projectId,
      generation: { $lt: newest.generation },
    });
    return result.deletedCount;
  }
}

function lockId(projectId: string, generation: number): string {
  return `${projectId}:${String(generation).padStart(12, '0')}`;
}
