/** Agenda: the runner and the scheduled jobs (reconciliation, retention, meter reports, webhooks, daily snapshots). */
import type { Db } from 'mongodb';
import type { Config } from '../config.js';
import { type DailySnapshotJob, defineDailySnapshotJob } from '../jobs/daily-snapshot-job.js';
import {
  defineMeterReportJob,
  defineReconciliationJobs,
  defineRetentionJob,
  JobRunner,
  type MeterReportJob,
  type ReconciliationJobs,
  type RetentionJob,
} from '../jobs/index.js';
import { defineWebhookJobs, type WebhookJobs } from '../jobs/webhook-jobs.js';
import type { Logger } from '../logger.js';
import type { ServiceMetrics } from '../server/prometheus-metrics.js';
import type { DailyMetricsService } from '../services/daily-metrics-service.js';
import type { MeterReportService } from '../services/meter-report-service.js';
import type { OutboundEventService } from '../services/outbound-event-service.js';
import type { ReconciliationService } from '../services/reconciliation-service.js';
import type { WebhookDispatcher } from '../services/webhook-dispatcher.js';
import type { Stores } from './stores.js';

export function buildJobRunner(
  db: Db,
  config: Config,
  logger: Logger,
  metrics: ServiceMetrics,
): JobRunner {
  return new JobRunner({
    db,
    logger,
    processEveryMs: config.jobPollMs,
    lockLifetimeMs: config.reconciliationLeaseMs,
    onRun: (job, outcome, seconds) => {
      metrics.jobRuns.inc({ job, outcome });
      metrics.jobDuration.observe({ job, outcome }, seconds);
    },
  });
}

export interface ScheduledJobs {
  readonly reconciliation: ReconciliationJobs;
  readonly retention: RetentionJob;
  readonly meterReports: MeterReportJob;
  readonly webhooks: WebhookJobs;
  readonly dailySnapshots: DailySnapshotJob;
}

export function defineScheduledJobs(
  runner: JobRunner,
  deps: {
    config: Config;
    logger: Logger;
    stores: Stores;
    metrics: ServiceMetrics;
    reconciliation: ReconciliationService;
    meterReports: MeterReportService;
    webhookDispatcher: WebhookDispatcher;
    outboundEvents: OutboundEventService;
    dailyMetrics: DailyMetricsService;
    /** Business time (grants expire by it). */
    now: () => Date;
  },
): ScheduledJobs {
  const { config, logger, stores, metrics } = deps;
  const webhookRetentionMs = config.outboundWebhooks.retentionDays * 24 * 3600_000;
  return {
    reconciliation: defineReconciliationJobs({
      runner,
      service: deps.reconciliation,
      projects: stores.projects,
      claims: stores.jobClaims,
      cron: config.reconciliationCron,
      sweepEveryMs: config.reconciliationLeaseMs,
      logger,
    }),
    retention: defineRetentionJob({
      runner,
      claims: stores.jobClaims,
      idempotency: stores.idempotency,
      receipts: stores.receipts,
      meterReported: stores.meterOutbox,
      timeline: stores.timeline,
      outboundEvents: stores.outboundEvents,
      webhookDeliveries: stores.webhookDeliveries,
      leftovers: stores.leftoverCollections,
      cron: config.retentionCron,
      idempotencyRetentionMs: config.idempotencyRetentionHours * 3600_000,
      receiptRetentionMs: config.eventReceiptRetentionDays * 24 * 3600_000,
      usageClaimRetentionMs: config.usageClaimRetentionDays * 24 * 3600_000,
      timelineRetentionMs: config.timelineRetentionDays * 24 * 3600_000,
      webhookRetentionMs,
      batchSize: config.retentionBatchSize,
      logger,
    }),
    meterReports: defineMeterReportJob({
      runner,
      claims: stores.jobClaims,
      service: deps.meterReports,
      cron: config.meterReportCron,
      batchSize: config.meterReportBatchSize,
      logger,
      observer: {
        onRound: (round) => {
          for (const outcome of ['sent', 'duplicate', 'failed', 'skipped'] as const)
            metrics.meterEvents.inc({ outcome }, round[outcome]);
        },
        onCounts: (counts) => {
          metrics.meterEventsPending.set({ state: 'pending' }, counts.pending);
          metrics.meterEventsPending.set({ state: 'failing' }, counts.failing);
        },
      },
    }),
    webhooks: defineWebhookJobs({
      runner,
      claims: stores.jobClaims,
      dispatcher: deps.webhookDispatcher,
      grants: stores.grants,
      events: deps.outboundEvents,
      deliverCron: config.outboundWebhooks.deliverCron,
      grantExpiringCron: config.outboundWebhooks.grantExpiringCron,
      now: deps.now,
      logger,
    }),
    dailySnapshots: defineDailySnapshotJob({
      runner,
      claims: stores.jobClaims,
      service: deps.dailyMetrics,
      cron: config.dailySnapshotCron,
      logger,
    }),
  };
}
