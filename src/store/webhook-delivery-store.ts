/**
 * Deliveries of outbound events to endpoints, in three collections:
 *
 * - `webhook_deliveries`: one record per (endpoint, event), `_id`
 *   `<endpoint>:<event>`: where it stands (the delivery log's summary);
 * - `webhook_outbox`: the pending ones only, what the dispatcher reads. It
 *   stays small (a delivery leaves it once answered 2xx or given up), which
 *   matters on FerretDB, where any filter but `_id` equality reads the
 *   whole collection (docs/ferretdb.md, finding 6);
 * - `webhook_delivery_attempts`: insert-only, `_id` `<delivery>#<number>`.
 *   Inserting the attempt is the exclusive claim to make it (a unique
 *   `_id`, FerretDB-safe): two replicas that read the same pending delivery
 *   cannot both send it. The attempt's result is written on it after.
 *
 * Every update of a pending delivery is conditional on the attempts counted
 * so far, so a replica holding an older read changes nothing.
 */
import type { Collection, Db, Filter } from 'mongodb';
import type {
  DeliveryListQuery,
  WebhookAttemptRecord,
  WebhookDeliveryRecord,
} from '../domain/records.js';
import { type DeleteBatchResult, deleteBatch } from './delete-batch.js';
import { insertOnce } from './insert-once.js';

/** A pending delivery as the dispatcher reads it. */
export interface WebhookOutboxDoc {
  _id: string;
  project_id: string;
  endpoint_id: string;
  event_id: string;
  customer_id: string;
  order: number;
  attempts: number;
  next_attempt_at: Date;
  give_up_at: Date;
}

/** How an attempt went. */
export interface AttemptResult {
  readonly statusCode: number;
  /** Empty after a 2xx. */
  readonly error: string;
  readonly durationMs: number;
  readonly finishedAt: Date;
}

const maxErrorLength = 500;

export class WebhookDeliveryStore {
  private readonly deliveries: Collection<WebhookDeliveryRecord>;
  private readonly outbox: Collection<WebhookOutboxDoc>;
  private readonly attempts: Collection<WebhookAttemptRecord>;

  constructor(db: Db) {
    this.deliveries = db.collection<WebhookDeliveryRecord>('webhook_deliveries');
    this.outbox = db.collection<WebhookOutboxDoc>('webhook_outbox');
    this.attempts = db.collection<WebhookAttemptRecord>('webhook_delivery_attempts');
  }

  /**
   * Once per (endpoint, event): the outbox entry first, then the record, so
   * a crash in between is repaired when the event is found again; a
   * delivery recorded before (sent, perhaps) is not queued again.
   */
  async add(delivery: WebhookDeliveryRecord): Promise<void> {
    if (await this.deliveries.findOne({ _id: delivery._id }, { projection: { _id: 1 } })) return;
    await insertOnce(this.outbox, outboxEntryOf(delivery));
    await insertOnce(this.deliveries, delivery);
  }

  /** Endpoints that have pending deliveries. */
  async endpointsWithPending(): Promise<string[]> {
    const ids: unknown[] = await this.outbox.distinct('endpoint_id');
    return ids.filter((id): id is string => typeof id === 'string');
  }

  /** Up to `limit` pending deliveries of an endpoint, in order. */
  async pendingOf(endpointId: string, limit: number): Promise<WebhookOutboxDoc[]> {
    return this.outbox
      .find({ endpoint_id: endpointId })
      .sort({ order: 1, _id: 1 })
      .limit(limit)
      .toArray();
  }

  /** True for the one caller that may make the delivery's next attempt. */
  async claimAttempt(pending: WebhookOutboxDoc, owner: string, now: Date): Promise<boolean> {
    const number = pending.attempts + 1;
    const attempt: WebhookAttemptRecord = {
      _id: attemptId(pending._id, number),
      delivery_id: pending._id,
      project_id: pending.project_id,
      number,
      owner,
      started_at: now,
      finished_at: null,
      status_code: 0,
      error: '',
      duration_ms: 0,
    };
    return (await insertOnce(this.attempts, attempt)) === 'inserted';
  }

  /**
   * The next attempt of `pending` was claimed but never finished, and its
   * claim is older than `staleBefore` (its sender died): it is recorded as
   * interrupted and the delivery is due again now. True when this call
   * freed it.
   */
  async recoverAttempt(pending: WebhookOutboxDoc, staleBefore: Date, now: Date): Promise<boolean> {
    const id = attemptId(pending._id, pending.attempts + 1);
    const attempt = await this.attempts.findOne({ _id: id });
    if (!attempt || attempt.finished_at !== null || attempt.started_at >= staleBefore) return false;
    const result = {
      statusCode: 0,
      error: 'interrupted: the sender stopped before an answer came',
      durationMs: 0,
      finishedAt: now,
    };
    await this.finishAttempt(id, result);
    return this.postpone(pending, result, now);
  }

  /** Answered 2xx: recorded, and out of the outbox. */
  async succeeded(pending: WebhookOutboxDoc, result: AttemptResult): Promise<void> {
    const attempts = pending.attempts + 1;
    await this.finishAttempt(attemptId(pending._id, attempts), result);
    await this.deliveries.updateOne(
      { _id: pending._id },
      {
        $set: {
          status: 'succeeded',
          attempts,
          last_status_code: result.statusCode,
          last_error: '',
          next_attempt_at: null,
          delivered_at: result.finishedAt,
        },
      },
    );
    await this.outbox.deleteOne({ _id: pending._id, attempts: pending.attempts });
  }

  /**
   * Not answered 2xx: tried again at `nextAttemptAt`, or, when that is past
   * its window, given up (failed, out of the outbox).
   */
  async failed(
    pending: WebhookOutboxDoc,
    result: AttemptResult,
    nextAttemptAt: Date,
  ): Promise<void> {
    await this.finishAttempt(attemptId(pending._id, pending.attempts + 1), result);
    await this.postpone(pending, result, nextAttemptAt);
  }

  private async postpone(
    pending: WebhookOutboxDoc,
    result: AttemptResult,
    nextAttemptAt: Date,
  ): Promise<boolean> {
    const attempts = pending.attempts + 1;
    const givenUp = nextAttemptAt > pending.give_up_at;
    const error = result.error.slice(0, maxErrorLength);
    const moved = await this.outbox.updateOne(
      { _id: pending._id, attempts: pending.attempts },
      givenUp ? { $set: { attempts } } : { $set: { attempts, next_attempt_at: nextAttemptAt } },
    );
    if (moved.matchedCount === 0) return false;
    await this.deliveries.updateOne(
      { _id: pending._id },
      {
        $set: {
          status: givenUp ? 'failed' : 'pending',
          attempts,
          last_status_code: result.statusCode,
          last_error: error,
          next_attempt_at: givenUp ? null : nextAttemptAt,
        },
      },
    );
    if (givenUp) await this.outbox.deleteOne({ _id: pending._id, attempts });
    return true;
  }

  private async finishAttempt(id: string, result: AttemptResult): Promise<void> {
    await this.attempts.updateOne(
      { _id: id, finished_at: null },
      {
        $set: {
          finished_at: result.finishedAt,
          status_code: result.statusCode,
          error: result.error.slice(0, maxErrorLength),
          duration_ms: result.durationMs,
        },
      },
    );
  }

  /** The endpoint is gone: its pending deliveries end as failed. */
  async endpointDeleted(endpointId: string): Promise<void> {
    await this.deliveries.updateMany(
      { endpoint_id: endpointId, status: 'pending' },
      { $set: { status: 'failed', last_error: 'the endpoint was deleted', next_attempt_at: null } },
    );
    await this.outbox.deleteMany({ endpoint_id: endpointId });
  }

  /**
   * Pending again, due `now`, retried until `giveUpAt`; the same event id.
   * Null for an unknown delivery or another project's.
   */
  async replay(
    projectId: string,
    deliveryId: string,
    now: Date,
    giveUpAt: Date,
  ): Promise<WebhookDeliveryRecord | null> {
    const record = await this.get(projectId, deliveryId);
    if (!record) return null;
    // The outbox entry first: a crash before the record changes leaves a delivery that is sent.
    const entry = { ...outboxEntryOf(record), next_attempt_at: now, give_up_at: giveUpAt };
    if ((await insertOnce(this.outbox, entry)) === 'exists') {
      await this.outbox.updateOne(
        { _id: deliveryId },
        { $set: { next_attempt_at: now, give_up_at: giveUpAt } },
      );
    }
    return this.deliveries.findOneAndUpdate(
      { _id: deliveryId },
      { $set: { status: 'pending', next_attempt_at: now, give_up_at: giveUpAt } },
      { returnDocument: 'after' },
    );
  }

  /** Null for an unknown delivery and for another project's alike. */
  async get(projectId: string, deliveryId: string): Promise<WebhookDeliveryRecord | null> {
    const doc = await this.deliveries.findOne({ _id: deliveryId });
    return doc && doc.project_id === projectId ? doc : null;
  }

  /** Oldest first. */
  async attemptsOf(deliveryId: string): Promise<WebhookAttemptRecord[]> {
    return this.attempts.find({ delivery_id: deliveryId }).sort({ number: 1 }).toArray();
  }

  /** Newest first (by when the delivery was created, then id). */
  async list(projectId: string, query: DeliveryListQuery): Promise<WebhookDeliveryRecord[]> {
    const filter: Filter<WebhookDeliveryRecord> = { project_id: projectId };
    if (query.endpointId !== undefined) filter.endpoint_id = query.endpointId;
    if (query.eventId !== undefined) filter.event_id = query.eventId;
    if (query.status !== undefined) filter.status = query.status;
    const after = query.after;
    if (after !== undefined) {
      filter.$or = [
        { created_at: { $lt: after.createdAt } },
        { created_at: after.createdAt, _id: { $lt: after.id } },
      ];
    }
    return this.deliveries
      .find(filter)
      .sort({ created_at: -1, _id: -1 })
      .limit(query.limit)
      .toArray();
  }

  /** Finished deliveries created before `olderThan`, one bounded batch (retention). */
  async sweepDeliveries(olderThan: Date, limit: number): Promise<DeleteBatchResult> {
    return deleteBatch(
      this.deliveries,
      { created_at: { $lt: olderThan }, status: { $ne: 'pending' } },
      limit,
    );
  }

  /** Attempts started before `olderThan`, one bounded batch (retention). */
  async sweepAttempts(olderThan: Date, limit: number): Promise<DeleteBatchResult> {
    return deleteBatch(this.attempts, { started_at: { $lt: olderThan } }, limit);
  }
}

function outboxEntryOf(delivery: WebhookDeliveryRecord): WebhookOutboxDoc {
  return {
    _id: delivery._id,
    project_id: delivery.project_id,
    endpoint_id: delivery.endpoint_id,
    event_id: delivery.event_id,
    customer_id: delivery.customer_id,
    order: delivery.order,
    attempts: delivery.attempts,
    next_attempt_at: delivery.next_attempt_at ?? delivery.created_at,
    give_up_at: delivery.give_up_at,
  };
}

export function deliveryIdOf(endpointId: string, eventId: string): string {
  return `${endpointId}:${eventId}`;
}

function attemptId(deliveryId: string, number: number): string {
  return `${deliveryId}#${number}`;
}
