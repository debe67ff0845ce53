/**
 * Events recorded for products' endpoints (`outbound_events`), one document
 * per event, `_id` = the event id. The body is kept as the exact JSON sent,
 * so every attempt and replay sends the same bytes. An event whose id is
 * derived from what it is about (domain/outbound-webhooks.ts) is recorded
 * once however often it is found. The retention job deletes old ones.
 */
import type { Collection, Db } from 'mongodb';
import { type DeleteBatchResult, deleteBatch } from './delete-batch.js';
import { insertOnce } from './insert-once.js';

export interface OutboundEventDoc {
  _id: string;
  project_id: string;
  type: string;
  /** Empty for events of no customer. */
  customer_id: string;
  order: number;
  created_at: Date;
  body: string;
}

export class OutboundEventStore {
  private readonly events: Collection<OutboundEventDoc>;

  constructor(db: Db) {
    this.events = db.collection<OutboundEventDoc>('outbound_events');
  }

  /** 'exists' when the event was recorded before (found again): nothing changes. */
  async add(doc: OutboundEventDoc): Promise<'inserted' | 'exists'> {
    return insertOnce(this.events, doc);
  }

  async get(eventId: string): Promise<OutboundEventDoc | null> {
    return this.events.findOne({ _id: eventId });
  }

  /** Events older than `olderThan`, one bounded batch (retention). */
  async sweep(olderThan: Date, limit: number): Promise<DeleteBatchResult> {
    return deleteBatch(this.events, { created_at: { $lt: olderThan } }, limit);
  }
}
