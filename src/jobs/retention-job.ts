/**
 * The retention job `retention.sweep`: deletes idempotency records,
 * finished event receipts, the records of reported meter events and
 * timeline entries, outbound webhook events, deliveries and attempts older than their retention, in bounded batches (FerretDB has no TTL index),
 * and drops the collections of the usage claims and reservation documents
 * that no layout uses any more (store/leftover-collections.ts), once. It runs on `RETENTION_CRON`; like the
 * reconciliation schedule it first claims its occurrence with a unique
 * insert (JobClaimStore), because Agenda may run one occurrence on two
 * replicas on FerretDB, and records what it deleted on that claim.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { DeleteBatchResult } from '../store/delete-batch.js';
import type { JobClaimStore } from '../store/job-claim-store.js';
import {
  type JobContext,
  type JobOutcome,
  type JobRunner,
  occurrenceOf,
  registerSchedule,
} from './job-runner.js';

export const retentionJobName = 'retention.sweep';

/** One bounded batch of deletes of records older than the cutoff. */
type SweepBatch = (olderThan: Date, now: Date, limit: number) => Promise<DeleteBatchResult>;
type AgeSweep = (olderThan: Date, limit: number) => Promise<DeleteBatchResult>;

export interface RetentionJobOptions {
  readonly runner: JobRunner;
  readonly claims: JobClaimStore;
  readonly idempotency: { sweep: AgeSweep };
  readonly receipts: { sweep: SweepBatch };
  readonly meterReported: { sweepReported: AgeSweep };
  readonly timeline: { sweep: AgeSweep };
  readonly outboundEvents: { sweep: AgeSweep };
  readonly webhookDeliveries: { sweepDeliveries: AgeSweep; sweepAttempts: AgeSweep };
  /** Drops the leftover usage collections; answers how many it dropped. */
  readonly leftovers: { drop(): Promise<number> };
  /** Undefined: no scheduled sweeps (a schedule stored earlier is removed). */
  readonly cron: string | undefined;
  readonly idempotencyRetentionMs: number;
  readonly receiptRetentionMs: number;
  /** Reported meter events (at least 30 days). */
  readonly usageClaimRetentionMs: number;
  readonly timelineRetentionMs: number;
  /** Outbound webhook events, deliveries and their attempts. */
  readonly webhookRetentionMs: number;
  readonly batchSize: number;
  readonly logger: Logger;
}

/** What one occurrence deleted, as recorded on its claim. */
export interface RetentionResult {
  readonly idempotency_records: number;
  readonly event_receipts: number;
  readonly meter_reported: number;
  readonly timeline_entries: number;
  readonly outbound_events: number;
  readonly webhook_deliveries: number;
  readonly webhook_delivery_attempts: number;
  /** Leftover usage collections dropped (usage_claims, usage_claim_takeovers, usage_reservations). */
  readonly leftover_collections: number;
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
    const sweepAll: SweepAll = (batch) =>
      sweepInBatches(batch, options.batchSize, { signal: context.signal, touch });
    const { result, complete } = await sweepCollections(options, now, sweepAll);
    if (!complete) {
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
    start: () => registerSchedule(runner, options.cron, retentionJobName, logger),
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
        meter_reported: claim.result.meter_reported ?? 0,
        timeline_entries: claim.result.timeline_entries ?? 0,
        outbound_events: claim.result.outbound_events ?? 0,
        webhook_deliveries: claim.result.webhook_deliveries ?? 0,
        webhook_delivery_attempts: claim.result.webhook_delivery_attempts ?? 0,
        leftover_collections: claim.result.leftover_collections ?? 0,
      };
    },
  };
}

type SweepAll = (
  batch: (limit: number) => Promise<DeleteBatchResult>,
) => Promise<{ deleted: number; complete: boolean }>;

/** Every collection past its retention; incomplete when a shutdown stopped it. */
async function sweepCollections(
  options: RetentionJobOptions,
  now: Date,
  sweepAll: SweepAll,
): Promise<{ result: RetentionResult; complete: boolean }> {
  const ago = (ms: number) => new Date(now.getTime() - ms);
  const idempotencyCutoff = ago(options.idempotencyRetentionMs);
  const receiptCutoff = ago(options.receiptRetentionMs);
  const usageCutoff = ago(options.usageClaimRetentionMs);
  const timelineCutoff = ago(options.timelineRetentionMs);
  const webhookCutoff = ago(options.webhookRetentionMs);
  const sweeps: readonly [
    Exclude<keyof RetentionResult, 'leftover_collections'>,
    (limit: number) => Promise<DeleteBatchResult>,
  ][] = [
    ['idempotency_records', (limit) => options.idempotency.sweep(idempotencyCutoff, limit)],
    ['event_receipts', (limit) => options.receipts.sweep(receiptCutoff, now, limit)],
    ['meter_reported', (limit) => options.meterReported.sweepReported(usageCutoff, limit)],
    ['timeline_entries', (limit) => options.timeline.sweep(timelineCutoff, limit)],
    ['outbound_events', (limit) => options.outboundEvents.sweep(webhookCutoff, limit)],
    [
      'webhook_deliveries',
      (limit) => options.webhookDeliveries.sweepDeliveries(webhookCutoff, limit),
    ],
    [
      'webhook_delivery_attempts',
      (limit) => options.webhookDeliveries.sweepAttempts(webhookCutoff, limit),
    ],
  ];
  const result: Record<keyof RetentionResult, number> = {
    idempotency_records: 0,
    event_receipts: 0,
    meter_reported: 0,
    timeline_entries: 0,
    outbound_events: 0,
    webhook_deliveries: 0,
    webhook_delivery_attempts: 0,
    leftover_collections: await options.leftovers.drop(),
  };
  let complete = true;
  for (const [name, batch] of sweeps) {
    const done = await sweepAll(batch);
    result[name] = done.deleted;
    complete &&= done.complete;
  }
  return { result, complete };
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
