import type { Collection, Db, Filter } from 'mongodb';
import type { GrantDoc } from './documents.js';

export interface GrantQuery {
  readonly customerId?: string;
  readonly activeAt?: Date;
  readonly limit: number;
  /** Continue after this grant id (grants sort by id, which sorts by creation). */
  readonly after?: string;
}

export class GrantStore {
  private readonly grants: Collection<GrantDoc>;

  constructor(db: Db) {
    this.grants = db.collection<GrantDoc>('grants');
  }

  async create(grant: GrantDoc): Promise<GrantDoc> {
    await this.grants.insertOne(grant);
    return grant;
  }

  async get(projectId: string, grantId: string): Promise<GrantDoc | null> {
    return this.grants.findOne({ _id: grantId, project_id: projectId });
  }

  /** Revokes once; a second call returns the grant as first revoked. */
  async revoke(
    projectId: string,
    grantId: string,
    by: string,
    reason: string,
    now: Date,
  ): Promise<GrantDoc | null> {
    const revoked = await this.grants.findOneAndUpdate(
      { _id: grantId, project_id: projectId, revoked_at: null },
      { $set: { revoked_at: now, revoked_by: by, revoke_reason: reason } },
      { returnDocument: 'after' },
    );
    return revoked ?? this.get(projectId, grantId);
  }

  /** Every grant of a customer, active or not: the engine decides. */
  async listForCustomer(projectId: string, customerId: string): Promise<GrantDoc[]> {
    return this.grants.find({ project_id: projectId, customer_id: customerId }).toArray();
  }

  /**
   * Grants of every project, not revoked, that expire after `after` (a time,
   * or the last grant of the page before) and at or before `until`, up to
   * `limit`, soonest first (the grant.expiring job).
   */
  async expiringBetween(
    after: Date | { readonly expiresAt: Date; readonly id: string },
    until: Date,
    limit: number,
  ): Promise<GrantDoc[]> {
    const filter: Filter<GrantDoc> = { revoked_at: null, expires_at: { $lte: until } };
    if (after instanceof Date) filter.expires_at = { $gt: after, $lte: until };
    else {
      filter.$or = [
        { expires_at: { $gt: after.expiresAt } },
        { expires_at: after.expiresAt, _id: { $gt: after.id } },
      ];
    }
    return this.grants.find(filter).sort({ expires_at: 1, _id: 1 }).limit(limit).toArray();
  }

  async list(projectId: string, query: GrantQuery): Promise<GrantDoc[]> {
    const filter: Filter<GrantDoc> = { project_id: projectId };
    if (query.customerId) filter.customer_id = query.customerId;
    if (query.activeAt) {
      filter.revoked_at = null;
      filter.$or = [{ expires_at: null }, { expires_at: { $gt: query.activeAt } }];
    }
    if (query.after) filter._id = { $gt: query.after };
    return this.grants.find(filter).sort({ _id: 1 }).limit(query.limit).toArray();
  }
}
