/**
 * The use cases, built over the stores, the Redis cache and bus, and the
 * Stripe clients. Observers (Prometheus) are passed in constructors.
 */
import { ApiKeyAuthenticator } from '../api/auth.js';
import { TokenIssuers } from '../api/token-issuers.js';
import { RedisChangeFeed } from '../cache/change-feed.js';
import { MemoryEntitlementCache, RedisEntitlementCache } from '../cache/entitlement-cache.js';
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import { MemoryInputsCache } from '../cache/memory-inputs-cache.js';
import type { RedisConnections } from '../cache/redis.js';
import type { Config } from '../config.js';
import type { BusinessClock } from '../domain/business-clock.js';
import { reconciliationQueue } from '../jobs/index.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { Logger } from '../logger.js';
import { WebhookSender } from '../outbound/webhook-sender.js';
import { registerBusinessGauges, type ServiceMetrics } from '../server/prometheus-metrics.js';
import { ApiKeyService } from '../services/api-key-service.js';
import { CheckoutSessionService } from '../services/checkout-session-service.js';
import { CreditService } from '../services/credit-service.js';
import { DailyMetricsService } from '../services/daily-metrics-service.js';
import { EntitlementChangeNotifier } from '../services/entitlement-change-notifier.js';
import { EntitlementHistoryService } from '../services/entitlement-history.js';
import { EntitlementLookupService } from '../services/entitlement-lookup-service.js';
import { EntitlementWatchHub } from '../services/entitlement-watch-hub.js';
import { GrantService } from '../services/grant-service.js';
import { MeterReportService } from '../services/meter-report-service.js';
import { OutboundEventService } from '../services/outbound-event-service.js';
import { ProjectCache } from '../services/project-cache.js';
import { ProjectChangeFeedService } from '../services/project-change-feed.js';
import { ProjectFiguresCache } from '../services/project-figures-cache.js';
import { ProjectMetricsService } from '../services/project-metrics-service.js';
import { ProjectService } from '../services/project-service.js';
import { ReconciliationService } from '../services/reconciliation-service.js';
import { ReservationService } from '../services/reservation-service.js';
import { TimelineRecorder } from '../services/timeline-recorder.js';
import { UsageService } from '../services/usage-service.js';
import { WebhookDispatcher } from '../services/webhook-dispatcher.js';
import { WebhookEndpointCache } from '../services/webhook-endpoint-cache.js';
import { WebhookEndpointService } from '../services/webhook-endpoint-service.js';
import { WebhookEventService } from '../services/webhook-event-service.js';
import { EventProcessor } from '../stripe/event-processor.js';
import { parseStripeEndpoint, StripeClients } from '../stripe/stripe-clients.js';
import type { Stores } from './stores.js';

/** Business gauges (active subscriptions, MRR) are recomputed at most this often, on scrape. */
const businessMetricsCacheMs = 30_000;
/**
 * Business figures kept in memory are rebuilt from MongoDB at least this
 * often (bounds drift from a lost broadcast that no reconnect revealed).
 */
const projectFiguresMaxAgeMs = 3_600_000;
const memoryCacheMaxEntries = 100_000;
/** A failed meter event waits 10 s, doubling per failure, at most an hour (well inside Stripe's 24 h dedupe). */
const meterRetry = { baseMs: 10_000, maxMs: 3_600_000 };
/** Meter event calls in flight at once per project batch (Stripe's v1 meter events take one each). */
const meterSendConcurrency = 8;
/** Outbound webhook groups (endpoint, customer) sending at once, in all and per endpoint. */
const outboundConcurrency = { concurrency: 32, perEndpoint: 8, readPerEndpoint: 500 };

export interface ServiceDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly stores: Stores;
  readonly redis: RedisConnections;
  readonly bus: InvalidationBus;
  readonly metrics: ServiceMetrics;
  readonly jobs: JobRunner;
  /** What entitlements are judged by; every use case that asks "now?" asks it. */
  readonly clock: BusinessClock;
}

export type Services = ReturnType<typeof buildServices>;

export function buildServices(deps: ServiceDeps) {
  const { config, stores, bus, clock } = deps;
  const now = () => clock.now();
  const projectCache = new ProjectCache(stores.projects, bus, config.projectCacheTtlMs);
  const redisCache = new RedisEntitlementCache(
    deps.redis.commands,
    deps.logger,
    config.changeFeedRetainEntries,
  );
  const projectFigures = new ProjectFiguresCache({
    source: stores.subscriptions,
    bus,
    logger: deps.logger,
    maxAgeMs: projectFiguresMaxAgeMs,
  });
  const entitlements = buildEntitlementLookup(deps, projectCache, redisCache);
  const webhookDispatcher = buildWebhookDispatcher(deps);
  const outboundEvents = buildOutboundEvents(deps, webhookDispatcher);
  const notifier = new EntitlementChangeNotifier(
    redisCache,
    bus,
    stores.customers,
    new TimelineRecorder(stores.timeline, entitlements, now),
    config.usageChangeCoalesceMs,
    undefined,
    projectFigures,
    outboundEvents,
  );
  const stripeClients = new StripeClients(
    config.stripeApiUrl ? parseStripeEndpoint(config.stripeApiUrl) : undefined,
    config.stripeTimeoutMs,
  );
  const apiKeys = new ApiKeyService(stores.apiKeys, stores.auditLog, bus);
  const processor = buildEventProcessor(deps, notifier);
  const meterReports = buildMeterReports(deps, projectCache, stripeClients);
  const watchHub = new EntitlementWatchHub(bus, entitlements, {
    heartbeatMs: config.watchHeartbeatMs,
    usageCoalesceMs: config.usageChangeCoalesceMs,
    now,
  });
  clock.onJump(() => watchHub.timeMoved());
  const changeFeed = new ProjectChangeFeedService(
    bus,
    new RedisChangeFeed(deps.redis.commands),
    entitlements,
    { heartbeatMs: config.watchHeartbeatMs },
  );
  return {
    clock,
    projectCache,
    notifier,
    stripeClients,
    entitlements,
    apiKeys,
    processor,
    projects: new ProjectService(stores.projects, apiKeys, stores.auditLog, notifier),
    projectMetrics: buildProjectMetrics(deps, projectFigures),
    dailyMetrics: new DailyMetricsService({
      figures: projectFigures,
      projects: stores.projects,
      snapshots: stores.dailySnapshots,
      now,
    }),
    authenticator: new ApiKeyAuthenticator(
      stores.apiKeys,
      bus,
      config.apiKeyCacheTtlMs,
      config.apiKeyNegativeCacheTtlMs,
    ),
    tokenIssuers: new TokenIssuers(stores.apiKeys, bus, config.apiKeyCacheTtlMs),
    checkout: new CheckoutSessionService(projectCache, stores.customers, stripeClients),
    grants: new GrantService(stores.grants, stores.auditLog, notifier, now),
    credits: new CreditService({
      credits: stores.creditGrants,
      projects: projectCache,
      lookup: entitlements,
      audit: stores.auditLog,
      changes: notifier,
      usage: stores.usageLedger,
      now,
    }),
    watchHub,
    changeFeed,
    meterReports,
    webhookDispatcher,
    outboundEvents,
    webhookEndpoints: new WebhookEndpointService({
      endpoints: stores.webhookEndpoints,
      deliveries: stores.webhookDeliveries,
      events: stores.outboundEvents,
      audit: stores.auditLog,
      bus,
      dispatcher: webhookDispatcher,
      allowedHosts: config.outboundWebhooks.allowedHosts,
      retryForMs: config.outboundWebhooks.retryForMs,
    }),
    usage: buildUsage(stores, entitlements, notifier, meterReports, outboundEvents, now),
    reconciliation: buildReconciliation(deps, stripeClients, notifier),
    history: new EntitlementHistoryService({
      timeline: stores.timeline,
      lookup: entitlements,
      projects: projectCache,
      ledger: stores.usageLedger,
      now,
      retentionMs: config.timelineRetentionDays * 24 * 3600_000,
    }),
    webhookEvents: new WebhookEventService({
      receipts: stores.receipts,
      processor,
      projects: projectCache,
      stripeClients,
      customers: stores.customers,
      subscriptions: stores.subscriptions,
      purchases: stores.purchases,
      audit: stores.auditLog,
      now,
    }),
  };
}

function buildEntitlementLookup(
  { config, stores, bus, logger, metrics, clock }: ServiceDeps,
  projects: ProjectCache,
  redisCache: RedisEntitlementCache,
): EntitlementLookupService {
  return new EntitlementLookupService({
    projects,
    customers: stores.customers,
    subscriptions: stores.subscriptions,
    purchases: stores.purchases,
    grants: stores.grants,
    creditGrants: stores.creditGrants,
    usage: stores.usageLedger,
    redisCache,
    memoryCache: new MemoryEntitlementCache(
      bus,
      config.entitlementMemoryTtlMs,
      memoryCacheMaxEntries,
      config.entitlementMemoryMaxBytes,
    ),
    inputsCache: new MemoryInputsCache(bus, config.entitlementMemoryTtlMs, memoryCacheMaxEntries),
    logger,
    onLookup: metrics.countLookup,
    now: () => clock.now(),
  });
}

function buildMeterReports(
  { config, stores }: ServiceDeps,
  projects: ProjectCache,
  stripeClients: StripeClients,
): MeterReportService {
  return new MeterReportService({
    projects,
    customers: stores.customers,
    outbox: stores.meterOutbox,
    stripeFor: (secretKey) => stripeClients.forKey(secretKey),
    retry: { ...meterRetry, failingAfter: config.meterReportFailingAfter },
    concurrency: meterSendConcurrency,
  });
}

function buildUsage(
  stores: Stores,
  lookup: EntitlementLookupService,
  changes: EntitlementChangeNotifier,
  recorded: MeterReportService,
  thresholds: OutboundEventService,
  now: () => Date,
): UsageService {
  const reservations = new ReservationService({ ledger: stores.usageLedger });
  return new UsageService({
    lookup,
    ledger: stores.usageLedger,
    reservations,
    changes,
    recorded,
    thresholds,
    now,
  });
}

function buildWebhookDispatcher({
  config,
  stores,
  logger,
  metrics,
  jobs,
}: ServiceDeps): WebhookDispatcher {
  const outbound = config.outboundWebhooks;
  return new WebhookDispatcher({
    deliveries: stores.webhookDeliveries,
    events: stores.outboundEvents,
    endpoints: stores.webhookEndpoints,
    transport: new WebhookSender({
      timeoutMs: outbound.timeoutMs,
      allowedHosts: outbound.allowedHosts,
      userAgent: 'billing-entitlements-service/webhooks',
    }),
    retry: {
      baseMs: outbound.retryBaseMs,
      maxMs: outbound.retryMaxMs,
      retryForMs: outbound.retryForMs,
    },
    ...outboundConcurrency,
    // Past the attempt's own timeout, with margin: its sender is gone.
    staleAfterMs: outbound.timeoutMs * 2 + 5000,
    owner: jobs.instanceId,
    logger,
    observer: {
      onAttempt: (outcome, seconds) => {
        metrics.outboundAttempts.inc({ outcome });
        metrics.outboundAttemptDuration.observe({ outcome }, seconds);
      },
    },
  });
}

function buildOutboundEvents(
  { config, stores, bus, logger, metrics }: ServiceDeps,
  dispatcher: WebhookDispatcher,
): OutboundEventService {
  return new OutboundEventService({
    endpoints: new WebhookEndpointCache(stores.webhookEndpoints, bus, config.projectCacheTtlMs),
    events: stores.outboundEvents,
    deliveries: stores.webhookDeliveries,
    dispatcher,
    retryForMs: config.outboundWebhooks.retryForMs,
    logger,
    observer: {
      onEvent: (type) => metrics.outboundEvents.inc({ type, outcome: 'recorded' }),
      onEmitFailed: (type) => metrics.outboundEvents.inc({ type, outcome: 'failed' }),
    },
  });
}

function buildEventProcessor(
  { config, stores, logger, metrics }: ServiceDeps,
  changes: EntitlementChangeNotifier,
): EventProcessor {
  return new EventProcessor({
    receipts: stores.receipts,
    changes,
    logger,
    maxAttempts: config.webhookMaxAttempts,
    onOutcome: (type, outcome) => metrics.webhookEvents.inc({ type, outcome }),
    // Well inside the claim's lease: no other delivery may take the event while its mark is retried.
    markRetryMs: Math.min(10_000, Math.floor(config.webhookLeaseMs / 3)),
  });
}

function buildProjectMetrics(
  { stores, metrics, logger }: ServiceDeps,
  figures: ProjectFiguresCache,
): ProjectMetricsService {
  const projectMetrics = new ProjectMetricsService({ figures, projects: stores.projects });
  registerBusinessGauges(metrics.tenantRegistry, {
    figures: () => projectMetrics.businessFigures(),
    cacheMs: businessMetricsCacheMs,
    onError: (error) => logger.warn('business metrics failed', { error }),
  });
  return projectMetrics;
}

function buildReconciliation(
  { config, stores, logger, metrics, jobs }: ServiceDeps,
  stripeClients: StripeClients,
  notifier: EntitlementChangeNotifier,
): ReconciliationService {
  return new ReconciliationService({
    runs: stores.reconciliationRuns,
    locks: stores.reconciliationLocks,
    subscriptions: stores.subscriptions,
    customers: stores.customers,
    projects: stores.projects,
    stripeFor: (secretKey, onAnswered) => stripeClients.dedicated(secretKey, onAnswered),
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
}
