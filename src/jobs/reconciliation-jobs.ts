/**
 * The reconciliation jobs:
 *
 * - `reconciliation.run` executes one queued run ({ projectId, runId });
 *   ReconciliationService's lock lets exactly one replica do the work;
 * - `reconciliation.schedule` runs on `RECONCILIATION_CRON` and starts a
 *   run for every project that has a Stripe key. On FerretDB two replicas
 *   can both run one occurrence, so it first claims the occurrence with a
 *   unique insert (JobClaimStore) and does nothing when it lost;
 * - a sweep, on every replica at start and then every lease, queues again
 *   the runs cut off by a crash (lease over, still queued or running).
 */
import type { Logger } from '../logger.js';
import {
  isReconciliationRefused,
  type ReconciliationQueue,
  type ReconciliationService,
} from '../services/reconciliation-service.js';
import type { JobClaimStore } from '../store/job-claim-store.js';
import type { JobContext, JobOutcome, JobRunner } from './job-runner.js';

export const reconciliationJobNames = {
  run: 'reconciliation.run',
  schedule: 'reconciliation.schedule',
} as const;

/** How long occurrence claims are kept (they only need to outlive the occurrence). */
const claimRetentionMs = 7 * 24 * 3600 * 1000;

export function reconciliationQueue(runner: JobRunner): ReconciliationQueue {
  return {
    enqueue: (projectId, runId) => runner.now(reconciliationJobNames.run, { projectId, runId }),
  };
}

export interface ReconciliationJobsOptions {
  readonly runner: JobRunner;
  readonly service: ReconciliationService;
  readonly projects: { listIds(): Promise<string[]> };
  readonly claims: JobClaimStore;
  /** Undefined: no scheduled runs (a schedule stored earlier is removed). */
  readonly cron: string | undefined;
  readonly sweepEveryMs: number;
  readonly logger: Logger;
  /** Runs executed at once by one replica. */
  readonly concurrency?: number;
}

export interface ReconciliationJobs {
  /** Call after the runner started: schedules the cron job, sweeps now and then periodically. */
  start(): Promise<void>;
  stop(): void;
  /** One sweep now (tests, operators). */
  sweep(): Promise<number>;
}

export function defineReconciliationJobs(options: ReconciliationJobsOptions): ReconciliationJobs {
  const { runner, service, logger } = options;

  runner.define(
    reconciliationJobNames.run,
    async (context: JobContext): Promise<JobOutcome> => {
      const data = runData(context.data);
      if (!data) {
        logger.warn('reconciliation job without a project and run id', { data: context.data });
        return 'failed';
      }
      return service.execute(data.projectId, data.runId, context);
    },
    { concurrency: options.concurrency ?? 2 },
  );

  runner.define(reconciliationJobNames.schedule, async (context) => {
    const occurrence = (context.nextRunAt ?? new Date()).toISOString();
    const claimed = await options.claims.claim(
      reconciliationJobNames.schedule,
      occurrence,
      runner.instanceId,
      new Date(),
    );
    if (!claimed) return 'skipped';
    for (const projectId of await options.projects.listIds()) {
      if (context.signal.aborted) return 'interrupted';
      try {
        await service.start({
          projectId,
          dryRun: false,
          triggeredBy: 'schedule',
          reason: 'scheduled reconciliation',
        });
      } catch (error) {
        // No Stripe key, or a run already going: nothing to start for this project.
        if (!isReconciliationRefused(error))
          logger.warn('scheduled reconciliation not started', { project_id: projectId, error });
      }
    }
    return 'succeeded';
  });

  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<number> | undefined;
  const sweep = (): Promise<number> => {
    sweeping ??= (async () => {
      try {
        await options.claims.pruneOlderThan(new Date(Date.now() - claimRetentionMs));
        return await service.sweep();
      } catch (error) {
        logger.warn('reconciliation sweep failed', { error });
        return 0;
      } finally {
        sweeping = undefined;
      }
    })();
    return sweeping;
  };

  return {
    async start() {
      try {
        if (options.cron) await runner.every(options.cron, reconciliationJobNames.schedule);
        else await runner.cancel(reconciliationJobNames.schedule);
      } catch (error) {
        // Two replicas starting at once may race on the upsert of the schedule (FerretDB);
        // the other one's schedule is the same.
        logger.warn('could not register the reconciliation schedule', { error });
      }
      await sweep();
      timer = setInterval(() => void sweep(), options.sweepEveryMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
    },
    sweep,
  };
}

function runData(data: unknown): { projectId: string; runId: string } | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const { projectId, runId } = data as Record<string, unknown>;
  if (typeof projectId !== 'string' || typeof runId !== 'string') return undefined;
  return { projectId, runId };
}
