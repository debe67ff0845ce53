/**
 * The retention job `retention.sweep`: deletes idempotency records and
 * finished event receipts older than their retention, in bounded batches
 * (FerretDB has no TTL index). It runs on `RETENTION_CRON`; like the
 * reconciliation schedule it first claims its occurrence with a unique
 * insert (JobClaimStore), because Agenda may run one occurrence on two
 * replicas on FerretDB, and records what it deleted on that claim.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { DeleteBatchResult } from '../store/delete-batch.js';
import type { JobClaimStore } from '../store/job-claim-store.js';
import { type JobContext, type JobOutcome, type JobRunner, occurrenceOf } from './job-runner.js';

export const retentionJobName = 'retention.sweep';

/** One bounded batch of deletes of records older than the cutoff. */
type SweepBatch = (olderThan: Date, now: Date, limit: number) => Promise<DeleteBatchResult>;

export interface RetentionJobOptions {
  readonly runner: JobRunner;
  readonly claims: JobClaimStore;
  readonly idempotency: { sweep(olderThan: Date, limit: number): Promise<DeleteBatchResult> };
  readonly receipts: { sweep: SweepBatch };
  /** Undefined: no scheduled sweeps (a schedule stored earlier is removed). */
  readonly cron: string | undefined;
  readonly idempotencyRetentionMs: number;
  readonly receiptRetentionMs: number;
  readonly batchSize: number;
  readonly logger: Logger;
}

/** What one occurrence deleted, as recorded on its claim. */
export interface RetentionResult {
  readonly idempotency_records: number;
  readonly event_receipts: number;
}

export interface RetentionJob {
  /** Call after the runner started: registers or removes the cron schedule. */
  start(): Promise<void>;
  /** Queues a sweep now (any replica may run it); the occurrence it will be recorded under. */
  trigger(): Promise<string>;
  /** Claims `occurrence` and sweeps; `skipped` when another replica claimed it. */
  run(occurrence: string, context?: Pick<JobContext, 'signal' | 'touch'>): Promise<JobOutcome>;
  /** What a finished occurrence deleted; undefined while it has not finished (or never ran). */
  result(occurrence: string): Promise<RetentionResult | undefined>;
}

export function defineRetentionJob(options: RetentionJobOptions): RetentionJob {
  const { runner, claims, logger } = options;
  const idle = { signal: new AbortController().signal, touch: async () => {} };

  const run: RetentionJob['run'] = async (occurrence, context = idle) => {
    const now = new Date();
    if (!(await claims.claim(retentionJobName, occurrence, runner.instanceId, now))) {
      return 'skipped';
    }
    const touch = () =>
      context.touch().catch((error: unknown) =>
        // Agenda ran this job on another replica too (FerretDB), which lost the claim, finished
        // first and removed the job: nothing left to touch, and the claim keeps the work ours.
        logger.debug('retention job not touched', { occurrence, error }),
      );
    const sweepAll = (batch: (limit: number) => Promise<DeleteBatchResult>) =>
      sweepInBatches(batch, options.batchSize, { signal: context.signal, touch });
    const idempotencyCutoff = new Date(now.getTime() - options.idempotencyRetentionMs);
    const receiptCutoff = new Date(now.getTime() - options.receiptRetentionMs);
    const records = await sweepAll((limit) => options.idempotency.sweep(idempotencyCutoff, limit));
    const receipts = await sweepAll((limit) => options.receipts.sweep(receiptCutoff, now, limit));
    const result: RetentionResult = {
      idempotency_records: records.deleted,
      event_receipts: receipts.deleted,
    };
    if (!records.complete || !receipts.complete) {
      // Stopped by a shutdown: the next occurrence deletes the rest.
      logger.info('retention sweep interrupted', { occurrence, ...result });
      return 'interrupted';
    }
    await claims.finish(retentionJobName, occurrence, { ...result }, new Date());
    logger.info('retention sweep finished', { occurrence, ...result });
    return 'succeeded';
  };

  runner.define(retentionJobName, (context) => run(occurrenceOf(context), context));

  return {
    async start() {
      try {
        if (options.cron) await runner.every(options.cron, retentionJobName);
        else await runner.cancel(retentionJobName);
      } catch (error) {
        // Two replicas starting at once may race on the upsert of the schedule (FerretDB);
        // the other one's schedule is the same.
        logger.warn('could not register the retention schedule', { error });
      }
    },
    async trigger() {
      const occurrence = `now:${randomUUID()}`;
      await runner.now(retentionJobName, { occurrence });
      return occurrence;
    },
    run,
    async result(occurrence) {
      const claim = await claims.get(retentionJobName, occurrence);
      if (!claim?.finished_at || !claim.result) return undefined;
      return {
        idempotency_records: claim.result.idempotency_records ?? 0,
        event_receipts: claim.result.event_receipts ?? 0,
      };
    },
  };
}

/** Batches until one comes back short; touches the job between batches, stops on shutdown. */
async function sweepInBatches(
  batch: (limit: number) => Promise<DeleteBatchResult>,
  limit: number,
  context: Pick<JobContext, 'signal' | 'touch'>,
): Promise<{ deleted: number; complete: boolean }> {
  let deleted = 0;
  for (;;) {
    if (context.signal.aborted) return { deleted, complete: false };
    const done = await batch(limit);
    deleted += done.deleted;
    // Nothing deleted from a full batch: the matches changed under us; the next occurrence retries.
    if (done.matched < limit || done.deleted === 0) return { deleted, complete: true };
    await context.touch();
  }
}
