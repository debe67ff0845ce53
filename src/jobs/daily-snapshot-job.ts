/**
 * The job `metrics.daily_snapshot`: takes today's snapshot of every
 * project's business figures (DailyMetricsService), on DAILY_SNAPSHOT_CRON
 * (every 10 minutes by default) and once when a replica starts, so a new
 * install charts its first day at once. Each take replaces the day's
 * snapshot: the last take of a day, at most one period before midnight
 * UTC, stands for that day. Agenda may run one occurrence on two replicas
 * on FerretDB (docs/ferretdb.md, finding 4): each occurrence is claimed
 * with a unique insert first, and the claim freed when it ends.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { DailyMetricsService } from '../services/daily-metrics-service.js';
import type { JobClaimStore } from '../store/job-claim-store.js';
import { type JobRunner, occurrenceOf, registerSchedule } from './job-runner.js';

export const dailySnapshotJobName = 'metrics.daily_snapshot';

export interface DailySnapshotJobOptions {
  readonly runner: JobRunner;
  readonly claims: Pick<JobClaimStore, 'runClaimed'>;
  readonly service: Pick<DailyMetricsService, 'takeSnapshots'>;
  /** Undefined: no scheduled snapshots, and none at start. */
  readonly cron: string | undefined;
  readonly logger: Logger;
}

export interface DailySnapshotJob {
  /** Call after the runner started: registers or removes the schedule, and queues a take now. */
  start(): Promise<void>;
}

export function defineDailySnapshotJob(options: DailySnapshotJobOptions): DailySnapshotJob {
  const { runner, claims, logger } = options;
  runner.define(dailySnapshotJobName, async (context) => {
    const taken = await claims.runClaimed(
      dailySnapshotJobName,
      occurrenceOf(context),
      runner.instanceId,
      () => options.service.takeSnapshots(context.signal),
    );
    if (taken === 'skipped') return 'skipped';
    logger.debug('daily snapshots taken', { projects: taken });
    return 'succeeded';
  });
  return {
    async start() {
      await registerSchedule(runner, options.cron, dailySnapshotJobName, logger);
      if (options.cron)
        await runner.now(dailySnapshotJobName, { occurrence: `start:${randomUUID()}` });
    },
  };
}
