/**
 * The outbox of Stripe meter events (`meter_outbox`): one document per
 * recorded usage of a feature mapped to a meter, `_id` = the usage id, so
 * recording it again (a retried TrackUsage) inserts nothing. A document
 * stays until Stripe accepted its event (or it is skipped), then goes: the
 * collection holds pending events only, so the due scan stays small on
 * FerretDB, where any filter but `_id` equality reads the whole collection
 * (docs/ferretdb.md, finding 6).
 *
 * What left the outbox is remembered in `meter_reported` (`_id` = the usage
 * id, read by `_id` only), so a TrackUsage retried after its event went out
 * (its key holds for 30 days, Stripe's dedupe only 24 hours) adds nothing.
 * The retention job deletes those records with the usage claims.
 */
import type { Collection, Db } from 'mongodb';
import { type DeleteBatchResult, deleteBatch } from './delete-batch.js';
import { insertOnce } from './insert-once.js';

export interface MeterOutboxDoc {
  /** The usage id: Stripe's `identifier` of the event. */
  _id: string;
  project_id: string;
  /** The product's customer id (the Stripe customer is looked up when sent). */
  customer_id: string;
  feature: string;
  event_name: string;
  value: number;
  occurred_at: Date;
  created_at: Date;
  /** Failed sends so far. */
  attempts: number;
  next_attempt_at: Date;
  last_error: string | null;
}

/** How an event left the outbox. */
export type MeterReportedOutcome = 'sent' | 'duplicate' | 'skipped';

interface MeterReportedDoc {
  /** The usage id. */
  _id: string;
  project_id: string;
  outcome: MeterReportedOutcome;
  created_at: Date;
}

export interface MeterOutboxCounts {
  readonly pending: number;
  /** Pending events that failed often enough to count as failing. */
  readonly failing: number;
}

export class MeterOutboxStore {
  private readonly outbox: Collection<MeterOutboxDoc>;
  private readonly reported: Collection<MeterReportedDoc>;

  constructor(db: Db) {
    this.outbox = db.collection<MeterOutboxDoc>('meter_outbox');
    this.reported = db.collection<MeterReportedDoc>('meter_reported');
  }

  /**
   * Once per usage id: a second call (a retry of the same usage) changes
   * nothing, also after the event left the outbox.
   */
  async add(doc: MeterOutboxDoc): Promise<void> {
    if (await this.reported.findOne({ _id: doc._id }, { projection: { _id: 1 } })) return;
    await insertOnce(this.outbox, doc);
  }

  /** Done with these events: remembered as reported first, then out of the outbox. */
  async finish(
    docs: readonly Pick<MeterOutboxDoc, '_id' | 'project_id'>[],
    outcome: (id: string) => MeterReportedOutcome,
    now: Date,
  ): Promise<void> {
    if (docs.length === 0) return;
    // One insert each: a record may exist (a run that crashed before its delete), and a
    // bulk insert's duplicate-key report differs between MongoDB and FerretDB.
    await Promise.all(
      docs.map((doc) =>
        insertOnce(this.reported, {
          _id: doc._id,
          project_id: doc.project_id,
          outcome: outcome(doc._id),
          created_at: now,
        }),
      ),
    );
    await this.remove(docs.map((doc) => doc._id));
  }

  /** Records of reported events older than `olderThan`, one bounded batch (retention). */
  async sweepReported(olderThan: Date, limit: number): Promise<DeleteBatchResult> {
    return deleteBatch(this.reported, { created_at: { $lt: olderThan } }, limit);
  }

  /** Up to `limit` events due at `now`, the longest due first. */
  async due(now: Date, limit: number): Promise<MeterOutboxDoc[]> {
    return this.outbox
      .find({ next_attempt_at: { $lte: now } })
      .sort({ next_attempt_at: 1, _id: 1 })
      .limit(limit)
      .toArray();
  }

  private async remove(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.outbox.deleteMany({ _id: { $in: [...ids] } });
  }

  /** A failed send: counted, and not tried again before `nextAttemptAt`. */
  async postpone(id: string, attempts: number, nextAttemptAt: Date, error: string): Promise<void> {
    await this.outbox.updateOne(
      { _id: id },
      { $set: { attempts, next_attempt_at: nextAttemptAt, last_error: error } },
    );
  }

  async get(id: string): Promise<MeterOutboxDoc | null> {
    return this.outbox.findOne({ _id: id });
  }

  /** One read of the (small) collection: pending events and those failing. */
  async counts(isFailing: (attempts: number) => boolean): Promise<MeterOutboxCounts> {
    const docs = await this.outbox.find({}, { projection: { attempts: 1 } }).toArray();
    const failing = docs.filter((doc) => isFailing(doc.attempts)).length;
    return { pending: docs.length, failing };
  }
}
