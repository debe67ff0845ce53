// needs: mongodb redis
/**
 * `npm run start:local` as a newcomer runs it, with the Stripe sandbox: the
 * dev project is wired to it (key, webhook endpoint, catalog, customer
 * tokens), a checkout the service creates is paid in the sandbox, its
 * signed webhooks are accepted, and the customer has the plan's features.
 * Then the state survives a restart (the sandbox's state file).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import Stripe from 'stripe';
import { CheckoutMode, CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { nodeEntryArgs } from '../../scripts/lib/node-entry.js';
import { repoRoot } from '../helpers/process.js';
import { testMongoUrl, testRedisUrl, uniqueDbName } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

interface StartLocal {
  readonly child: ChildProcess;
  readonly banner: () => string;
  readonly exited: Promise<number | null>;
}

function startLocal(dataDir: string, database: string): StartLocal {
  const child = spawn(process.execPath, nodeEntryArgs('scripts/start-local.ts'), {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      START_LOCAL_DATA_DIR: dataDir,
      MONGODB_URL: testMongoUrl(),
      MONGODB_DATABASE: database,
      REDIS_URL: testRedisUrl(),
      PORT: '0',
      SANDBOX_PORT: '0',
      METRICS_PORT: 'off',
      JOB_POLL_MS: '200',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, banner: () => stderr, exited };
}

function bannerValue(banner: string, label: RegExp): string | undefined {
  return label.exec(banner)?.[1];
}

async function started(run: StartLocal) {
  const banner = await waitFor(run.banner, {
    until: (text) => text.includes('3. time passes') || text.includes('start-local failed'),
    timeoutMs: 90_000,
    what: 'the start:local banner',
  });
  const value = (label: RegExp): string => {
    const found = bannerValue(banner, label);
    if (found === undefined) throw new Error(`no ${label} in the banner:\n${banner}`);
    return found;
  };
  return {
    banner,
    serviceUrl: value(/HTTP:\s+(http:\/\/127\.0\.0\.1:\d+)/),
    sandboxUrl: value(/Stripe sandbox \(local\):\s+(http:\/\/127\.0\.0\.1:\d+)/),
    apiKey: value(/dev API key \(shown once\):\s+(\S+)/),
    proPrice: value(/Pro\s+(price_\S+) \(subscription\)/),
    demoUrl: value(/watch it live: (\S+)/),
  };
}

async function stop(run: StartLocal): Promise<void> {
  run.child.kill('SIGINT');
  await run.exited;
}

test('start:local wires the dev project to the sandbox: checkout, webhooks, entitlements, restart', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'start-local-'));
  const database = uniqueDbName('start_local');
  let run = startLocal(dataDir, database);
  t.teardown(async () => {
    run.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });
  const first = await started(run);
  t.regex(first.demoUrl, /\/demo#token=ct_[^&]+&customer=u1$/);
  t.regex(first.banner, /Team \(per seat\)\s+price_/);
  t.regex(first.banner, /10,000 API requests\s+price_\S+ \(payment\)/);

  // The project's Stripe account is the sandbox: the endpoint points at the service.
  const sandboxKey = (await readFile(path.join(dataDir, 'sandbox-key'), 'utf8')).trim();
  const sandboxPort = Number(new URL(first.sandboxUrl).port);
  const stripe = new Stripe(sandboxKey, { host: '127.0.0.1', port: sandboxPort, protocol: 'http' });
  const endpoints = await stripe.webhookEndpoints.list();
  t.is(endpoints.data.length, 1);
  t.true(
    endpoints.data[0]?.url.startsWith(`${first.serviceUrl}/webhooks/stripe/proj_`),
    endpoints.data[0]?.url,
  );

  const transport = createConnectTransport({ baseUrl: first.serviceUrl, httpVersion: '1.1' });
  const headers = { authorization: `Bearer ${first.apiKey}` };
  const checkout = await createClient(CheckoutService, transport).createCheckoutSession(
    {
      customerId: 'u1',
      mode: CheckoutMode.SUBSCRIPTION,
      lineItems: [{ priceId: first.proPrice, quantity: 1n }],
      successUrl: `${first.serviceUrl}/demo`,
      cancelUrl: `${first.serviceUrl}/demo`,
    },
    { headers },
  );
  t.is(checkout.url, `${first.sandboxUrl}/c/pay/${checkout.sessionId}`);

  const paid = await fetch(`${first.sandboxUrl}/_sandbox/checkout/${checkout.sessionId}/complete`, {
    method: 'POST',
    body: '{}',
  });
  t.is(paid.status, 200);
  const entitlements = createClient(EntitlementsService, transport);
  const features = await waitFor(
    async () =>
      (await entitlements.listEntitlements({ customerId: 'u1' }, { headers })).entitlements.map(
        (e) => e.feature,
      ),
    { until: (list) => list.includes('export'), timeoutMs: 30_000, what: 'the Pro features' },
  );
  t.deepEqual(features, ['api_requests', 'export', 'projects']);
  // customer.created, customer.subscription.created, invoice.paid, invoice.payment_succeeded,
  // checkout.session.completed: each delivered once, signed, and accepted.
  const deliveries = await waitFor(
    async () =>
      (await (await fetch(`${first.sandboxUrl}/_sandbox/deliveries`)).json()) as {
        eventType: string;
        status: number;
      }[],
    { until: (list) => list.length >= 5, timeoutMs: 30_000, what: 'five webhook deliveries' },
  );
  t.deepEqual(deliveries.map((d) => `${d.eventType} ${d.status}`).sort(), [
    'checkout.session.completed 200',
    'customer.created 200',
    'customer.subscription.created 200',
    'invoice.paid 200',
    'invoice.payment_succeeded 200',
  ]);

  // A restart keeps the sandbox's customers and subscriptions.
  await stop(run);
  run = startLocal(dataDir, database);
  const second = await started(run);
  const status = (await (await fetch(`${second.sandboxUrl}/_sandbox/status`)).json()) as {
    customers: number;
    subscriptions: number;
  };
  t.is(status.customers, 1);
  t.is(status.subscriptions, 1);
  t.is(second.proPrice, first.proPrice);
  await stop(run);
});
