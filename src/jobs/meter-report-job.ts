/**
 * The meter report job `meter.report`: sends the pending Stripe meter
 * events of every project (MeterReportService), in rounds of `batchSize`,
 * on `METER_REPORT_CRON` (every 10 s by default). Agenda may run one
 * occurrence on two replicas on FerretDB (docs/ferretdb.md, finding 4), so
 * an occurrence is first claimed with a unique insert (JobClaimStore), as
 * the retention job does; the claim is deleted when the occurrence ends,
 * so `job_claims` does not grow by 8,640 claims a day. A second run of the
 * same occurrence after that finds only what is due since.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { MeterReportRound, MeterReportService } from '../services/meter-report-service.js';
import type { JobClaimStore } from '../store/job-claim-store.js';
import type { MeterOutboxCounts } from '../store/meter-outbox-store.js';
import {
  type JobContext,
  type JobOutcome,
  type JobRunner,
  occurrenceOf,
  registerSchedule,
} from './job-runner.js';

export const meterReportJobName = 'meter.report';

export interface MeterReportObserver {
  onRound?(round: MeterReportRound): void;
  /** After each occurrence: what is left in the outbox. */
  onCounts?(counts: MeterOutboxCounts): void;
}

export interface MeterReportJobOptions {
  readonly runner: JobRunner;
  readonly claims: Pick<JobClaimStore, 'runClaimed'>;
  readonly service: Pick<MeterReportService, 'reportRound' | 'counts'>;
  /** Undefined: no scheduled runs (a schedule stored earlier is removed). */
  readonly cron: string | undefined;
  readonly batchSize: number;
  readonly logger: Logger;
  readonly observer?: MeterReportObserver;
}

/** What one occurrence did, added up over its rounds, and what it left pending. */
export interface MeterReportResult {
  readonly rounds: number;
  readonly sent: number;
  readonly duplicate: number;
  readonly failed: number;
  readonly skipped: number;
  readonly pending: number;
  readonly failing: number;
}

export interface MeterReportJob {
  /** Call after the runner started: registers or removes the cron schedule. */
  start(): Promise<void>;
  /** Queues an occurrence now (any replica may run it). */
  trigger(): Promise<void>;
  /** Claims `occurrence` and reports; 'skipped' when another replica has it. */
  run(
    occurrence: string,
    context?: Pick<JobContext, 'signal' | 'touch'>,
  ): Promise<MeterReportResult | 'skipped'>;
}

export function defineMeterReportJob(options: MeterReportJobOptions): MeterReportJob {
  const { runner, claims, logger } = options;
  const idle = { signal: new AbortController().signal, touch: async () => {} };

  const run: MeterReportJob['run'] = (occurrence, context = idle) =>
    claims.runClaimed(meterReportJobName, occurrence, runner.instanceId, () =>
      reportAll(options, context),
    );

  runner.define(meterReportJobName, async (context): Promise<JobOutcome> => {
    const result = await run(occurrenceOf(context), context);
    if (result === 'skipped') return 'skipped';
    if (result.sent + result.duplicate + result.failed + result.skipped > 0)
      logger.info('meter events reported', { ...result });
    // Kept and retried, never dropped: usage that Stripe has not billed yet (docs/operations.md).
    if (result.failing > 0) logger.warn('meter events failing', { failing: result.failing });
    return context.signal.aborted ? 'interrupted' : 'succeeded';
  });

  return {
    start: () => registerSchedule(runner, options.cron, meterReportJobName, logger),
    async trigger() {
      await runner.now(meterReportJobName, { occurrence: `now:${randomUUID()}` });
    },
    run,
  };
}

/**
 * Rounds until one comes back short, or sends nothing but failures (Stripe
 * is down: the next occurrence tries again), or the service stops.
 */
async function reportAll(
  options: MeterReportJobOptions,
  context: Pick<JobContext, 'signal' | 'touch'>,
): Promise<MeterReportResult> {
  const total = { rounds: 0, sent: 0, duplicate: 0, failed: 0, skipped: 0 };
  for (;;) {
    if (context.signal.aborted) break;
    const round = await options.service.reportRound(options.batchSize);
    options.observer?.onRound?.(round);
    total.rounds += 1;
    total.sent += round.sent;
    total.duplicate += round.duplicate;
    total.failed += round.failed;
    total.skipped += round.skipped;
    if (round.found < options.batchSize || round.failed === round.found) break;
    await context.touch().catch((error: unknown) =>
      // The other replica's copy of this Agenda job finished and removed it: our claim holds.
      options.logger.debug('meter report job not touched', { error }),
    );
  }
  const counts = await options.service.counts();
  options.observer?.onCounts?.(counts);
  return { ...total, ...counts };
}
