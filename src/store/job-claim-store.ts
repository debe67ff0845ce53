/**
 * Claims on scheduled job occurrences. On FerretDB two Agenda instances can
 * both lock and run the same occurrence (docs/ferretdb.md, finding 4); the
 * job inserts a claim with a unique `_id` for the occurrence first and does
 * nothing when another instance claimed it. Claims are pruned by age.
 */
import type { Collection, Db } from 'mongodb';
import type { JobClaimDoc } from './documents.js';
import { isDuplicateKeyError } from './errors.js';

export class JobClaimStore {
  private readonly claims: Collection<JobClaimDoc>;

  constructor(db: Db) {
    this.claims = db.collection<JobClaimDoc>('job_claims');
  }

  /** True for the one caller that claims `occurrence` of `job`. */
  async claim(job: string, occurrence: string, owner: string, now: Date): Promise<boolean> {
    try {
      await this.claims.insertOne({ _id: `${job}:${occurrence}`, job, owner, created_at: now });
      return true;
    } catch (err) {
      if (isDuplicateKeyError(err)) return false;
      throw err;
    }
  }

  async pruneOlderThan(time: Date): Promise<number> {
    const result = await this.claims.deleteMany({ created_at: { $lt: time } });
    return result.deletedCount;
  }
}
