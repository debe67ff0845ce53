/**
 * The timelines (src/domain/timeline.ts), insert-only: `customer_timeline`
 * has an entry per change of a customer's facts, `project_timeline` one per
 * change of the catalog or grace period. Every read is an `_id` range
 * (src/domain/timeline-ids.ts: `_id` order is time order).
 */
import type { Collection, Db, Filter } from 'mongodb';
import type { EntitlementSet } from '../domain/entitlements.js';
import type { CustomerFacts, ProjectTimelineCause, TimelineCause } from '../domain/timeline.js';
import {
  customerEntryPrefix,
  entryIdsEnd,
  entryIdsUpTo,
  newEntryId,
  projectEntryPrefix,
} from '../domain/timeline-ids.js';
import { type DeleteBatchResult, deleteBatch } from './delete-batch.js';
import type { CatalogEntryDoc } from './documents.js';

export const customerTimelineCollection = 'customer_timeline';
export const projectTimelineCollection = 'project_timeline';

export interface CustomerTimelineDoc {
  _id: string;
  project_id: string;
  customer_id: string;
  /** Business time of the change. */
  at: Date;
  cause: TimelineCause;
  /** null: the customer's first entry (nothing was recorded before it). */
  facts_before: CustomerFacts | null;
  facts_after: CustomerFacts;
  set_before: EntitlementSet | null;
  set_after: EntitlementSet;
  changed_features: string[];
}

export interface ProjectTimelineDoc {
  _id: string;
  project_id: string;
  at: Date;
  cause: ProjectTimelineCause;
  catalog_before: CatalogEntryDoc[];
  catalog_after: CatalogEntryDoc[];
  grace_before_seconds: number;
  grace_after_seconds: number;
}

export class TimelineStore {
  private readonly customers: Collection<CustomerTimelineDoc>;
  private readonly projects: Collection<ProjectTimelineDoc>;

  constructor(db: Db) {
    this.customers = db.collection<CustomerTimelineDoc>(customerTimelineCollection);
    this.projects = db.collection<ProjectTimelineDoc>(projectTimelineCollection);
  }

  async appendCustomer(entry: Omit<CustomerTimelineDoc, '_id'>): Promise<CustomerTimelineDoc> {
    const doc = {
      _id: newEntryId(customerEntryPrefix(entry.project_id, entry.customer_id), entry.at),
      ...entry,
    };
    await this.customers.insertOne(doc);
    return doc;
  }

  async appendProject(entry: Omit<ProjectTimelineDoc, '_id'>): Promise<ProjectTimelineDoc> {
    const doc = { _id: newEntryId(projectEntryPrefix(entry.project_id), entry.at), ...entry };
    await this.projects.insertOne(doc);
    return doc;
  }

  /** The customer's newest entry at or before `at`. */
  async customerAt(
    projectId: string,
    customerId: string,
    at: Date,
  ): Promise<CustomerTimelineDoc | null> {
    const prefix = customerEntryPrefix(projectId, customerId);
    return this.newestIn(
      this.customers,
      { $gte: prefix, $lt: entryIdsUpTo(prefix, at) },
      customerId,
    );
  }

  /** The customer's oldest entry after `at`. */
  async customerAfter(
    projectId: string,
    customerId: string,
    at: Date,
  ): Promise<CustomerTimelineDoc | null> {
    const prefix = customerEntryPrefix(projectId, customerId);
    const [found] = await this.customers
      .find({
        _id: { $gte: entryIdsUpTo(prefix, at), $lt: entryIdsEnd(prefix) },
        customer_id: customerId,
      })
      .sort({ _id: 1 })
      .limit(1)
      .toArray();
    return found ?? null;
  }

  /** The customer's entries, newest first, older than the entry `beforeId` when given. */
  async customerPage(
    projectId: string,
    customerId: string,
    limit: number,
    beforeId?: string,
  ): Promise<CustomerTimelineDoc[]> {
    const prefix = customerEntryPrefix(projectId, customerId);
    const end = beforeId ?? entryIdsEnd(prefix);
    return this.customers
      .find({ _id: { $gte: prefix, $lt: end }, customer_id: customerId })
      .sort({ _id: -1 })
      .limit(limit)
      .toArray();
  }

  /** The customer's newest entries at or before `at` that changed `feature`. */
  async customerChangesOf(
    projectId: string,
    customerId: string,
    feature: string,
    at: Date,
    limit: number,
  ): Promise<CustomerTimelineDoc[]> {
    const prefix = customerEntryPrefix(projectId, customerId);
    return this.customers
      .find({
        _id: { $gte: prefix, $lt: entryIdsUpTo(prefix, at) },
        customer_id: customerId,
        changed_features: feature,
      })
      .sort({ _id: -1 })
      .limit(limit)
      .toArray();
  }

  /** The project's newest entry at or before `at`. */
  async projectAt(projectId: string, at: Date): Promise<ProjectTimelineDoc | null> {
    const prefix = projectEntryPrefix(projectId);
    const [found] = await this.projects
      .find({ _id: { $gte: prefix, $lt: entryIdsUpTo(prefix, at) } })
      .sort({ _id: -1 })
      .limit(1)
      .toArray();
    return found ?? null;
  }

  /** The project's oldest entry after `at`. */
  async projectAfter(projectId: string, at: Date): Promise<ProjectTimelineDoc | null> {
    const prefix = projectEntryPrefix(projectId);
    const [found] = await this.projects
      .find({ _id: { $gte: entryIdsUpTo(prefix, at), $lt: entryIdsEnd(prefix) } })
      .sort({ _id: 1 })
      .limit(1)
      .toArray();
    return found ?? null;
  }

  /** The project's entries after `from` up to `until`, newest first, at most `limit`. */
  async projectBetween(
    projectId: string,
    from: Date,
    until: Date,
    limit: number,
  ): Promise<ProjectTimelineDoc[]> {
    const prefix = projectEntryPrefix(projectId);
    return this.projects
      .find({ _id: { $gte: entryIdsUpTo(prefix, from), $lt: entryIdsUpTo(prefix, until) } })
      .sort({ _id: -1 })
      .limit(limit)
      .toArray();
  }

  /** One bounded batch of the retention sweep, customer entries then project entries. */
  async sweep(olderThan: Date, limit: number): Promise<DeleteBatchResult> {
    const customers = await deleteBatch(this.customers, { at: { $lt: olderThan } }, limit);
    if (customers.matched >= limit) return customers;
    const projects = await deleteBatch(
      this.projects,
      { at: { $lt: olderThan } },
      limit - customers.matched,
    );
    return {
      matched: customers.matched + projects.matched,
      deleted: customers.deleted + projects.deleted,
    };
  }

  private async newestIn(
    collection: Collection<CustomerTimelineDoc>,
    range: { $gte: string; $lt: string },
    customerId: string,
  ): Promise<CustomerTimelineDoc | null> {
    const filter: Filter<CustomerTimelineDoc> = { _id: range, customer_id: customerId };
    const [found] = await collection.find(filter).sort({ _id: -1 }).limit(1).toArray();
    return found ?? null;
  }
}
