/**
 * The composition root: the only place that knows every part. It builds
 * config-driven connections, stores, services and the server, and hands each
 * part exactly what it needs. No module keeps state of its own.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import type { ConnectRouter } from '@connectrpc/connect';
import { Registry } from 'prom-client';
import { ApiKeyAuthenticator, createAuthInterceptor } from './api/auth.js';
import { createErrorInterceptor } from './api/errors.js';
import { billingRoutes, billingServices } from './api/routes.js';
import { requiredScope } from './api/scopes.js';
import { TokenIssuers } from './api/token-issuers.js';
import { MemoryEntitlementCache, RedisEntitlementCache } from './cache/entitlement-cache.js';
import { InvalidationBus } from './cache/invalidation-bus.js';
import { closeRedis, connectRedis, pingRedis } from './cache/redis.js';
import { type Config, ConfigError } from './config.js';
import { isSecretOpenError, SecretBox } from './domain/secret-box.js';
import {
  defineReconciliationJobs,
  defineRetentionJob,
  JobRunner,
  type RetentionJob,
  reconciliationQueue,
} from './jobs/index.js';
import type { Logger } from './logger.js';
import { createConnectHandler } from './server/connect-handler.js';
import { withCors } from './server/cors.js';
import { healthRoutes } from './server/health.js';
import { createHttpRoutes, type ReadinessReport } from './server/http-routes.js';
import { type Listener, listen } from './server/listener.js';
import { listenMetrics, type MetricsListener } from './server/metrics-listener.js';
import {
  createMetricsInterceptor,
  createServiceMetrics,
  registerBusinessGauges,
  type ServiceMetrics,
} from './server/prometheus-metrics.js';
import { reflectionRoutes } from './server/reflection.js';
import { ApiKeyService } from './services/api-key-service.js';
import { CheckoutSessionService } from './services/checkout-session-service.js';
import { EntitlementChangeNotifier } from './services/entitlement-change-notifier.js';
import { EntitlementLookupService } from './services/entitlement-lookup-service.js';
import { EntitlementWatchHub } from './services/entitlement-watch-hub.js';
import { GrantService } from './services/grant-service.js';
import { ProjectCache } from './services/project-cache.js';
import { ProjectMetricsService } from './services/project-metrics-service.js';
import { ProjectService } from './services/project-service.js';
import { ReconciliationService } from './services/reconciliation-service.js';
import { WebhookEventService } from './services/webhook-event-service.js';
import { ApiKeyStore } from './store/api-key-store.js';
import { AuditLogStore } from './store/audit-log-store.js';
import { CustomerStore } from './store/customer-store.js';
import { EventReceiptStore } from './store/event-receipt-store.js';
import { GrantStore } from './store/grant-store.js';
import { IdempotencyStore } from './store/idempotency-store.js';
import { JobClaimStore } from './store/job-claim-store.js';
import { connectMongo, ensureIndexes } from './store/mongo.js';
import { ProjectStore } from './store/project-store.js';
import { PurchaseStore } from './store/purchase-store.js';
import { ReconciliationLockStore } from './store/reconciliation-lock-store.js';
import { ReconciliationRunStore } from './store/reconciliation-run-store.js';
import { SubscriptionStore } from './store/subscription-store.js';
import { EventProcessor } from './stripe/event-processor.js';
import { parseStripeEndpoint, StripeClients } from './stripe/stripe-clients.js';
import { createWebhookShim } from './stripe/webhook-shim.js';

export interface App {
  readonly port: number;
  /** The metrics listener's port (every figure, tenants' too); undefined when METRICS_PORT is off. */
  readonly metricsPort: number | undefined;
  readonly projects: ProjectService;
  readonly apiKeys: ApiKeyService;
  readonly entitlements: EntitlementLookupService;
  readonly grants: GrantService;
  readonly reconciliation: ReconciliationService;
  /** Deletes old idempotency records and event receipts (RETENTION_CRON). */
  readonly retention: RetentionJob;
  readiness(): Promise<ReadinessReport>;
  /** Graceful: ends streams, drains requests, then closes the pools. Idempotent. */
  stop(): Promise<void>;
}

const dependencyTimeoutMs = 1000;
/** Business gauges (active subscriptions, MRR) are recomputed at most this often, on scrape. */
const businessMetricsCacheMs = 30_000;
/** How long a call holds its idempotency key before a retry may take it over (a crash). */
const idempotencyLeaseMs = 60_000;

export async function startApp(config: Config, logger: Logger): Promise<App> {
  const mongo = await connectMongo(config.mongodbUrl, config.mongodbDatabase, {
    onReconnect: (reason) => logger.warn('mongodb client reconnected', { reason }),
  });
  await ensureIndexes(mongo.db);
  const secretBox = new SecretBox(config.masterKeys, randomBytes);
  const projectStore = new ProjectStore(mongo.db, secretBox);
  const idempotency = new IdempotencyStore(mongo.db, idempotencyLeaseMs, secretBox);
  await sealStoredSecrets(projectStore, idempotency, logger).catch(async (err: unknown) => {
    await mongo.close();
    throw err;
  });
  const redis = connectRedis(config.redisUrl, logger);
  const bus = new InvalidationBus(redis.commands, redis.subscriber, logger);
  await bus.start();

  const metrics = createServiceMetrics();
  const auditLog = new AuditLogStore(mongo.db);
  const apiKeyStore = new ApiKeyStore(mongo.db);
  const customers = new CustomerStore(mongo.db);
  const subscriptions = new SubscriptionStore(mongo.db);
  const projectMetrics = new ProjectMetricsService(subscriptions);
  registerBusinessGauges(metrics.tenantRegistry, {
    figures: () => projectMetrics.businessFigures(),
    cacheMs: businessMetricsCacheMs,
    onError: (error) => logger.warn('business metrics failed', { error }),
  });
  const purchases = new PurchaseStore(mongo.db);
  const grants = new GrantStore(mongo.db);
  const apiKeys = new ApiKeyService(apiKeyStore, auditLog, bus);
  const projects = new ProjectService(projectStore, apiKeys, auditLog, bus);
  const projectCache = new ProjectCache(projectStore, bus, config.projectCacheTtlMs);
  const authenticator = new ApiKeyAuthenticator(
    apiKeyStore,
    bus,
    config.apiKeyCacheTtlMs,
    config.apiKeyNegativeCacheTtlMs,
  );
  const redisCache = new RedisEntitlementCache(redis.commands, logger);
  const entitlements = new EntitlementLookupService({
    projects: projectCache,
    customers,
    subscriptions,
    purchases,
    grants,
    redisCache,
    memoryCache: new MemoryEntitlementCache(bus, config.entitlementMemoryTtlMs, 100_000),
    logger,
  });
  entitlements.onLookup = (result) => metrics.entitlementLookups.inc({ result });
  const stripeClients = new StripeClients(
    config.stripeApiUrl ? parseStripeEndpoint(config.stripeApiUrl) : undefined,
    config.stripeTimeoutMs,
  );
  const checkout = new CheckoutSessionService(projectCache, customers, stripeClients);
  const notifier = new EntitlementChangeNotifier(redisCache, bus, customers);
  const grantService = new GrantService(grants, auditLog, notifier);
  const watchHub = new EntitlementWatchHub(bus, entitlements, config.watchHeartbeatMs);
  const receipts = new EventReceiptStore(mongo.db, config.webhookLeaseMs);
  const processor = new EventProcessor(receipts, notifier, logger, config.webhookMaxAttempts);
  processor.onOutcome = (type, outcome) => metrics.webhookEvents.inc({ type, outcome });
  const jobs = new JobRunner({
    db: mongo.db,
    logger,
    processEveryMs: config.jobPollMs,
    lockLifetimeMs: config.reconciliationLeaseMs,
    onRun: (job, outcome, seconds) => {
      metrics.jobRuns.inc({ job, outcome });
      metrics.jobDuration.observe({ job, outcome }, seconds);
    },
  });
  const reconciliation = new ReconciliationService({
    runs: new ReconciliationRunStore(mongo.db),
    locks: new ReconciliationLockStore(mongo.db),
    subscriptions,
    customers,
    projects: projectStore,
    stripeFor: (secretKey) => stripeClients.dedicated(secretKey),
    notifier,
    queue: reconciliationQueue(jobs),
    logger,
    leaseMs: config.reconciliationLeaseMs,
    instanceId: jobs.instanceId,
    observer: {
      onDrift: (project, driftClass, dryRun) =>
        metrics.reconciliationDrift.inc({ project, class: driftClass, dry_run: String(dryRun) }),
      onFinished: (outcome, dryRun, ms) =>
        metrics.reconciliationDuration.observe({ outcome, dry_run: String(dryRun) }, ms / 1000),
    },
  });
  const jobClaims = new JobClaimStore(mongo.db);
  const reconciliationJobs = defineReconciliationJobs({
    runner: jobs,
    service: reconciliation,
    projects: projectStore,
    claims: jobClaims,
    cron: config.reconciliationCron,
    sweepEveryMs: config.reconciliationLeaseMs,
    logger,
  });
  const webhookEvents = new WebhookEventService({
    receipts,
    processor,
    projects: projectCache,
    stripeClients,
    customers,
    subscriptions,
    purchases,
    audit: auditLog,
  });
  const retention = defineRetentionJob({
    runner: jobs,
    claims: jobClaims,
    idempotency,
    receipts,
    cron: config.retentionCron,
    idempotencyRetentionMs: config.idempotencyRetentionHours * 3600_000,
    receiptRetentionMs: config.eventReceiptRetentionDays * 24 * 3600_000,
    batchSize: config.retentionBatchSize,
    logger,
  });
  const stripeWebhook = createWebhookShim({
    projects: projectCache,
    stripeClients,
    processor,
    customers,
    subscriptions,
    purchases,
    maxBodyBytes: config.webhookMaxBodyBytes,
    logger,
  });

  const readiness = async (): Promise<ReadinessReport> => {
    const [mongodb, redisUp] = await Promise.all([
      pingMongo(() => mongo.db.command({ ping: 1 })),
      pingRedis(redis.commands, dependencyTimeoutMs),
    ]);
    return { ready: mongodb && redisUp, checks: { mongodb, redis: redisUp } };
  };

  const shutdown = new AbortController();
  // Every in-flight call links its own signal to this one: hundreds are normal.
  setMaxListeners(0, shutdown.signal);
  const servedNames = [
    ...billingServices.map((service) => service.typeName),
    'grpc.health.v1.Health',
    'grpc.reflection.v1.ServerReflection',
    'grpc.reflection.v1alpha.ServerReflection',
  ];
  const routes = (router: ConnectRouter) => {
    billingRoutes({
      projects,
      apiKeys,
      entitlements,
      checkout,
      grants: grantService,
      auditLog,
      webhookEvents,
      projectMetrics,
      reconciliation,
      idempotency,
      watchHub,
      customerTokenSecrets: config.customerTokenSecrets,
      logger,
    })(router);
    healthRoutes({
      checkReady: async () => (await readiness()).ready,
      serviceNames: billingServices.map((service) => service.typeName),
      shutdownSignal: shutdown.signal,
    })(router);
    reflectionRoutes({ descriptorSet: readDescriptorSet(), serviceNames: servedNames })(router);
  };
  const handler = createConnectHandler({
    routes,
    logger,
    interceptors: [
      createMetricsInterceptor(metrics),
      createErrorInterceptor(logger),
      createAuthInterceptor({
        authenticator,
        requiredScope,
        customerTokenSecrets: config.customerTokenSecrets,
        tokenIssuers: new TokenIssuers(apiKeyStore, bus, config.apiKeyCacheTtlMs),
      }),
    ],
    readMaxBytes: config.maxRequestBytes,
    shutdownSignal: shutdown.signal,
    fallback: createHttpRoutes({
      readiness,
      registry: metrics.registry,
      isShuttingDown: () => shutdown.signal.aborted,
      stripeWebhook,
      logger,
    }),
  });
  const listener: Listener = await listen(withCors(handler, config.corsAllowedOrigins), {
    host: config.host,
    port: config.port,
    tls: config.tls,
    timeouts: config.httpTimeouts,
  });
  const metricsListener = await startMetricsListener(config, metrics, logger);
  // Jobs start once the server is up; 'listening' is logged after them, so
  // whoever waits for it (main's signal handlers, tests) sees a started app.
  await jobs.start();
  await reconciliationJobs.start();
  await retention.start();
  logger.info('listening', {
    host: config.host,
    port: listener.port,
    metricsPort: metricsListener?.port,
    tls: config.tls !== undefined,
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('shutting down');
      shutdown.abort();
      reconciliationJobs.stop();
      const jobsStopped = jobs.stop(config.shutdownGraceMs);
      await listener.close(config.shutdownGraceMs);
      await metricsListener?.close();
      await jobsStopped;
      await closeRedis(redis);
      await mongo.close();
      logger.info('stopped');
    })();
    return stopping;
  };
  return {
    port: listener.port,
    metricsPort: metricsListener?.port,
    projects,
    apiKeys,
    entitlements,
    grants: grantService,
    reconciliation,
    retention,
    readiness,
    stop,
  };
}

/**
 * Before serving: every stored secret must open with the configured master
 * keys (else stop now with a config error, not at the first webhook), and
 * plain-text or old-key values are sealed under the first key.
 */
async function sealStoredSecrets(
  projects: ProjectStore,
  idempotency: IdempotencyStore,
  logger: Logger,
): Promise<void> {
  try {
    const pass = await projects.sealStoredSecrets();
    const responses = await idempotency.sealStoredResponses();
    if (pass.sealed + pass.resealed + responses > 0) {
      logger.info('stored secrets sealed', { ...pass, idempotent_responses: responses });
    }
  } catch (err) {
    if (!isSecretOpenError(err)) throw err;
    throw new ConfigError(
      'MASTER_KEYS',
      `cannot open the stored secrets: ${err.message}. Configure the master key they were sealed with (it may follow the new first key)`,
    );
  }
}

/** Every figure, tenants' included, on its own port (loopback by default); none when off. */
function startMetricsListener(
  config: Config,
  metrics: ServiceMetrics,
  logger: Logger,
): Promise<MetricsListener | undefined> {
  if (config.metricsPort === undefined) return Promise.resolve(undefined);
  return listenMetrics({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: Registry.merge([metrics.registry, metrics.tenantRegistry]),
    timeouts: config.httpTimeouts,
    onError: (error) => logger.warn('metrics scrape failed', { error }),
  });
}

function readDescriptorSet(): Uint8Array {
  return readFileSync(new URL('../gen/descriptors.binpb', import.meta.url));
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
