/**
 * Reconciliation runs: one document per run, inserted when the run is
 * queued and then updated only by the holder of the project's
 * reconciliation lock (ReconciliationLockStore). One writer at a time is
 * what makes plain updates safe on FerretDB, whose updates are not atomic.
 */
import type { Collection, Db, Filter } from 'mongodb';
import type {
  ReconciliationCountsDoc,
  ReconciliationRunDoc,
  ReconciliationRunState,
} from './documents.js';

const activeRunStates: readonly ReconciliationRunState[] = ['queued', 'running'];

export function isActiveRunState(state: ReconciliationRunState): boolean {
  return activeRunStates.includes(state);
}

export function zeroCounts(): ReconciliationCountsDoc {
  return { checked: 0, missing_locally: 0, stale: 0, missing_in_stripe: 0, repaired: 0, errors: 0 };
}

export interface RunPageQuery {
  readonly limit: number;
  /** Continue after this run id (newest first: older ids). */
  readonly before?: string;
}

export interface FinishedRun {
  readonly state: 'succeeded' | 'failed';
  readonly finishedAt: Date;
  readonly counts: ReconciliationCountsDoc;
  readonly stripeListCalls: number;
  readonly driftSamples: ReconciliationRunDoc['drift_samples'];
  readonly error: string | null;
}

export class ReconciliationRunStore {
  private readonly runs: Collection<ReconciliationRunDoc>;

  constructor(db: Db) {
    this.runs = db.collection<ReconciliationRunDoc>('reconciliation_runs');
  }

  async insert(run: ReconciliationRunDoc): Promise<void> {
    await this.runs.insertOne(run);
  }

  /** A run of this project only: another project's run id is not found. */
  async get(projectId: string, runId: string): Promise<ReconciliationRunDoc | null> {
    return this.runs.findOne({ _id: runId, project_id: projectId });
  }

  /** Newest first. */
  async list(projectId: string, query: RunPageQuery): Promise<ReconciliationRunDoc[]> {
    const filter: Filter<ReconciliationRunDoc> = { project_id: projectId };
    if (query.before) filter._id = { $lt: query.before };
    return this.runs.find(filter).sort({ _id: -1 }).limit(query.limit).toArray();
  }

  /** Queued and running runs of every project (the sweep looks for ones cut off by a crash). */
  async listActive(limit: number): Promise<ReconciliationRunDoc[]> {
    return this.runs
      .find({ state: { $in: [...activeRunStates] } })
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
  }

  async markRunning(runId: string, startedAt: Date, attempts: number): Promise<void> {
    await this.runs.updateOne(
      { _id: runId },
      { $set: { state: 'running', started_at: startedAt, finished_at: null, attempts } },
    );
  }

  async finish(runId: string, result: FinishedRun): Promise<ReconciliationRunDoc | null> {
    return this.runs.findOneAndUpdate(
      { _id: runId },
      {
        $set: {
          state: result.state,
          finished_at: result.finishedAt,
          counts: result.counts,
          stripe_list_calls: result.stripeListCalls,
          drift_samples: result.driftSamples,
          error: result.error,
        },
      },
      { returnDocument: 'after' },
    );
  }
}
