/**
 * Reservations by id: a small document per ReserveUsage, inserted before
 * its hold is appended to the chain, so CommitReservation and
 * ReleaseReservation find the chain (and the project and customer it
 * belongs to) by `_id` alone. Whether a reservation is still held is the
 * chain's state, never this document (it is never updated).
 */
import type { Collection, Db } from 'mongodb';
import { insertOnce } from './insert-once.js';

export interface UsageReservationDoc {
  /** rsv_... */
  _id: string;
  project_id: string;
  customer_id: string;
  feature: string;
  /** The ledger chain holding it. */
  chain: string;
  amount: number;
  expires_at: Date;
  /** The period its usage counts in when committed. */
  period_end: Date;
  created_at: Date;
}

export class UsageReservationStore {
  private readonly reservations: Collection<UsageReservationDoc>;

  constructor(db: Db) {
    this.reservations = db.collection<UsageReservationDoc>('usage_reservations');
  }

  /** Inserts `doc`, or answers the one a first attempt with this id inserted. */
  async insert(doc: UsageReservationDoc): Promise<UsageReservationDoc> {
    if ((await insertOnce(this.reservations, doc)) === 'inserted') return doc;
    return (await this.get(doc._id)) ?? doc;
  }

  async get(id: string): Promise<UsageReservationDoc | null> {
    return this.reservations.findOne({ _id: id });
  }

  /** A refused reservation holds nothing: its document goes. */
  async remove(id: string): Promise<void> {
    await this.reservations.deleteOne({ _id: id });
  }
}
