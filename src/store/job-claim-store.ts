/**
 * Claims on scheduled job occurrences. On FerretDB two Agenda instances can
 * both lock and run the same occurrence (docs/ferretdb.md, finding 4); the
 * job inserts a claim with a unique `_id` for the occurrence first and does
 * nothing when another instance claimed it. Claims are pruned by age.
 */
import type { Collection, Db } from 'mongodb';
import type { JobClaimDoc } from './documents.js';
import { insertOnce } from './insert-once.js';

export class JobClaimStore {
  private readonly claims: Collection<JobClaimDoc>;

  constructor(db: Db) {
    this.claims = db.collection<JobClaimDoc>('job_claims');
  }

  /** True for the one caller that claims `occurrence` of `job`. */
  async claim(job: string, occurrence: string, owner: string, now: Date): Promise<boolean> {
    const doc = { _id: claimId(job, occurrence), job, owner, created_at: now };
    return (await insertOnce(this.claims, doc)) === 'inserted';
  }

  /**
   * Runs `work` for the one caller that claims `occurrence` of `job`, then
   * frees the claim (frequent jobs, whose claims need not be kept);
   * 'skipped' for every other caller.
   */
  async runClaimed<T>(
    job: string,
    occurrence: string,
    owner: string,
    work: () => Promise<T>,
  ): Promise<T | 'skipped'> {
    if (!(await this.claim(job, occurrence, owner, new Date()))) return 'skipped';
    try {
      return await work();
    } finally {
      await this.release(job, occurrence);
    }
  }

  /** Records what the claimer's occurrence did: operators read it, tests wait for it. */
  async finish(
    job: string,
    occurrence: string,
    result: Record<string, number>,
    now: Date,
  ): Promise<void> {
    await this.claims.updateOne(
      { _id: claimId(job, occurrence) },
      { $set: { finished_at: now, result } },
    );
  }

  /** Frees a finished occurrence's claim (frequent jobs, whose claims need not be kept). */
  async release(job: string, occurrence: string): Promise<void> {
    await this.claims.deleteOne({ _id: claimId(job, occurrence) });
  }

  async get(job: string, occurrence: string): Promise<JobClaimDoc | null> {
    return this.claims.findOne({ _id: claimId(job, occurrence) });
  }

  async pruneOlderThan(time: Date): Promise<number> {
    const result = await this.claims.deleteMany({ created_at: { $lt: time } });
    return result.deletedCount;
  }
}

function claimId(job: string, occurrence: string): string {
  return `${job}:${occurrence}`;
}
