/**
 * Daily snapshots of a project's business figures (`daily_snapshots`): one
 * document per project and UTC day, replaced each time the snapshot job
 * takes the day again, so the last take of a past day stands for it. They
 * are small (one per project per day) and kept: charts over years need them.
 */
import type { Collection, Db } from 'mongodb';
import type { DailySnapshotFigures } from '../domain/daily-metrics.js';
import type { DailySnapshotDoc } from './documents.js';
import { isDuplicateKeyError } from './errors.js';

export class DailySnapshotStore {
  private readonly snapshots: Collection<DailySnapshotDoc>;

  constructor(db: Db) {
    this.snapshots = db.collection<DailySnapshotDoc>('daily_snapshots');
  }

  async save(projectId: string, day: string, figures: DailySnapshotFigures): Promise<void> {
    const doc = snapshotDoc(projectId, day, figures);
    const replace = () => this.snapshots.replaceOne({ _id: doc._id }, doc, { upsert: true });
    try {
      await replace();
    } catch (err) {
      // FerretDB answers 11000 to the loser of two first upserts (docs/ferretdb.md, finding 3).
      if (!isDuplicateKeyError(err)) throw err;
      await replace();
    }
  }

  /** The snapshots of the days from `first` to `last` (both included), by day. */
  async listDays(
    projectId: string,
    first: string,
    last: string,
  ): Promise<Map<string, DailySnapshotFigures>> {
    const docs = await this.snapshots
      .find({ project_id: projectId, day: { $gte: first, $lte: last } })
      .sort({ day: 1 })
      .toArray();
    return new Map(docs.map((doc) => [doc.day, figuresOf(doc)]));
  }
}

function snapshotDoc(projectId: string, day: string, figures: DailySnapshotFigures) {
  return {
    _id: `${projectId}:${day}`,
    project_id: projectId,
    day,
    taken_at: figures.takenAt,
    subscriptions_by_status: figures.subscriptionsByStatus.map(({ status, count }) => ({
      status,
      count,
    })),
    active_customers: figures.activeCustomers,
    mrr: figures.mrr.map(({ currency, amountMinor }) => ({
      currency,
      amount_minor: amountMinor.toString(),
    })),
  } satisfies DailySnapshotDoc;
}

function figuresOf(doc: DailySnapshotDoc): DailySnapshotFigures {
  return {
    takenAt: doc.taken_at,
    subscriptionsByStatus: doc.subscriptions_by_status,
    activeCustomers: doc.active_customers,
    mrr: doc.mrr.map(({ currency, amount_minor }) => ({
      currency,
      amountMinor: BigInt(amount_minor),
    })),
  };
}
