/**
 * Idempotency keys of write RPCs: the first call with a key claims it (an
 * insert against the unique _id, atomic on MongoDB and FerretDB), and its
 * answer is stored; a retry with the same key gets that answer back. Records
 * older than the retention are swept by the retention job
 * (src/jobs/retention-job.ts), not expired by a TTL index (FerretDB has none).
 */
import type { Collection, Db } from 'mongodb';
import { type DeleteBatchResult, deleteBatch } from './delete-batch.js';
import { isDuplicateKeyError } from './errors.js';

interface IdempotencyRecordDoc {
  _id: string;
  project_id: string;
  method: string;
  key: string;
  request_hash: string;
  status: 'pending' | 'completed';
  response: Buffer | null;
  created_at: Date;
  /** A pending claim older than this was abandoned (a crash): it may be taken over. */
  lease_until: Date;
}

export interface IdempotencyScope {
  readonly projectId: string;
  readonly method: string;
  readonly key: string;
}

export type ClaimResult =
  | { readonly kind: 'claimed' }
  | { readonly kind: 'replay'; readonly response: Uint8Array }
  | { readonly kind: 'in_progress' }
  | { readonly kind: 'mismatch' };

export class IdempotencyStore {
  private readonly records: Collection<IdempotencyRecordDoc>;

  constructor(
    db: Db,
    private readonly leaseMs: number,
  ) {
    this.records = db.collection<IdempotencyRecordDoc>('idempotency_records');
  }

  async claim(scope: IdempotencyScope, requestHash: string, now: Date): Promise<ClaimResult> {
    const id = recordId(scope);
    if (await this.tryInsert(id, scope, requestHash, now)) return { kind: 'claimed' };
    const existing = await this.records.findOne({ _id: id });
    if (!existing) return this.claim(scope, requestHash, now); // released in between
    if (existing.request_hash !== requestHash) return { kind: 'mismatch' };
    if (existing.status === 'completed' && existing.response) {
      return {
        kind: 'replay',
        response: new Uint8Array(
          existing.response.buffer,
          existing.response.byteOffset,
          existing.response.byteLength,
        ),
      };
    }
    if (existing.lease_until.getTime() > now.getTime()) return { kind: 'in_progress' };
    // Abandoned by a crashed call: delete it if still abandoned, then race to claim.
    await this.records.deleteOne({ _id: id, status: 'pending', lease_until: { $lte: now } });
    return (await this.tryInsert(id, scope, requestHash, now))
      ? { kind: 'claimed' }
      : { kind: 'in_progress' };
  }

  async complete(scope: IdempotencyScope, response: Uint8Array): Promise<void> {
    await this.records.updateOne(
      { _id: recordId(scope) },
      { $set: { status: 'completed', response: Buffer.from(response) } },
    );
  }

  /** A failed call leaves nothing behind: the retry runs for real. */
  async release(scope: IdempotencyScope): Promise<void> {
    await this.records.deleteOne({ _id: recordId(scope), status: 'pending' });
  }

  /** One batch of the retention job: records created before `olderThan` (their leases ended long ago). */
  async sweep(olderThan: Date, limit: number): Promise<DeleteBatchResult> {
    return deleteBatch(this.records, { created_at: { $lt: olderThan } }, limit);
  }

  private async tryInsert(
    id: string,
    scope: IdempotencyScope,
    requestHash: string,
    now: Date,
  ): Promise<boolean> {
    try {
      await this.records.insertOne({
        _id: id,
        project_id: scope.projectId,
        method: scope.method,
        key: scope.key,
        request_hash: requestHash,
        status: 'pending',
        response: null,
        created_at: now,
        lease_until: new Date(now.getTime() + this.leaseMs),
      });
      return true;
    } catch (err) {
      if (isDuplicateKeyError(err)) return false;
      throw err;
    }
  }
}

function recordId(scope: IdempotencyScope): string {
  return `${scope.projectId}:${scope.method}:${scope.key}`;
}
