// needs: mongodb redis
/**
 * The TypeScript client (clients/ts): the package builds with its own
 * tsconfig, and the built package, imported by its name from a project that
 * depends on it, checks an entitlement, receives the change its own admin
 * grant causes on a WatchEntitlements stream, and gets PERMISSION_DENIED with
 * a read-only key, over Connect, gRPC and gRPC-Web.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import {
  OpenFeature as WebFeatures,
  ProviderEvents as WebProviderEvents,
} from '@openfeature/web-sdk';
import test from 'ava';
import type * as BillingClientPackage from '../../clients/ts/index.js';
import type * as OpenFeatureProviderModule from '../../clients/ts/openfeature-provider.js';
import type * as OpenFeatureWebProviderModule from '../../clients/ts/openfeature-web-provider.js';
import { REPO_ROOT } from '../../scripts/lib/local-services.js';
import { createTestProject, startTestApp, type TestApp } from '../helpers/app.js';
import { startBillingHarness } from '../helpers/billing-harness.js';
import { runChild, type SmokeServer, startSmokeServer } from '../helpers/client-smoke.js';
import { makeEvent, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';

const CLIENT_DIR = path.join(REPO_ROOT, 'clients', 'ts');
let smoke: SmokeServer;
let billing: typeof BillingClientPackage;
let openFeatureProvider: typeof OpenFeatureProviderModule;
let openFeatureWebProvider: typeof OpenFeatureWebProviderModule;
let consumer: string | undefined;

test.before(async () => {
  // `npm run build` in clients/ts (the package's `prepare` does the same).
  const build = await runChild(
    path.join(REPO_ROOT, 'node_modules', '.bin', 'tsc'),
    ['-p', path.join(CLIENT_DIR, 'tsconfig.json')],
    { cwd: CLIENT_DIR },
  );
  if (build.code !== 0) throw new Error(`clients/ts does not build:\n${build.output}`);
  // A project with the package in its node_modules (as `npm install
  // clients/ts` links it) imports it by name: the package.json exports work.
  consumer = await mkdtemp(path.join(os.tmpdir(), 'ts-client-consumer-'));
  await mkdir(path.join(consumer, 'node_modules', '@example'), { recursive: true });
  await symlink(CLIENT_DIR, path.join(consumer, 'node_modules', '@example', 'billing-client'));
  await writeFile(path.join(consumer, 'package.json'), '{ "type": "module" }\n');
  await writeFile(path.join(consumer, 'index.js'), "export * from '@example/billing-client';\n");
  await writeFile(
    path.join(consumer, 'openfeature.js'),
    "export * from '@example/billing-client/openfeature';\n",
  );
  billing = await import(pathToFileURL(path.join(consumer, 'index.js')).href);
  await writeFile(
    path.join(consumer, 'openfeature-web.js'),
    "export * from '@example/billing-client/openfeature-web';\n",
  );
  openFeatureProvider = await import(pathToFileURL(path.join(consumer, 'openfeature.js')).href);
  openFeatureWebProvider = await import(
    pathToFileURL(path.join(consumer, 'openfeature-web.js')).href
  );
  smoke = await startSmokeServer('ts client smoke');
});

test.after.always(async () => {
  await smoke?.stop();
  if (consumer !== undefined) await rm(consumer, { recursive: true, force: true });
});

type Stream = AsyncIterator<BillingClientPackage.WatchEntitlementsResponse>;

async function nextNonHeartbeat(
  stream: Stream,
): Promise<BillingClientPackage.WatchEntitlementsResponse> {
  for (;;) {
    const next = await stream.next();
    if (next.done) throw new Error('the stream ended');
    if (next.value.kind !== billing.WatchEventKind.HEARTBEAT) return next.value;
  }
}

for (const protocol of ['connect', 'grpc', 'grpc-web'] as const) {
  test(`${protocol}: check, watch a granted change, PERMISSION_DENIED`, async (t) => {
    const { WatchEventKind, Code, ConnectError } = billing;
    const client = billing.createBillingClient({
      baseUrl: smoke.baseUrl,
      apiKey: smoke.adminKey,
      protocol,
    });
    const readOnly = billing.createBillingClient({
      baseUrl: smoke.baseUrl,
      apiKey: smoke.readOnlyKey,
      protocol,
    });
    const abort = new AbortController();
    t.teardown(() => {
      abort.abort();
      client.close();
      readOnly.close();
    });
    const customerId = `ts-smoke-${protocol}-${Date.now()}`;

    const { entitlement } = await client.entitlements.checkEntitlement({
      customerId,
      feature: 'smoke',
    });
    t.false(entitlement?.allowed);

    const stream = client.entitlements
      .watchEntitlements({ customerId }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    const first = await nextNonHeartbeat(stream);
    t.is(first.kind, WatchEventKind.SNAPSHOT);
    t.deepEqual(first.entitlements, []);

    await client.admin.grantEntitlement({
      customerId,
      feature: 'smoke',
      reason: 'TS client smoke',
    });
    const change = await nextNonHeartbeat(stream);
    t.is(change.kind, WatchEventKind.CHANGE);
    t.deepEqual(
      change.entitlements.map((e) => [e.feature, e.allowed]),
      [['smoke', true]],
    );

    const refused = await t.throwsAsync(
      readOnly.admin.grantEntitlement({ customerId, feature: 'smoke', reason: 'must be refused' }),
    );
    t.true(refused instanceof ConnectError, String(refused));
    const error = ConnectError.from(refused);
    t.is(error.code, Code.PermissionDenied, error.message);
    t.not(error.rawMessage, '');
  });
}

/**
 * The local evaluator of the built package against live services: a
 * webhook, a grant and a grant's expiry reach its answers, it survives a
 * restart of the service, and an unknown customer follows the policy while
 * the service is down.
 */
type Evaluator = InstanceType<typeof BillingClientPackage.LocalEvaluator>;

/** Resolves at the evaluator's next change of `customerId` that satisfies `until`. */
function changed(evaluator: Evaluator, customerId: string, until: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const stop = evaluator.onChange((changedId) => {
      if ((changedId === customerId || changedId === '') && until()) {
        stop();
        resolve();
      }
    });
  });
}

async function evaluatorFor(baseUrl: string, apiKey: string, unreachable?: 'open' | 'closed') {
  const client = billing.createBillingClient({ baseUrl, apiKey, protocol: 'grpc' });
  const evaluator = new billing.LocalEvaluator({
    entitlements: client.entitlements,
    reconnectMs: { first: 50, max: 500 },
    ...(unreachable ? { unreachable } : {}),
  });
  await evaluator.whenReady();
  const close = () => {
    evaluator.close();
    client.close();
  };
  return { client, evaluator, close };
}

test('local evaluator: a webhook on the server changes the answer in process', async (t) => {
  const harness = await startBillingHarness();
  const { evaluator, close } = await evaluatorFor(harness.server.baseUrl, harness.project.adminKey);
  t.teardown(async () => {
    close();
    await harness.close();
  });
  const customer = await harness.linkCustomer('local-webhook');
  const first = await evaluator.check('local-webhook', 'reports');
  t.like(first, { allowed: false, from: 'server' });
  t.is(evaluator.isAllowed('local-webhook', 'reports'), false, 'held now: answered from memory');

  const follows = changed(evaluator, 'local-webhook', () =>
    Boolean(evaluator.isAllowed('local-webhook', 'reports')),
  );
  const sub = makeSubscription({
    customer,
    status: 'active',
    items: [{ price: 'price_pro_monthly', product: 'prod_pro', quantity: 1 }],
  });
  const posted = await harness.post(
    makeEvent({ type: 'customer.subscription.created', object: sub, created: nowSeconds() }),
  );
  t.is(posted.status, 200);
  await follows;
  const after = await evaluator.check('local-webhook', 'reports');
  t.like(after, { allowed: true, from: 'memory', staleMs: 0 });
  t.true(after.version > first.version);
});

test('local evaluator: a grant’s expiry turns the feature off with no event', async (t) => {
  const { evaluator, client, close } = await evaluatorFor(smoke.baseUrl, smoke.adminKey);
  t.teardown(close);
  // Far enough ahead for the grant and the first check to come first on a loaded machine.
  const expiresAt = Date.now() + 3000;
  await client.admin.grantEntitlement({
    customerId: 'local-expiry',
    feature: 'trial',
    expiresAt: { seconds: BigInt(Math.floor(expiresAt / 1000)), nanos: (expiresAt % 1000) * 1e6 },
    reason: 'local evaluator expiry',
  });
  t.like(await evaluator.check('local-expiry', 'trial'), { allowed: true });
  await changed(
    evaluator,
    'local-expiry',
    () => evaluator.isAllowed('local-expiry', 'trial') === false,
  );
  t.true(Date.now() >= expiresAt);
});

test('local evaluator: answers through a restart of the service, then follows changes again', async (t) => {
  const first = await startTestApp();
  const project = await createTestProject(first.app, 'local restart');
  const port = new URL(first.baseUrl).port;
  let second: TestApp | undefined;
  const { evaluator, close } = await evaluatorFor(first.baseUrl, project.adminKey, 'open');
  t.teardown(async () => {
    close();
    await second?.app.stop();
  });
  const admin = billing.createBillingClient({ baseUrl: first.baseUrl, apiKey: project.adminKey });
  t.teardown(() => admin.close());
  await admin.admin.grantEntitlement({ customerId: 'local-restart', feature: 'a', reason: 'r' });
  t.like(await evaluator.check('local-restart', 'a'), { allowed: true, from: 'server' });

  await first.app.stop();
  const held = await evaluator.check('local-restart', 'a');
  t.like(held, { allowed: true, from: 'memory' });
  const unknown = await evaluator.check('never-seen', 'a');
  t.like(unknown, { allowed: true, from: 'policy' }, 'unreachable: open');

  second = await startTestApp({ database: first.config.mongodbDatabase, env: { PORT: port } });
  const follows = changed(evaluator, 'local-restart', () =>
    Boolean(evaluator.isAllowed('local-restart', 'b')),
  );
  await admin.admin.grantEntitlement({ customerId: 'local-restart', feature: 'b', reason: 'r' });
  await follows;
  t.is(evaluator.staleMs, 0);
});

/** A stand-in of the entitlements client: fills answered by `sets`, a feed the test pushes. */
class StandInService {
  readonly sets = new Map<string, { version: bigint; features: string[] }>();
  /** While set, a fill waits for it (to land a feed change in the middle of a fill). */
  gate: Promise<void> | undefined;
  unreachable = false;
  fills = 0;
  private readonly queue: BillingClientPackage.WatchProjectChangesResponse[] = [];
  private wake: (() => void) | undefined;

  client() {
    const listEntitlements = async ({ customerId }: { customerId: string }) => {
      this.fills += 1;
      await this.gate;
      if (this.unreachable) throw new billing.ConnectError('down', billing.Code.Unavailable);
      const set = this.sets.get(customerId) ?? { version: 1n, features: [] };
      return { version: set.version, entitlements: this.entitlements(set.features) };
    };
    const queue = this.queue;
    const waitForPush = () => new Promise<void>((resolve) => (this.wake = resolve));
    async function* watchProjectChanges() {
      yield { kind: billing.ProjectChangeKind.READY, position: '1-0' };
      for (;;) {
        const next = queue.shift();
        if (next) yield next;
        else await waitForPush();
      }
    }
    return { listEntitlements, watchProjectChanges } as unknown as ConstructorParameters<
      typeof billing.LocalEvaluator
    >[0]['entitlements'];
  }

  entitlements(features: string[]) {
    return features.map((feature) => ({ feature, allowed: true })) as never;
  }

  push(
    kind: 'customer' | 'project' | 'resync',
    customerId = '',
    version = 0n,
    features: string[] = [],
  ) {
    const kinds = {
      customer: billing.ProjectChangeKind.CUSTOMER,
      project: billing.ProjectChangeKind.PROJECT,
      resync: billing.ProjectChangeKind.RESYNC,
    };
    this.queue.push({
      kind: kinds[kind],
      position: `${this.queue.length + 2}-0`,
      customerId,
      version,
      entitlements: this.entitlements(features),
    } as never);
    this.wake?.();
  }
}

async function standInEvaluator(t: { teardown: (fn: () => void) => void }, maxCustomers?: number) {
  const service = new StandInService();
  const evaluator = new billing.LocalEvaluator({
    entitlements: service.client(),
    ...(maxCustomers === undefined ? {} : { maxCustomers }),
  });
  t.teardown(() => evaluator.close());
  await evaluator.whenReady();
  return { service, evaluator };
}

test('local evaluator (in memory): a newer version replaces, an older one never does', async (t) => {
  const { service, evaluator } = await standInEvaluator(t);
  service.sets.set('c1', { version: 5n, features: ['a'] });
  await evaluator.check('c1', 'a');
  const newer = changed(evaluator, 'c1', () => evaluator.isAllowed('c1', 'b') === true);
  service.push('customer', 'c1', 4n, ['z']); // older than what is held: ignored
  service.push('customer', 'c1', 6n, ['b']);
  await newer;
  t.false(evaluator.isAllowed('c1', 'a'));
  t.false(evaluator.isAllowed('c1', 'z'));
  t.is((await evaluator.check('c1', 'b')).version, 6n);
});

test('local evaluator (in memory): a change that lands during a fill wins over the older fill', async (t) => {
  const { service, evaluator } = await standInEvaluator(t);
  await evaluator.check('marker', 'x');
  let open = () => {};
  service.gate = new Promise((resolve) => (open = resolve));
  service.sets.set('c2', { version: 3n, features: ['old'] });
  const filling = evaluator.check('c2', 'new');
  // The feed is read in order: once the marker's change is told, c2's was applied too.
  const passed = changed(evaluator, 'marker', () => evaluator.isAllowed('marker', 'x') === true);
  service.push('customer', 'c2', 4n, ['new']);
  service.push('customer', 'marker', 2n, ['x']);
  await passed;
  open();
  t.like(await filling, { allowed: true, version: 4n });
});

test('local evaluator (in memory): a resync or a catalog change drops every customer', async (t) => {
  const { service, evaluator } = await standInEvaluator(t);
  service.sets.set('c3', { version: 2n, features: ['a'] });
  await evaluator.check('c3', 'a');
  const dropped = changed(evaluator, '', () => evaluator.size === 0);
  service.push('project');
  await dropped;
  t.is(evaluator.isAllowed('c3', 'a'), undefined);
  await evaluator.check('c3', 'a');
  const resynced = changed(evaluator, '', () => evaluator.size === 0);
  service.push('resync');
  await resynced;
  t.is(evaluator.size, 0);
});

test('local evaluator (in memory): past maxCustomers, one not used since the last sweep goes', async (t) => {
  const { evaluator } = await standInEvaluator(t, 3);
  for (const id of ['a', 'b', 'c']) await evaluator.check(id, 'f');
  // Every one is marked used: the sweep clears all three marks and the oldest, a, goes.
  await evaluator.check('d', 'f');
  evaluator.isAllowed('b', 'f'); // b marked again; c is not
  await evaluator.check('e', 'f'); // the sweep passes b (clearing it) and takes c
  t.is(evaluator.size, 3);
  t.is(evaluator.isAllowed('b', 'f'), false, 'used since the sweep: kept');
  t.is(evaluator.isAllowed('c', 'f'), undefined, 'not used since the sweep: gone');
});

test('local evaluator (in memory): an unknown customer while unreachable is refused by default', async (t) => {
  const { service, evaluator } = await standInEvaluator(t);
  service.unreachable = true;
  t.like(await evaluator.check('nobody', 'a'), { allowed: false, from: 'policy' });
  t.is(await evaluator.list('nobody'), undefined);
});

test('OpenFeature server provider: flags answered by the local evaluator, and an event per change', async (t) => {
  const { evaluator, client, close } = await evaluatorFor(smoke.baseUrl, smoke.adminKey);
  t.teardown(close);
  await client.admin.grantEntitlement({
    customerId: 'of-local',
    feature: 'seats',
    limit: 7n,
    reason: 'provider test',
  });
  await OpenFeature.setProviderAndWait(
    'billing-local',
    new openFeatureProvider.BillingFeatureProvider(evaluator),
  );
  t.teardown(() => OpenFeature.clearProviders());
  const flags = OpenFeature.getClient('billing-local');
  const context = { targetingKey: 'of-local' };

  const first = await flags.getBooleanDetails('seats', false, context);
  t.like(first, { value: true, reason: 'TARGETING_MATCH', variant: 'allowed' });
  t.like(first.flagMetadata, { allowed: true, limit: 7 });
  t.like(await flags.getBooleanDetails('seats', false, context), { reason: 'CACHED' });
  t.is(await flags.getNumberValue('seats', -1, context), 7);
  t.like(await flags.getObjectValue('seats', {}, context), { feature: 'seats', limit: '7' });
  t.is(await flags.getNumberValue('reports', -1, context), 0, 'not allowed: 0');
  t.is((await flags.getStringDetails('seats', '', context)).errorCode, ErrorCode.TYPE_MISMATCH);
  t.is(
    (await flags.getBooleanDetails('seats', true, {})).errorCode,
    ErrorCode.TARGETING_KEY_MISSING,
  );

  const told = new Promise<unknown>((resolve) =>
    flags.addHandler(ProviderEvents.ConfigurationChanged, (event) => resolve(event?.metadata)),
  );
  await client.admin.grantEntitlement({ customerId: 'of-local', feature: 'reports', reason: 'r' });
  t.deepEqual(await told, { customerId: 'of-local' });
  t.true(await flags.getBooleanValue('reports', false, context));
});

test('OpenFeature web provider: a customer token’s own flags, synchronous, following a grant', async (t) => {
  const admin = billing.createBillingClient({ baseUrl: smoke.baseUrl, apiKey: smoke.adminKey });
  t.teardown(() => admin.close());
  await admin.admin.grantEntitlement({
    customerId: 'of-web',
    feature: 'seats',
    limit: 3n,
    reason: 'web provider test',
  });
  const { token } = await admin.entitlements.issueCustomerToken({ customerId: 'of-web' });
  const browser = billing.createBillingClient({ baseUrl: smoke.baseUrl, apiKey: token });
  t.teardown(() => browser.close());
  await WebFeatures.setContext('billing-web', { targetingKey: 'of-web' });
  await WebFeatures.setProviderAndWait(
    'billing-web',
    new openFeatureWebProvider.BillingWebProvider({ entitlements: browser.entitlements }),
  );
  t.teardown(() => WebFeatures.clearProviders());
  const flags = WebFeatures.getClient('billing-web');
  t.true(flags.getBooleanValue('seats', false));
  t.is(flags.getNumberValue('seats', -1), 3);
  t.false(flags.getBooleanValue('reports', true));
  const changed = new Promise<void>((resolve) =>
    flags.addHandler(WebProviderEvents.ConfigurationChanged, () => {
      if (flags.getBooleanValue('reports', false)) resolve();
    }),
  );
  await admin.admin.grantEntitlement({ customerId: 'of-web', feature: 'reports', reason: 'r' });
  await changed;
  t.like(flags.getObjectValue('reports', {}), { feature: 'reports', allowed: true });
});

test('local evaluator (in memory): checks of one customer that miss together share one fetch', async (t) => {
  const { service, evaluator } = await standInEvaluator(t);
  service.sets.set('c6', { version: 2n, features: ['a'] });
  const answers = await Promise.all([1, 2, 3].map(() => evaluator.check('c6', 'a')));
  t.true(answers.every((answer) => answer.allowed));
  t.is(service.fills, 1);
});
