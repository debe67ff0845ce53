/**
 * Every setting comes from the environment and is validated once, at start.
 * A bad or missing value throws a ConfigError naming the variable, so the
 * operator knows exactly what to fix.
 */

import {
  ConfigError,
  cron,
  type Env,
  hostList,
  integer,
  masterKeys,
  oneOf,
  optionalString,
  optionalUrl,
  originList,
  portOrOff,
  secretList,
  url,
} from './config-parsers.js';
import type { MasterKey } from './domain/secret-box.js';

export { ConfigError, isConfigError } from './config-parsers.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
}

/** Timeouts of every HTTP connection (both ports), against clients that hold connections open. */
export interface HttpTimeouts {
  /** Until a connection's first bytes and a request's headers are in. */
  readonly headersMs: number;
  /** Until a whole HTTP/1.1 request (headers and body) is in. */
  readonly requestMs: number;
  /** No bytes either way for this long: the HTTP/1.1 connection or HTTP/2 session is closed. */
  readonly idleMs: number;
}

export const defaultHttpTimeouts: HttpTimeouts = {
  headersMs: 10_000,
  requestMs: 30_000,
  idleMs: 60_000,
};

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsConfig | undefined;
  readonly httpTimeouts: HttpTimeouts;
  /** Where the metrics listener (every figure, tenants' too) listens. */
  readonly metricsHost: string;
  /** The metrics listener's port (0: a free one); undefined: no metrics listener (`off`). */
  readonly metricsPort: number | undefined;
  readonly mongodbUrl: string;
  readonly mongodbDatabase: string;
  readonly redisUrl: string;
  readonly logLevel: LogLevel;
  /** Largest accepted RPC message, in bytes. */
  readonly maxRequestBytes: number;
  /** How long shutdown waits for open streams and requests. */
  readonly shutdownGraceMs: number;
  /** How long an API key lookup stays in process memory (revocations also evict at once). */
  readonly apiKeyCacheTtlMs: number;
  /** How long an unknown or revoked key's answer stays in process memory (0: not kept). */
  readonly apiKeyNegativeCacheTtlMs: number;
  /** How long a computed entitlement set stays in process memory (changes also evict at once). */
  readonly entitlementMemoryTtlMs: number;
  /** The in-process entitlement sets' bound, in bytes as estimated (the oldest make room). */
  readonly entitlementMemoryMaxBytes: number;
  /** How long a project (catalog, secrets) stays in process memory (changes also evict at once). */
  readonly projectCacheTtlMs: number;
  /** Where the Stripe SDK sends requests; unset: Stripe itself. */
  readonly stripeApiUrl: string | undefined;
  readonly stripeTimeoutMs: number;
  /** Largest accepted webhook body; larger ones get 413. */
  readonly webhookMaxBodyBytes: number;
  /** How long a webhook delivery holds an event before another delivery may take it over. */
  readonly webhookLeaseMs: number;
  /** Failed attempts after which an event that fails the same way is given up (dead, replayable). */
  readonly webhookMaxAttempts: number;
  /** Secrets that sign customer tokens: the first signs, all verify (rotation). Empty: no tokens. */
  readonly customerTokenSecrets: readonly string[];
  /** Browser origins allowed to call the API (CORS); empty: none. `*` allows any. */
  readonly corsAllowedOrigins: readonly string[];
  /** How often an idle WatchEntitlements stream gets a heartbeat. */
  readonly watchHeartbeatMs: number;
  /** At most one balance-only change per customer per this window is broadcast and streamed (0: all). */
  readonly usageChangeCoalesceMs: number;
  /** About how many changes a project's change feed keeps for readers that resume. */
  readonly changeFeedRetainEntries: number;
  /** When the daily reconciliation of every project runs (cron, UTC); undefined: never (`off`). */
  readonly reconciliationCron: string | undefined;
  /**
   * How long a reconciliation run holds its project's lock without renewing
   * it (it renews every third of that); after it, a crashed run is taken over.
   */
  readonly reconciliationLeaseMs: number;
  /** How often Agenda polls MongoDB for due jobs. */
  readonly jobPollMs: number;
  /** Keys that seal stored secrets: the first seals, all open (rotation). Required. */
  readonly masterKeys: readonly MasterKey[];
  /** When old idempotency records and event receipts are deleted (cron, UTC); undefined: never. */
  readonly retentionCron: string | undefined;
  /** When today's snapshot of each project's business figures is taken (again); undefined: never. */
  readonly dailySnapshotCron: string | undefined;
  /** Idempotency records older than this are deleted (a retry after it runs for real). */
  readonly idempotencyRetentionHours: number;
  /** Finished event receipts older than this are deleted; at least 30 days, past Stripe's retries. */
  readonly eventReceiptRetentionDays: number;
  /** Documents deleted per batch by the retention job. */
  readonly retentionBatchSize: number;
  /** Records of reported meter events older than this are deleted; at least 30 days (the spec's). */
  readonly usageClaimRetentionDays: number;
  /** Timeline entries older than this are deleted: ExplainEntitlement reaches back this far. */
  readonly timelineRetentionDays: number;
  /** When pending Stripe meter events are sent (cron with seconds, UTC); undefined: never. */
  readonly meterReportCron: string | undefined;
  /** Meter events read and sent per round of the meter report job. */
  readonly meterReportBatchSize: number;
  /** Failed sends after which a pending meter event counts as failing (it is still retried). */
  readonly meterReportFailingAfter: number;
  readonly outboundWebhooks: OutboundWebhookConfig;
}

/** Products' webhook endpoints (docs/operations.md, "Outbound webhooks"). */
export interface OutboundWebhookConfig {
  /** Hosts that may be private or loopback and use plain http (lower-case; IPv6 in brackets). */
  readonly allowedHosts: ReadonlySet<string>;
  /** How long one attempt waits for the whole answer. */
  readonly timeoutMs: number;
  /** The wait after a first failure; it doubles per failure (with jitter) up to `retryMaxMs`. */
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** How long a delivery is retried before it is failed. */
  readonly retryForMs: number;
  /** When pending deliveries are scanned (cron with seconds, UTC); undefined: never. */
  readonly deliverCron: string | undefined;
  /** When grants that expire within a day are announced (cron, UTC); undefined: never. */
  readonly grantExpiringCron: string | undefined;
  /** Events, deliveries and attempts older than this are deleted. */
  readonly retentionDays: number;
}

export function loadConfig(env: Env): Config {
  const watchHeartbeatMs = integer(env, 'WATCH_HEARTBEAT_MS', {
    fallback: 15_000,
    min: 100,
    max: 600_000,
  });
  return {
    host: optionalString(env, 'HOST', '0.0.0.0'),
    port: integer(env, 'PORT', { fallback: 8080, min: 0, max: 65535 }),
    tls: tlsConfig(env),
    httpTimeouts: httpTimeouts(env, watchHeartbeatMs),
    metricsHost: optionalString(env, 'METRICS_HOST', '127.0.0.1'),
    metricsPort: portOrOff(env, 'METRICS_PORT', 9464),
    mongodbUrl: url(env, 'MONGODB_URL', ['mongodb:', 'mongodb+srv:']),
    mongodbDatabase: optionalString(env, 'MONGODB_DATABASE', 'billing'),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    logLevel: oneOf(env, 'LOG_LEVEL', ['debug', 'info', 'warn', 'error'], 'info'),
    maxRequestBytes: integer(env, 'MAX_REQUEST_BYTES', {
      fallback: 1024 * 1024,
      min: 1024,
      max: 64 * 1024 * 1024,
    }),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', { fallback: 10_000, min: 0, max: 600_000 }),
    apiKeyCacheTtlMs: integer(env, 'API_KEY_CACHE_TTL_MS', {
      fallback: 60_000,
      min: 0,
      max: 3_600_000,
    }),
    apiKeyNegativeCacheTtlMs: integer(env, 'API_KEY_NEGATIVE_CACHE_TTL_MS', {
      fallback: 5000,
      min: 0,
      max: 600_000,
    }),
    entitlementMemoryTtlMs: integer(env, 'ENTITLEMENT_MEMORY_TTL_MS', {
      fallback: 10_000,
      min: 0,
      max: 3_600_000,
    }),
    entitlementMemoryMaxBytes:
      integer(env, 'ENTITLEMENT_MEMORY_MAX_MB', { fallback: 128, min: 1, max: 65_536 }) *
      1024 *
      1024,
    projectCacheTtlMs: integer(env, 'PROJECT_CACHE_TTL_MS', {
      fallback: 30_000,
      min: 0,
      max: 3_600_000,
    }),
    stripeApiUrl: optionalUrl(env, 'STRIPE_API_URL', ['http:', 'https:']),
    stripeTimeoutMs: integer(env, 'STRIPE_TIMEOUT_MS', {
      fallback: 10_000,
      min: 100,
      max: 120_000,
    }),
    webhookMaxBodyBytes: integer(env, 'WEBHOOK_MAX_BODY_BYTES', {
      fallback: 512 * 1024,
      min: 1024,
      max: 16 * 1024 * 1024,
    }),
    webhookLeaseMs: integer(env, 'WEBHOOK_LEASE_MS', { fallback: 30_000, min: 1000, max: 600_000 }),
    webhookMaxAttempts: integer(env, 'WEBHOOK_MAX_ATTEMPTS', { fallback: 5, min: 1, max: 100 }),
    customerTokenSecrets: secretList(env, 'CUSTOMER_TOKEN_SECRETS'),
    corsAllowedOrigins: originList(env, 'CORS_ALLOWED_ORIGINS'),
    watchHeartbeatMs,
    usageChangeCoalesceMs: integer(env, 'USAGE_CHANGE_COALESCE_MS', {
      fallback: 250,
      min: 0,
      max: 3_600_000,
    }),
    changeFeedRetainEntries: integer(env, 'CHANGE_FEED_RETAIN_ENTRIES', {
      fallback: 100_000,
      min: 100,
      max: 10_000_000,
    }),
    reconciliationCron: cron(env, 'RECONCILIATION_CRON', '0 3 * * *'),
    reconciliationLeaseMs: integer(env, 'RECONCILIATION_LEASE_MS', {
      fallback: 60_000,
      min: 1000,
      max: 3_600_000,
    }),
    jobPollMs: integer(env, 'JOB_POLL_MS', { fallback: 5000, min: 50, max: 600_000 }),
    masterKeys: masterKeys(env, 'MASTER_KEYS'),
    retentionCron: cron(env, 'RETENTION_CRON', '30 4 * * *'),
    dailySnapshotCron: cron(env, 'DAILY_SNAPSHOT_CRON', '*/10 * * * *'),
    idempotencyRetentionHours: integer(env, 'IDEMPOTENCY_RETENTION_HOURS', {
      fallback: 24,
      min: 1,
      max: 24 * 365,
    }),
    // Stripe retries a delivery for up to 3 days; a receipt must outlive every retry, with margin.
    eventReceiptRetentionDays: integer(env, 'EVENT_RECEIPT_RETENTION_DAYS', {
      fallback: 30,
      min: 30,
      max: 3650,
    }),
    retentionBatchSize: integer(env, 'RETENTION_BATCH_SIZE', {
      fallback: 500,
      min: 1,
      max: 10_000,
    }),
    // A usage idempotency key is applied once for at least 30 days (DESIGN.md).
    usageClaimRetentionDays: integer(env, 'USAGE_CLAIM_RETENTION_DAYS', {
      fallback: 30,
      min: 30,
      max: 3650,
    }),
    // Support's questions reach back months: a year and a month by default.
    timelineRetentionDays: integer(env, 'TIMELINE_RETENTION_DAYS', {
      fallback: 400,
      min: 1,
      max: 3650,
    }),
    meterReportCron: cron(env, 'METER_REPORT_CRON', '*/10 * * * * *'),
    meterReportBatchSize: integer(env, 'METER_REPORT_BATCH_SIZE', {
      fallback: 100,
      min: 1,
      max: 1000,
    }),
    meterReportFailingAfter: integer(env, 'METER_REPORT_FAILING_AFTER', {
      fallback: 10,
      min: 1,
      max: 1000,
    }),
    outboundWebhooks: outboundWebhookConfig(env),
  };
}

function outboundWebhookConfig(env: Env): OutboundWebhookConfig {
  const retryBaseMs = integer(env, 'OUTBOUND_WEBHOOK_RETRY_BASE_MS', {
    fallback: 60_000,
    min: 10,
    max: 3_600_000,
  });
  const retryMaxMs = integer(env, 'OUTBOUND_WEBHOOK_RETRY_MAX_MS', {
    fallback: 3_600_000,
    min: 10,
    max: 24 * 3_600_000,
  });
  if (retryMaxMs < retryBaseMs) {
    throw new ConfigError(
      'OUTBOUND_WEBHOOK_RETRY_MAX_MS',
      'must not be shorter than OUTBOUND_WEBHOOK_RETRY_BASE_MS',
    );
  }
  const retryForHours = integer(env, 'OUTBOUND_WEBHOOK_RETRY_FOR_HOURS', {
    fallback: 72,
    min: 1,
    max: 30 * 24,
  });
  const retentionDays = integer(env, 'OUTBOUND_WEBHOOK_RETENTION_DAYS', {
    fallback: 30,
    min: 1,
    max: 3650,
  });
  // A delivery's record must outlive its retries (the log, and its replay).
  if (retentionDays * 24 <= retryForHours) {
    throw new ConfigError(
      'OUTBOUND_WEBHOOK_RETENTION_DAYS',
      'must be longer than OUTBOUND_WEBHOOK_RETRY_FOR_HOURS',
    );
  }
  return {
    allowedHosts: hostList(env, 'OUTBOUND_WEBHOOK_ALLOWED_HOSTS'),
    timeoutMs: integer(env, 'OUTBOUND_WEBHOOK_TIMEOUT_MS', {
      fallback: 10_000,
      min: 100,
      max: 120_000,
    }),
    retryBaseMs,
    retryMaxMs,
    retryForMs: retryForHours * 3_600_000,
    deliverCron: cron(env, 'OUTBOUND_WEBHOOK_CRON', '*/5 * * * * *'),
    grantExpiringCron: cron(env, 'GRANT_EXPIRING_CRON', '*/10 * * * *'),
    retentionDays,
  };
}

function httpTimeouts(env: Env, watchHeartbeatMs: number): HttpTimeouts {
  const headersMs = integer(env, 'HTTP_HEADERS_TIMEOUT_MS', {
    fallback: defaultHttpTimeouts.headersMs,
    min: 100,
    max: 600_000,
  });
  const requestMs = integer(env, 'HTTP_REQUEST_TIMEOUT_MS', {
    fallback: defaultHttpTimeouts.requestMs,
    min: 100,
    max: 3_600_000,
  });
  const idleMs = integer(env, 'HTTP_IDLE_TIMEOUT_MS', {
    fallback: defaultHttpTimeouts.idleMs,
    min: 100,
    max: 3_600_000,
  });
  if (requestMs < headersMs) {
    throw new ConfigError(
      'HTTP_REQUEST_TIMEOUT_MS',
      'must not be shorter than HTTP_HEADERS_TIMEOUT_MS',
    );
  }
  // A quiet WatchEntitlements stream is kept busy by its heartbeats only.
  if (idleMs <= watchHeartbeatMs) {
    throw new ConfigError('HTTP_IDLE_TIMEOUT_MS', 'must be longer than WATCH_HEARTBEAT_MS');
  }
  return { headersMs, requestMs, idleMs };
}

function tlsConfig(env: Env): TlsConfig | undefined {
  const certFile = env.TLS_CERT_FILE;
  const keyFile = env.TLS_KEY_FILE;
  if (!certFile && !keyFile) return undefined;
  if (!certFile) throw new ConfigError('TLS_CERT_FILE', 'is required when TLS_KEY_FILE is set');
  if (!keyFile) throw new ConfigError('TLS_KEY_FILE', 'is required when TLS_CERT_FILE is set');
  return { certFile, keyFile };
}
