/**
 * `npm run start:local`: the service with embedded local defaults, on a
 * fresh machine. Installs what is missing (FerretDB with `go install`,
 * redis-server from Debian), starts both on loopback with data in the
 * git-ignored `.data/`, starts the service on PORT (default 8080), creates a
 * dev project on first run, and prints a fresh admin API key each start
 * (keys are stored hashed, so an old one cannot be shown again; the previous
 * dev key is revoked), and a fresh platform key (scope platform:admin, for
 * CreateProject; the previous one is revoked too). Stored secrets are sealed
 * under a master key generated into `.data/master-keys` on first run and
 * reused after (MASTER_KEYS in the environment wins).
 *
 * It also starts the local Stripe sandbox (docs/sandbox.md) on SANDBOX_PORT
 * (default 8081, state in `.data/sandbox-state.json`) and wires the dev
 * project to it: Stripe key, webhook endpoint and secret, the sample
 * catalog (scripts/lib/dev-catalog.ts); customer-token secrets are
 * generated into `.data/` (CUSTOMER_TOKEN_SECRETS wins). With
 * STRIPE_SECRET_KEY set (a real test-mode key) no sandbox starts: the
 * project uses that key, and STRIPE_WEBHOOK_SECRET (from `stripe listen`).
 *
 * MONGODB_URL or REDIS_URL in the environment point at real servers instead.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type App, startApp } from '../src/app.js';
import { isConfigError, loadConfig } from '../src/config.js';
import { platformProjectId } from '../src/domain/api-keys.js';
import { signCustomerToken } from '../src/domain/customer-tokens.js';
import { createLogger } from '../src/logger.js';
import type { DevPrice } from './lib/dev-catalog.js';
import { REPO_ROOT, startFerretDb, startRedis } from './lib/local-services.js';
import {
  devCheckoutRequest,
  localBusinessClock,
  startLocalStripe,
  stripeServiceEnv,
  webhookUrl,
  wireLocalProject,
} from './lib/local-stripe.js';
import { localCustomerTokenSecrets } from './lib/sandbox-process.js';

// START_LOCAL_DATA_DIR: another data directory (tests run start:local in a temporary one).
const dataDir = process.env.START_LOCAL_DATA_DIR || path.join(REPO_ROOT, '.data');
const devProjectFile = path.join(dataDir, 'dev-project.json');
const masterKeysFile = path.join(dataDir, 'master-keys');

interface DevProjectRecord {
  readonly projectId: string;
  readonly keyId: string;
  readonly platformKeyId?: string;
}

interface Stoppable {
  stop(): Promise<void>;
}

async function main(): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const stoppables: Stoppable[] = [];
  const env: Record<string, string | undefined> = {
    PORT: '8080',
    HOST: '127.0.0.1',
    ...process.env,
  };
  env.MASTER_KEYS ||= localMasterKeys();
  env.CUSTOMER_TOKEN_SECRETS ||= localCustomerTokenSecrets(dataDir);
  const stripe = await startLocalStripe(dataDir, env);
  const sandbox = stripe.sandbox;
  if (sandbox) stoppables.push(sandbox);
  Object.assign(env, stripeServiceEnv(stripe));
  if (!env.MONGODB_URL) {
    const ferret = await startFerretDb({ dataDir: path.join(dataDir, 'ferretdb'), durable: true });
    stoppables.push(ferret);
    env.MONGODB_URL = ferret.url;
  }
  if (!env.REDIS_URL) {
    const redis = await startRedis();
    stoppables.push(redis);
    env.REDIS_URL = redis.url;
  }
  const config = loadConfig(env);
  const logger = createLogger({ level: config.logLevel, base: { service: 'billing' } });
  const app = await startApp(config, logger, { clock: localBusinessClock(stripe) });
  stoppables.unshift(app);
  // Read first: devApiKey rewrites the record.
  const previousPlatformKeyId = readDevProject()?.platformKeyId;
  const key = await devApiKey(app);
  const platformKey = await devPlatformKey(app, previousPlatformKeyId);
  const prices = await wireLocalProject(app.projects, key.projectId, app.port, stripe);
  printBanner(app.port, config.mongodbUrl, config.redisUrl, { ...key, platformKey });
  printStripeBanner(app.port, key, prices, {
    sandboxUrl: sandbox?.sandbox.url,
    demoToken: demoToken(key.projectId, config.customerTokenSecrets[0]),
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      // Stop the service first, then the servers it uses.
      const stopAll = stoppables.reduce<Promise<void>>(
        (done, s) => done.then(() => s.stop()),
        Promise.resolve(),
      );
      stopAll.then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

async function devApiKey(app: App): Promise<{ projectId: string; secret: string }> {
  const previous = readDevProject();
  const project = previous ? await app.projects.get(previous.projectId) : null;
  if (previous && project) {
    await app.apiKeys.revoke(
      previous.projectId,
      previous.keyId,
      'start-local',
      'replaced by a new dev key',
    );
    const created = await app.apiKeys.create({
      projectId: previous.projectId,
      name: 'dev key',
      scopes: ['admin', 'entitlements:read', 'checkout:write', 'usage:write'],
      actor: 'start-local',
      reason: 'local development start',
    });
    writeDevProject({ projectId: previous.projectId, keyId: created.key._id });
    return { projectId: previous.projectId, secret: created.secret };
  }
  const created = await app.projects.create({
    name: 'dev',
    // Local development talks to no real Stripe account.
    stripeSecretKey: null,
    webhookSigningSecret: null,
    gracePeriodSeconds: 3 * 24 * 3600,
    actor: 'start-local',
    reason: 'local development project',
  });
  writeDevProject({ projectId: created.project._id, keyId: created.adminKey.key._id });
  return { projectId: created.project._id, secret: created.adminKey.secret };
}

/** Generated once, kept beside the data it seals; losing it loses the stored Stripe secrets. */
function localMasterKeys(): string {
  if (existsSync(masterKeysFile)) return readFileSync(masterKeysFile, 'utf8').trim();
  const keys = `local1:${randomBytes(32).toString('base64')}`;
  writeFileSync(masterKeysFile, `${keys}\n`, { mode: 0o600 });
  return keys;
}

/** A new platform key each start (only its hash is stored); the previous one is revoked. */
async function devPlatformKey(app: App, previousKeyId: string | undefined): Promise<string> {
  if (previousKeyId) {
    await app.apiKeys.revoke(
      platformProjectId,
      previousKeyId,
      'start-local',
      'replaced by a new dev platform key',
    );
  }
  const created = await app.apiKeys.createPlatformKey(
    'dev platform key',
    'start-local',
    'local development start',
  );
  const record = readDevProject();
  if (record) writeDevProject({ ...record, platformKeyId: created.key._id });
  return created.secret;
}

function readDevProject(): DevProjectRecord | undefined {
  if (!existsSync(devProjectFile)) return undefined;
  return JSON.parse(readFileSync(devProjectFile, 'utf8')) as DevProjectRecord;
}

function writeDevProject(record: DevProjectRecord): void {
  writeFileSync(devProjectFile, `${JSON.stringify(record, null, 2)}\n`);
}

function printBanner(
  port: number,
  mongodbUrl: string,
  redisUrl: string,
  key: { projectId: string; secret: string; platformKey: string },
) {
  const lines = [
    '',
    'Billing & Entitlements Service is running (local defaults)',
    `  gRPC, Connect, gRPC-Web, HTTP:  http://127.0.0.1:${port}`,
    `  MongoDB-compatible (FerretDB):  ${mongodbUrl}`,
    `  Redis:                          ${redisUrl}`,
    `  dev project:                    ${key.projectId}`,
    `  dev API key (shown once):       ${key.secret}`,
    `  platform key (CreateProject):   ${key.platformKey}`,
    '',
    `  try: scripts/grpcurl -plaintext -H 'authorization: Bearer ${key.secret}' 127.0.0.1:${port} billing.v1.AdminService/GetProject`,
    '  stop with Ctrl-C',
    '',
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}

/** A customer token for the demo customer `u1`, valid for a day (the banner's /demo link). */
function demoToken(projectId: string, secret: string | undefined): string | undefined {
  const keyId = readDevProject()?.keyId;
  if (!secret || !keyId) return undefined;
  return signCustomerToken(
    { projectId, customerId: 'u1', keyId, expiresAt: new Date(Date.now() + 24 * 3600 * 1000) },
    secret,
  );
}

function printStripeBanner(
  port: number,
  key: { projectId: string; secret: string },
  prices: readonly DevPrice[],
  local: { sandboxUrl: string | undefined; demoToken: string | undefined },
): void {
  const checkout = JSON.stringify(devCheckoutRequest(port, prices));
  const lines = [
    local.sandboxUrl
      ? `  Stripe sandbox (local):         ${local.sandboxUrl}  (npm run sandbox -- status)`
      : '  Stripe:                         real test mode (STRIPE_SECRET_KEY)',
    `  webhooks:                       ${webhookUrl(port, key.projectId)}`,
    '  sample catalog:',
    ...prices.map((price) => `    ${price.name.padEnd(22)} ${price.priceId} (${price.mode})`),
    '',
    `  1. checkout: scripts/grpcurl -plaintext -H 'authorization: Bearer ${key.secret}' -d '${checkout}' 127.0.0.1:${port} billing.v1.CheckoutService/CreateCheckoutSession`,
    '     then open the url it returns and pay with 4242 4242 4242 4242',
    local.demoToken
      ? `  2. watch it live: http://127.0.0.1:${port}/demo#token=${local.demoToken}&customer=u1`
      : '  2. watch it live: IssueCustomerToken, then /demo#token=...&customer=u1',
    '  3. time passes: npm run sandbox -- advance 31d   (renewal; -- trigger payment_failed --customer u1)',
    '',
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  if (isConfigError(err)) process.stderr.write(`${err.message}\n`);
  else
    process.stderr.write(`start-local failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(isConfigError(err) ? 2 : 1);
});
