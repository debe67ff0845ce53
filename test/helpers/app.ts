/**
 * Starts the real service in the test process, on a free port, against the
 * test run's FerretDB and Redis (or a private Redis), with its own database.
 */

import { type App, startApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import type { BusinessClock } from '../../src/domain/business-clock.js';
import { createLogger } from '../../src/logger.js';
import { testMasterKeys, testMongoUrl, testRedisUrl, uniqueDbName } from './services.js';

export interface TestApp {
  readonly app: App;
  readonly baseUrl: string;
  /** The metrics listener (every figure, tenants' too); undefined when a test turns it off. */
  readonly metricsUrl: string | undefined;
  readonly config: Config;
}

export interface TestAppOptions {
  readonly redisUrl?: string;
  readonly database?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Business time (src/domain/business-clock.ts); default the wall clock. */
  readonly clock?: BusinessClock;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: '0',
    MONGODB_URL: testMongoUrl(),
    MONGODB_DATABASE: options.database ?? uniqueDbName('app'),
    REDIS_URL: options.redisUrl ?? testRedisUrl(),
    SHUTDOWN_GRACE_MS: '2000',
    MASTER_KEYS: testMasterKeys(),
    // No daily reconciliation, retention sweep, snapshot or meter report in tests unless a test asks for one.
    RECONCILIATION_CRON: 'off',
    RETENTION_CRON: 'off',
    DAILY_SNAPSHOT_CRON: 'off',
    METER_REPORT_CRON: 'off',
    ...options.env,
  });
  // Quiet unless a test run asks for logs.
  const logger = createLogger({
    level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'error',
  });
  const app = await startApp(config, logger, { clock: options.clock });
  const metricsUrl =
    app.metricsPort === undefined ? undefined : `http://127.0.0.1:${app.metricsPort}`;
  return { app, baseUrl: `http://127.0.0.1:${app.port}`, metricsUrl, config };
}

export interface TestProject {
  readonly projectId: string;
  /** Has every scope. */
  readonly adminKey: string;
  readonly adminKeyId: string;
}

export interface TestProjectSecrets {
  readonly stripeSecretKey?: string;
  readonly webhookSigningSecret?: string;
}

export async function createTestProject(
  app: App,
  name = 'test project',
  secrets: TestProjectSecrets = {},
): Promise<TestProject> {
  const created = await app.projects.create({
    name,
    stripeSecretKey: secrets.stripeSecretKey ?? 'sk_test_fake_for_tests_0000',
    webhookSigningSecret: secrets.webhookSigningSecret ?? 'whsec_test_secret',
    gracePeriodSeconds: 3 * 24 * 3600,
    actor: 'test',
    reason: 'test setup',
  });
  return {
    projectId: created.project._id,
    adminKey: created.adminKey.secret,
    adminKeyId: created.adminKey.key._id,
  };
}

export interface TestPlatformKey {
  /** Scope platform:admin only: CreateProject and nothing else. */
  readonly key: string;
  readonly keyId: string;
}

export async function createPlatformKey(app: App): Promise<TestPlatformKey> {
  const created = await app.apiKeys.createPlatformKey('test platform key', 'test', 'test setup');
  return { key: created.secret, keyId: created.key._id };
}

export interface Readiness {
  readonly status: number;
  readonly body: { status: string; checks: Record<string, boolean> };
}

/** GET /readyz: its HTTP status and what it says of each dependency. */
export async function readyz(baseUrl: string): Promise<Readiness> {
  const response = await fetch(`${baseUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as Readiness['body'] };
}

/** GET /metrics on the metrics listener: every figure, tenants' too (the public port has none of theirs). */
export async function scrapeAll(server: TestApp): Promise<string> {
  if (server.metricsUrl === undefined) throw new Error('this app runs without a metrics listener');
  const response = await fetch(`${server.metricsUrl}/metrics`);
  if (response.status !== 200) throw new Error(`metrics listener answered ${response.status}`);
  return response.text();
}
