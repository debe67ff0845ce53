/**
 * Idempotency claims of TrackUsage and ReserveUsage: one document per
 * (project, idempotency key), and one per reservation for its end (commit
 * or release), inserted before the ledger is appended to, so of concurrent
 * calls on any replica exactly one (the insert that wins the unique `_id`) does the work;
 * the others wait for it to complete and answer the same. A claim carries a
 * lease: when its owner crashed mid-way, one caller takes it over (again by
 * a unique insert, finding 2 of docs/ferretdb.md: an update is no
 * compare-and-swap) and first looks for the crashed attempt's entry.
 * Claims are kept USAGE_CLAIM_RETENTION_DAYS (at least 30: a key is applied
 * once for that long), then deleted with their take-over markers by the
 * retention job.
 */
import type { Collection, Db } from 'mongodb';
import { type DeleteBatchResult, deleteBatch } from './delete-batch.js';
import { insertOnce } from './insert-once.js';

export interface UsageClaimDoc {
  /** `<project>:<idempotency key>`, each part URI-encoded. */
  _id: string;
  project_id: string;
  idempotency_key: string;
  /** What was asked, to refuse the key's reuse for another usage. */
  request: string;
  usage_id: string;
  /** The ledger chain and its head seq when claimed: a take-over probes after it. */
  chain: string;
  head_seq: number;
  owner: string;
  generation: number;
  lease_until: Date;
  state: 'pending' | 'done';
  entry_id: string | null;
  created_at: Date;
  completed_at: Date | null;
}

interface TakeoverDoc {
  /** `<claim id>#<generation>`: one taker per generation. */
  _id: string;
  owner: string;
  created_at: Date;
}

export function usageClaimId(projectId: string, idempotencyKey: string): string {
  return `${encodeURIComponent(projectId)}:${encodeURIComponent(idempotencyKey)}`;
}

/** The one claim that ends a reservation (commit or release); `#` never occurs in an encoded key. */
export function reservationEndClaimId(projectId: string, reservationId: string): string {
  return `${encodeURIComponent(projectId)}:#end:${encodeURIComponent(reservationId)}`;
}

export class UsageClaimStore {
  private readonly claims: Collection<UsageClaimDoc>;
  private readonly takeovers: Collection<TakeoverDoc>;

  constructor(db: Db) {
    this.claims = db.collection<UsageClaimDoc>('usage_claims');
    this.takeovers = db.collection<TakeoverDoc>('usage_claim_takeovers');
  }

  /** 'claimed' for the one caller whose insert wins; else the claim that exists. */
  async claim(doc: UsageClaimDoc): Promise<'claimed' | UsageClaimDoc | null> {
    if ((await insertOnce(this.claims, doc)) === 'inserted') return 'claimed';
    return this.get(doc._id);
  }

  async get(id: string): Promise<UsageClaimDoc | null> {
    return this.claims.findOne({ _id: id });
  }

  // complete and release write by `_id` alone: FerretDB uses the `_id`
  // index only when `_id` is the whole filter, and `{_id, owner}` scanned
  // the growing collection (7-13 ms at a few thousand claims, seconds under
  // load; found by `npm run bench:usage`). Any owner may complete: it does
  // so only after its append landed, so "done" is true whoever says it. A
  // release checks the owner first (not atomically: a claim changes owner
  // only after its lease), so a refused old owner cannot drop a claim that
  // was taken over.
  async complete(id: string, _owner: string, entryId: string, now: Date): Promise<void> {
    await this.claims.updateOne(
      { _id: id },
      { $set: { state: 'done', entry_id: entryId, completed_at: now } },
    );
  }

  /** A refused call records nothing: its claim goes, and the key may be used again. */
  async release(id: string, owner: string): Promise<void> {
    if ((await this.claims.findOne({ _id: id }))?.owner !== owner) return;
    await this.claims.deleteOne({ _id: id });
  }

  /** Claims created before `olderThan`, one bounded batch (retention). */
  async sweep(olderThan: Date, limit: number): Promise<DeleteBatchResult> {
    return deleteBatch(this.claims, { created_at: { $lt: olderThan } }, limit);
  }

  /** Take-over markers created before `olderThan`, one bounded batch (retention). */
  async sweepTakeovers(olderThan: Date, limit: number): Promise<DeleteBatchResult> {
    return deleteBatch(this.takeovers, { created_at: { $lt: olderThan } }, limit);
  }

  /** True for the one caller that takes over `claim` (its lease has run out). */
  async takeOver(
    claim: UsageClaimDoc,
    owner: string,
    leaseUntil: Date,
    now: Date,
  ): Promise<boolean> {
    const generation = claim.generation + 1;
    const marker = { _id: `${claim._id}#${generation}`, owner, created_at: now };
    if ((await insertOnce(this.takeovers, marker)) !== 'inserted') return false;
    await this.claims.updateOne(
      { _id: claim._id },
      { $set: { owner, generation, lease_until: leaseUntil } },
    );
    return true;
  }
}
