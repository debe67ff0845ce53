/**
 * Subscriptions are stored as versions: one document per (subscription,
 * event time), written by insert only. The current state of a subscription
 * is its newest version. Why not one document updated in place: FerretDB
 * runs an update as read-then-write without re-checking the filter, so a
 * conditional "only if newer" update is not a compare-and-swap there, and
 * racing deliveries could let an older event win. An insert against the
 * unique _id is atomic on MongoDB and FerretDB alike. Superseded versions
 * are deleted by `pruneOlderThan`, except while a subscription is past_due:
 * then the versions of the run are kept, because the run's first version
 * says when the grace period began (domain/past-due.ts).
 */
import type { Collection, Db, FindCursor } from 'mongodb';
import { pastDueSince, type StatusObservation } from '../domain/past-due.js';
import { isNewerVersion, type VersionStamp } from '../domain/subscription-versions.js';
import type { SubscriptionDoc } from './documents.js';
import { insertOnce } from './insert-once.js';

/** What a scan for the business figures reads of each version. */
export type FigureVersion = Pick<
  SubscriptionDoc,
  | 'stripe_subscription_id'
  | 'stripe_customer_id'
  | 'status'
  | 'items'
  | 'created'
  | 'ended_at'
  | 'canceled_at'
  | 'event_created'
  | 'fetched_from_stripe'
  | 'fetch_seq'
>;

const figureVersionProjection = {
  _id: 0,
  stripe_subscription_id: 1,
  stripe_customer_id: 1,
  status: 1,
  items: 1,
  created: 1,
  ended_at: 1,
  canceled_at: 1,
  event_created: 1,
  fetched_from_stripe: 1,
  fetch_seq: 1,
} as const;

export type RecordOutcome = 'recorded' | 'duplicate';

/** A subscription's newest version, and what only its older versions can tell. */
export interface CurrentSubscription {
  readonly doc: SubscriptionDoc;
  /** When its current run of past_due began; null when it is not past_due. */
  readonly pastDueSince: Date | null;
}

export class SubscriptionStore {
  private readonly versions: Collection<SubscriptionDoc>;

  constructor(db: Db) {
    this.versions = db.collection<SubscriptionDoc>('subscriptions');
  }

  /** Stores one version; 'duplicate' when a version of that event time exists already. */
  async record(doc: SubscriptionDoc): Promise<RecordOutcome> {
    return (await insertOnce(this.versions, doc)) === 'inserted' ? 'recorded' : 'duplicate';
  }

  async getVersion(id: string): Promise<SubscriptionDoc | null> {
    return this.versions.findOne({ _id: id });
  }

  /** The newest version of one subscription. */
  async current(projectId: string, subscriptionId: string): Promise<SubscriptionDoc | null> {
    const versions = await this.versions
      .find({ project_id: projectId, stripe_subscription_id: subscriptionId })
      .toArray();
    return newestPerSubscription(versions)[0] ?? null;
  }

  /** The current state of each subscription of a Stripe customer. */
  async currentByStripeCustomer(
    projectId: string,
    stripeCustomerId: string,
  ): Promise<CurrentSubscription[]> {
    const versions = await this.versions
      .find({ project_id: projectId, stripe_customer_id: stripeCustomerId })
      .toArray();
    return newestPerSubscription(versions).map((doc) => ({
      doc,
      pastDueSince: pastDueSince(
        versions
          .filter((v) => v.stripe_subscription_id === doc.stripe_subscription_id)
          .map(statusObservation),
      ),
    }));
  }

  /**
   * Every stored version of a project's subscriptions, `batchSize` at a
   * time (memory bounded by a batch, whatever the project's size), with
   * only the fields that pick the current version and make the business
   * figures: for those who fold versions into something small as they go.
   */
  async forEachVersionOfProject(
    projectId: string,
    batchSize: number,
    onBatch: (versions: readonly FigureVersion[]) => void | Promise<void>,
  ): Promise<void> {
    const cursor = this.versions
      .find<FigureVersion>({ project_id: projectId }, { projection: figureVersionProjection })
      .batchSize(batchSize);
    await inBatches(cursor, batchSize, onBatch);
  }

  /** Every stored version of a project, whole, `batchSize` at a time (reconciliation's walk). */
  async forEachFullVersionOfProject(
    projectId: string,
    batchSize: number,
    onBatch: (versions: readonly SubscriptionDoc[]) => void | Promise<void>,
  ): Promise<void> {
    const cursor = this.versions.find({ project_id: projectId }).batchSize(batchSize);
    await inBatches(cursor, batchSize, onBatch);
  }

  /**
   * Deletes the versions of `doc`'s subscription older than `doc`: they are
   * superseded whichever version is the newest, so this is safe at any time
   * and in any order, and needs no read first (on FerretDB every filter but
   * `_id` is a scan). A version recorded out of order stays until a newer
   * one prunes it; reads pick the newest of what is there.
   */
  async pruneOlderThan(doc: SubscriptionDoc): Promise<number> {
    const result = await this.versions.deleteMany({
      project_id: doc.project_id,
      stripe_subscription_id: doc.stripe_subscription_id,
      event_created: { $lt: doc.event_created },
    });
    return result.deletedCount;
  }
}

/** Hands a cursor's documents on `batchSize` at a time; closes it whatever happens. */
async function inBatches<T>(
  cursor: FindCursor<T>,
  batchSize: number,
  onBatch: (batch: readonly T[]) => void | Promise<void>,
): Promise<void> {
  let batch: T[] = [];
  try {
    for await (const doc of cursor) {
      batch.push(doc);
      if (batch.length < batchSize) continue;
      await onBatch(batch);
      batch = [];
    }
    if (batch.length > 0) await onBatch(batch);
  } finally {
    await cursor.close();
  }
}

function statusObservation(version: SubscriptionDoc): StatusObservation {
  return {
    ...versionStamp(version),
    status: version.status,
    sameSecondStatuses: version.same_second_statuses ?? [],
  };
}

/** What orders a stored version among the others (domain/subscription-versions.ts). */
export function versionStamp(
  version: Pick<SubscriptionDoc, 'event_created' | 'fetched_from_stripe' | 'fetch_seq'>,
): VersionStamp {
  return {
    eventCreated: version.event_created,
    fetchedFromStripe: version.fetched_from_stripe,
    fetchSeq: version.fetch_seq ?? 1,
  };
}

function newestPerSubscription(versions: readonly SubscriptionDoc[]): SubscriptionDoc[] {
  const newest = new Map<string, SubscriptionDoc>();
  for (const version of versions) {
    const seen = newest.get(version.stripe_subscription_id);
    if (!seen || isNewerVersion(versionStamp(version), versionStamp(seen)))
      newest.set(version.stripe_subscription_id, version);
  }
  return [...newest.values()];
}
