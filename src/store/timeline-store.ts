/**
 * The timelines (src/domain/timeline.ts), insert-only: `customer_timeline`
 * has an entry per change of a customer's facts, `project_timeline` one per
 * change of the catalog or grace period; `_id` order is time order
 * (src/domain/timeline-ids.ts). Each read filters on the customer (or the
 * project) by equality, which FerretDB pushes down to an index, and the
 * `_id` range is applied after (docs/ferretdb.md, finding 7: ranges are not
 * pushed down), so it costs the customer's entries, never the collection.
 *
 * Recording a change must not cost even that: `customer_timeline_heads`
 * holds each customer's newest entry (its facts), read and written by
 * `_id`. It only moves forward in time, so of two replicas recording at
 * once the later entry stays the head.
 */
import type { Collection, Db, Filter, FindCursor } from 'mongodb';
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
export const customerTimelineHeadsCollection = 'customer_timeline_heads';

/** A customer's newest entry, as the recorder needs it. */
export interface CustomerTimelineHeadDoc {
  /** The customer's entry-id prefix. */
  _id: string;
  project_id: string;
  customer_id: string;
  entry_id: string;
  at: Date;
  facts: CustomerFacts;
}

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
  /** The features whose answer the change changed (at `at`). */
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
  private readonly heads: Collection<CustomerTimelineHeadDoc>;

  constructor(db: Db) {
    this.customers = db.collection<CustomerTimelineDoc>(customerTimelineCollection);
    this.projects = db.collection<ProjectTimelineDoc>(projectTimelineCollection);
    this.heads = db.collection<CustomerTimelineHeadDoc>(customerTimelineHeadsCollection);
  }

  /** The entry, then the customer's head (unless a later entry is the head already). */
  async appendCustomer(entry: Omit<CustomerTimelineDoc, '_id'>): Promise<CustomerTimelineDoc> {
    const prefix = customerEntryPrefix(entry.project_id, entry.customer_id);
    const doc = { _id: newEntryId(prefix, entry.at), ...entry };
    await this.customers.insertOne(doc);
    const head = {
      project_id: entry.project_id,
      customer_id: entry.customer_id,
      entry_id: doc._id,
      at: entry.at,
      facts: entry.facts_after,
    };
    try {
      await this.heads.updateOne(
        { _id: prefix, at: { $lte: entry.at } },
        { $set: head },
        { upsert: true },
      );
    } catch (error) {
      // The head is newer (the filter missed, and the upsert found the _id taken).
      if (!isDuplicateKey(error)) throw error;
    }
    return doc;
  }

  /** The customer's newest entry's facts, by `_id`. */
  async customerHead(
    projectId: string,
    customerId: string,
  ): Promise<CustomerTimelineHeadDoc | null> {
    return this.heads.findOne({ _id: customerEntryPrefix(projectId, customerId) });
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
    return firstOf(
      this.customerEntries(projectId, customerId, {
        $gte: prefix,
        $lt: entryIdsUpTo(prefix, at),
      }),
      -1,
    );
  }

  /** The customer's oldest entry after `at`. */
  async customerAfter(
    projectId: string,
    customerId: string,
    at: Date,
  ): Promise<CustomerTimelineDoc | null> {
    const prefix = customerEntryPrefix(projectId, customerId);
    return firstOf(
      this.customerEntries(projectId, customerId, {
        $gte: entryIdsUpTo(prefix, at),
        $lt: entryIdsEnd(prefix),
      }),
      1,
    );
  }

  /** The customer's entries, newest first, older than the entry `beforeId` when given. */
  async customerPage(
    projectId: string,
    customerId: string,
    limit: number,
    beforeId?: string,
  ): Promise<CustomerTimelineDoc[]> {
    const prefix = customerEntryPrefix(projectId, customerId);
    return this.customerEntries(projectId, customerId, {
      $gte: prefix,
      $lt: beforeId ?? entryIdsEnd(prefix),
    })
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
    return this.customerEntries(
      projectId,
      customerId,
      { $gte: prefix, $lt: entryIdsUpTo(prefix, at) },
      { changed_features: feature },
    )
      .sort({ _id: -1 })
      .limit(limit)
      .toArray();
  }

  /** The project's newest entry at or before `at`. */
  async projectAt(projectId: string, at: Date): Promise<ProjectTimelineDoc | null> {
    const prefix = projectEntryPrefix(projectId);
    return firstOf(
      this.projectEntries(projectId, {
        $gte: prefix,
        $lt: entryIdsUpTo(prefix, at),
      }),
      -1,
    );
  }

  /** The project's oldest entry after `at`. */
  async projectAfter(projectId: string, at: Date): Promise<ProjectTimelineDoc | null> {
    const prefix = projectEntryPrefix(projectId);
    return firstOf(
      this.projectEntries(projectId, {
        $gte: entryIdsUpTo(prefix, at),
        $lt: entryIdsEnd(prefix),
      }),
      1,
    );
  }

  /** The project's entries after `from` up to `until`, newest first, at most `limit`. */
  async projectBetween(
    projectId: string,
    from: Date,
    until: Date,
    limit: number,
  ): Promise<ProjectTimelineDoc[]> {
    const prefix = projectEntryPrefix(projectId);
    return this.projectEntries(projectId, {
      $gte: entryIdsUpTo(prefix, from),
      $lt: entryIdsUpTo(prefix, until),
    })
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

  /** The customer's entries in an `_id` range: the customer by equality (an index), then the range. */
  private customerEntries(
    projectId: string,
    customerId: string,
    range: IdRange,
    more: Filter<CustomerTimelineDoc> = {},
  ) {
    return this.customers.find({
      project_id: projectId,
      customer_id: customerId,
      _id: range,
      ...more,
    });
  }

  private projectEntries(projectId: string, range: IdRange) {
    return this.projects.find({ project_id: projectId, _id: range });
  }
}

interface IdRange {
  readonly $gte: string;
  readonly $lt: string;
}

/** The first document of `cursor` in `_id` order (1) or reverse order (-1). */
async function firstOf<T>(cursor: FindCursor<T>, order: 1 | -1): Promise<T | null> {
  const [found] = await cursor.sort({ _id: order }).limit(1).toArray();
  return found ?? null;
}

function isDuplicateKey(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 11000;
}
