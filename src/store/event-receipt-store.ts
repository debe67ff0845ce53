/**
 * Receipts make Stripe's at-least-once delivery exactly-once in effect: one
 * receipt per (project, event id), guarded by a unique index. A delivery
 * first claims the receipt; only the claimer processes the event.
 */
import type { Collection, Db, Filter } from 'mongodb';
import { type DeleteBatchResult, deleteBatch } from './delete-batch.js';
import type { EventReceiptDoc, EventReceiptStatus, IgnoredReason } from './documents.js';
import { insertOnce } from './insert-once.js';

export type ClaimOutcome =
  /** This delivery owns the event now: process it. */
  | 'claimed'
  /** Already processed, ignored or given up: a duplicate, nothing to do. */
  | 'done'
  /** Another delivery is processing it right now: let Stripe retry later. */
  | 'busy';

export interface ReceiptQuery {
  readonly status?: EventReceiptStatus;
  readonly afterEventId?: string;
  readonly limit: number;
}

export interface EventIdentity {
  readonly projectId: string;
  readonly eventId: string;
  readonly type: string;
}

export class EventReceiptStore {
  private readonly receipts: Collection<EventReceiptDoc>;

  constructor(
    db: Db,
    /** How long a claim holds before another delivery may take over (a crashed worker). */
    private readonly leaseMs: number,
  ) {
    this.receipts = db.collection<EventReceiptDoc>('event_receipts');
  }

  async claim(event: EventIdentity, now: Date): Promise<ClaimOutcome> {
    const leaseUntil = new Date(now.getTime() + this.leaseMs);
    const first = await insertOnce(this.receipts, {
      _id: receiptId(event.projectId, event.eventId),
      project_id: event.projectId,
      event_id: event.eventId,
      type: event.type,
      status: 'processing',
      attempts: 1,
      last_error: null,
      received_at: now,
      processed_at: null,
      lease_until: leaseUntil,
    });
    if (first === 'inserted') return 'claimed';
    // Known event: take it over only if it failed before or its worker's lease ran out.
    const takenOver = await this.receipts.findOneAndUpdate(
      {
        _id: receiptId(event.projectId, event.eventId),
        $or: [{ status: 'failed' }, { status: 'processing', lease_until: { $lt: now } }],
      },
      { $set: { status: 'processing', lease_until: leaseUntil }, $inc: { attempts: 1 } },
      { returnDocument: 'after' },
    );
    if (takenOver) return 'claimed';
    const current = await this.get(event.projectId, event.eventId);
    return current && ['processed', 'ignored', 'dead'].includes(current.status) ? 'done' : 'busy';
  }

  /** `reason`: why an ignored event was not applied. */
  async finish(
    event: EventIdentity,
    status: Extract<EventReceiptStatus, 'processed' | 'ignored'>,
    now: Date,
    reason: IgnoredReason | null = null,
  ): Promise<void> {
    await this.receipts.updateOne(
      { _id: receiptId(event.projectId, event.eventId) },
      { $set: { status, processed_at: now, last_error: null, ignored_reason: reason } },
    );
  }

  async fail(event: EventIdentity, error: string): Promise<void> {
    await this.receipts.updateOne(
      { _id: receiptId(event.projectId, event.eventId) },
      { $set: { status: 'failed', last_error: error.slice(0, 500) } },
    );
  }

  /**
   * Gives the event up once it has failed `maxAttempts` times: dead, with its
   * verified body kept for a replay. Only the delivery holding the claim
   * calls this, so the conditional update races with no one.
   */
  async giveUp(event: EventIdentity, maxAttempts: number, eventJson: string): Promise<boolean> {
    const dead = await this.receipts.findOneAndUpdate(
      {
        _id: receiptId(event.projectId, event.eventId),
        status: 'failed',
        attempts: { $gte: maxAttempts },
      },
      { $set: { status: 'dead', event_json: eventJson } },
      { returnDocument: 'after' },
    );
    return dead !== null;
  }

  /** A dead event becomes failed again, so the next claim (a replay) takes it over. */
  async reopen(projectId: string, eventId: string): Promise<void> {
    await this.receipts.updateOne(
      { _id: receiptId(projectId, eventId), status: 'dead' },
      { $set: { status: 'failed' } },
    );
  }

  /**
   * By event id; `after` continues after the last receipt of the previous
   * page. Unlike the webhook path this filters on more than `_id` (a scan on
   * FerretDB): it serves an operator's listing, not every delivery.
   */
  async list(projectId: string, query: ReceiptQuery): Promise<EventReceiptDoc[]> {
    const filter: Filter<EventReceiptDoc> = { project_id: projectId };
    if (query.status) filter.status = query.status;
    if (query.afterEventId !== undefined) {
      filter._id = { $gt: receiptId(projectId, query.afterEventId) };
    }
    return this.receipts.find(filter).sort({ _id: 1 }).limit(query.limit).toArray();
  }

  async get(projectId: string, eventId: string): Promise<EventReceiptDoc | null> {
    return this.receipts.findOne({ _id: receiptId(projectId, eventId) });
  }

  /**
   * One batch of the retention job: receipts received before `olderThan`
   * that are finished (processed, ignored, failed) or whose worker's lease
   * ran out; never one a delivery is processing right now.
   */
  async sweep(olderThan: Date, now: Date, limit: number): Promise<DeleteBatchResult> {
    const filter: Filter<EventReceiptDoc> = {
      received_at: { $lt: olderThan },
      $or: [{ status: { $ne: 'processing' } }, { lease_until: { $lt: now } }],
    };
    return deleteBatch(this.receipts, filter, limit);
  }
}

/**
 * Every lookup goes by `_id`: FerretDB's SQLite backend answers other
 * filters by scanning the collection, which made each webhook slower as
 * receipts piled up (50 ms per update at 1,000 receipts, 8 ms by `_id`).
 */
function receiptId(projectId: string, eventId: string): string {
  return `${projectId}:${eventId}`;
}
