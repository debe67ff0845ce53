/**
 * The composition root: the only place that knows every part. It reads as
 * a list: connections, stores, services, jobs, server; each builder (in
 * src/app/) hands every part exactly what it needs. No module keeps state
 * of its own, so two apps can run in one process (the tests do).
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { buildJobRunner, defineScheduledJobs, type ScheduledJobs } from './app/jobs.js';
import { startMetricsListener, startServer } from './app/server.js';
import { buildServices } from './app/services.js';
import { buildStores, sealStoredSecrets } from './app/stores.js';
import { InvalidationBus } from './cache/invalidation-bus.js';
import { closeRedis, connectRedis, pingRedis, type RedisConnections } from './cache/redis.js';
import type { Config } from './config.js';
import { type BusinessClock, wallClock } from './domain/business-clock.js';
import { SecretBox } from './domain/secret-box.js';
import type { MeterReportJob, RetentionJob } from './jobs/index.js';
import type { JobRunner } from './jobs/job-runner.js';
import type { WebhookJobs } from './jobs/webhook-jobs.js';
import type { Logger } from './logger.js';
import type { ReadinessReport } from './server/http-routes.js';
import type { Listener } from './server/listener.js';
import type { MetricsListener } from './server/metrics-listener.js';
import { createServiceMetrics } from './server/prometheus-metrics.js';
import type { ApiKeyService } from './services/api-key-service.js';
import type { DailyMetricsService } from './services/daily-metrics-service.js';
import type { EntitlementChangeNotifier } from './services/entitlement-change-notifier.js';
import type { EntitlementLookupService } from './services/entitlement-lookup-service.js';
import type { GrantService } from './services/grant-service.js';
import type { ProjectService } from './services/project-service.js';
import type { ReconciliationService } from './services/reconciliation-service.js';
import type { WebhookDispatcher } from './services/webhook-dispatcher.js';
import { connectMongo, ensureIndexes, type MongoConnection } from './store/mongo.js';

export interface App {
  readonly port: number;
  /** The metrics listener's port (every figure, tenants' too); undefined when METRICS_PORT is off. */
  readonly metricsPort: number | undefined;
  readonly projects: ProjectService;
  readonly apiKeys: ApiKeyService;
  readonly entitlements: EntitlementLookupService;
  readonly grants: GrantService;
  readonly reconciliation: ReconciliationService;
  /** Deletes old idempotency records, event receipts and usage claims (RETENTION_CRON). */
  readonly retention: RetentionJob;
  /** Sends pending Stripe meter events (METER_REPORT_CRON). */
  readonly meterReports: MeterReportJob;
  /** Outbound webhooks' scans and the grant.expiring check (OUTBOUND_WEBHOOK_CRON, GRANT_EXPIRING_CRON). */
  readonly webhookJobs: WebhookJobs;
  /** Daily snapshots of the business figures (DAILY_SNAPSHOT_CRON) and the figures over time. */
  readonly dailyMetrics: DailyMetricsService;
  readiness(): Promise<ReadinessReport>;
  /** Graceful: ends streams, drains requests, then closes the pools. Idempotent. */
  stop(): Promise<void>;
}

export interface AppOptions {
  /** The time entitlements are judged by (src/domain/business-clock.ts); default the wall clock. */
  readonly clock?: BusinessClock;
}

const dependencyTimeoutMs = 1000;

export async function startApp(
  config: Config,
  logger: Logger,
  options: AppOptions = {},
): Promise<App> {
  const mongo = await openMongo(config, logger);
  const clock = options.clock ?? wallClock();
  const stores = buildStores(mongo.db, new SecretBox(config.masterKeys, randomBytes), config, () =>
    clock.now(),
  );
  await sealStoredSecrets(stores, logger).catch(async (err: unknown) => {
    await mongo.close();
    throw err;
  });
  const redis = connectRedis(config.redisUrl, logger);
  const bus = new InvalidationBus(redis.commands, redis.subscriber, logger);
  await bus.start();
  const metrics = createServiceMetrics();
  const runner = buildJobRunner(mongo.db, config, logger, metrics);
  const services = buildServices({
    config,
    logger,
    stores,
    redis,
    bus,
    metrics,
    jobs: runner,
    clock,
  });
  const jobs = defineScheduledJobs(runner, {
    config,
    logger,
    stores,
    metrics,
    ...services,
    now: () => clock.now(),
  });
  const readiness = () => checkReadiness(mongo, redis);
  const shutdown = new AbortController();
  // Every in-flight call links its own signal to this one: hundreds are normal.
  setMaxListeners(0, shutdown.signal);
  const listener = await startServer({
    config,
    logger,
    stores,
    services,
    metrics,
    readiness,
    shutdownSignal: shutdown.signal,
  });
  const metricsListener = await startMetricsListener(config, metrics, logger);
  // Jobs start once the server is up; 'listening' is logged after them, so
  // whoever waits for it (main's signal handlers, tests) sees a started app.
  await startJobs(runner, jobs);
  // Deliveries a stopped replica left pending go out now, not at the next scheduled scan.
  services.webhookDispatcher.kick();
  logger.info('listening', {
    host: config.host,
    port: listener.port,
    metricsPort: metricsListener?.port,
    tls: config.tls !== undefined,
  });
  const parts = { config, logger, mongo, redis, runner, jobs, listener, metricsListener, shutdown };
  return {
    port: listener.port,
    metricsPort: metricsListener?.port,
    projects: services.projects,
    apiKeys: services.apiKeys,
    entitlements: services.entitlements,
    grants: services.grants,
    reconciliation: services.reconciliation,
    retention: jobs.retention,
    meterReports: jobs.meterReports,
    webhookJobs: jobs.webhooks,
    dailyMetrics: services.dailyMetrics,
    readiness,
    stop: stopOnce(parts, services.notifier, services.webhookDispatcher),
  };
}

async function openMongo(config: Config, logger: Logger): Promise<MongoConnection> {
  const mongo = await connectMongo(config.mongodbUrl, config.mongodbDatabase, {
    onReconnect: (reason) => logger.warn('mongodb client reconnected', { reason }),
  });
  await ensureIndexes(mongo.db);
  return mongo;
}

async function startJobs(runner: JobRunner, jobs: ScheduledJobs): Promise<void> {
  await runner.start();
  await jobs.reconciliation.start();
  await jobs.retention.start();
  await jobs.meterReports.start();
  await jobs.webhooks.start();
  await jobs.dailySnapshots.start();
}

interface RunningParts {
  readonly config: Config;
  readonly logger: Logger;
  readonly mongo: MongoConnection;
  readonly redis: RedisConnections;
  readonly runner: JobRunner;
  readonly jobs: ScheduledJobs;
  readonly listener: Listener;
  readonly metricsListener: MetricsListener | undefined;
  readonly shutdown: AbortController;
}

/** Streams end first, then requests drain, jobs stop, and the pools close last. */
function stopOnce(
  parts: RunningParts,
  // Balance changes still waiting for their window go out before Redis closes.
  notifier: Pick<EntitlementChangeNotifier, 'flush'>,
  // Webhook attempts in flight are aborted and recorded (due again) before MongoDB closes.
  webhooks: Pick<WebhookDispatcher, 'stop'>,
): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      const { config, logger } = parts;
      logger.info('shutting down');
      parts.shutdown.abort();
      parts.jobs.reconciliation.stop();
      const jobsStopped = parts.runner.stop(config.shutdownGraceMs);
      await parts.listener.close(config.shutdownGraceMs);
      await parts.metricsListener?.close();
      await jobsStopped;
      await webhooks.stop();
      await notifier.flush();
      await closeRedis(parts.redis);
      await parts.mongo.close();
      logger.info('stopped');
    })();
    return stopping;
  };
}

async function checkReadiness(
  mongo: MongoConnection,
  redis: RedisConnections,
): Promise<ReadinessReport> {
  const [mongodb, redisUp] = await Promise.all([
    pingMongo(() => mongo.db.command({ ping: 1 })),
    pingRedis(redis.commands, dependencyTimeoutMs),
  ]);
  return { ready: mongodb && redisUp, checks: { mongodb, redis: redisUp } };
}

async function pingMongo(ping: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), dependencyTimeoutMs);
  });
  try {
    return await Promise.race([ping().then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
