/**
 * Idempotency keys of write RPCs: the first call with a key claims it (an
 * insert against the unique _id, atomic on MongoDB and FerretDB), and its
 * answer is stored; a retry with the same key gets that answer back. Records
 * older than the retention are swept by the retention job
 * (src/jobs/retention-job.ts), not expired by a TTL index (FerretDB has none).
 *
 * Answers can hold secrets (CreateApiKey's key, CreateProject's first admin
 * key), and a retry must get the same answer back, secret included, as
 * Stripe's idempotent requests do. So the whole answer is sealed under the
 * master key (domain/secret-box.ts) with the record id as associated data,
 * never stored in plain text, and opened only to be replayed.
 */
import { Binary, type Collection, type Db } from 'mongodb';
import type { ClaimResult, IdempotencyScope } from '../domain/idempotency.js';
import { isSecretOpenError, type SecretBox } from '../domain/secret-box.js';
import { type DeleteBatchResult, deleteBatch } from './delete-batch.js';
import { insertOnce } from './insert-once.js';

interface IdempotencyRecordDoc {
  _id: string;
  project_id: string;
  method: string;
  key: string;
  request_hash: string;
  status: 'pending' | 'completed';
  /** Plain-text answers of older versions; the start-up pass seals them and sets null. */
  response: Binary | Buffer | null;
  /** The answer, sealed; null while pending. Absent on records of older versions. */
  sealed_response?: string | null;
  created_at: Date;
  /** A pending claim older than this was abandoned (a crash): it may be taken over. */
  lease_until: Date;
}

export class IdempotencyStore {
  private readonly records: Collection<IdempotencyRecordDoc>;

  constructor(
    db: Db,
    private readonly leaseMs: number,
    private readonly box: SecretBox,
  ) {
    this.records = db.collection<IdempotencyRecordDoc>('idempotency_records');
  }

  async claim(scope: IdempotencyScope, requestHash: string, now: Date): Promise<ClaimResult> {
    const id = recordId(scope);
    if (await this.tryInsert(id, scope, requestHash, now)) return { kind: 'claimed' };
    const existing = await this.records.findOne({ _id: id });
    if (!existing) return this.claim(scope, requestHash, now); // released in between
    if (existing.request_hash !== requestHash) return { kind: 'mismatch' };
    if (existing.status === 'completed') {
      const response = this.storedResponse(existing);
      if (response === 'unreadable') return { kind: 'unreadable' };
      if (response) return { kind: 'replay', response };
    }
    if (existing.lease_until.getTime() > now.getTime()) return { kind: 'in_progress' };
    // Abandoned by a crashed call: delete it if still abandoned, then race to claim.
    await this.records.deleteOne({ _id: id, status: 'pending', lease_until: { $lte: now } });
    return (await this.tryInsert(id, scope, requestHash, now))
      ? { kind: 'claimed' }
      : { kind: 'in_progress' };
  }

  async complete(scope: IdempotencyScope, response: Uint8Array): Promise<void> {
    const id = recordId(scope);
    await this.records.updateOne(
      { _id: id },
      {
        $set: { status: 'completed', response: null, sealed_response: this.box.seal(response, id) },
      },
    );
  }

  /**
   * Run at start: seals the plain-text answers older versions stored. A scan
   * (FerretDB has no index on `response`), but once per start, and the
   * retention sweep keeps the collection small.
   */
  async sealStoredResponses(): Promise<number> {
    let sealed = 0;
    for await (const doc of this.records.find({ response: { $ne: null } })) {
      if (!doc.response) continue;
      const result = await this.records.updateOne(
        { _id: doc._id, response: { $ne: null } },
        {
          $set: { response: null, sealed_response: this.box.seal(bytesOf(doc.response), doc._id) },
        },
      );
      sealed += result.modifiedCount;
    }
    return sealed;
  }

  private storedResponse(doc: IdempotencyRecordDoc): Uint8Array | 'unreadable' | undefined {
    if (doc.sealed_response) {
      try {
        return new Uint8Array(this.box.open(doc.sealed_response, doc._id));
      } catch (err) {
        if (isSecretOpenError(err)) return 'unreadable';
        throw err;
      }
    }
    return doc.response ? bytesOf(doc.response) : undefined;
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
    const outcome = await insertOnce(this.records, {
      _id: id,
      project_id: scope.projectId,
      method: scope.method,
      key: scope.key,
      request_hash: requestHash,
      status: 'pending',
      response: null,
      sealed_response: null,
      created_at: now,
      lease_until: new Date(now.getTime() + this.leaseMs),
    });
    return outcome === 'inserted';
  }
}

/** The driver reads binary fields as BSON Binary; older code wrote Buffers. */
function bytesOf(value: Binary | Buffer): Uint8Array {
  const bytes = value instanceof Binary ? value.buffer : value;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function recordId(scope: IdempotencyScope): string {
  return `${scope.projectId}:${scope.method}:${scope.key}`;
}
