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
import test from 'ava';
import type * as BillingClientPackage from '../../clients/ts/index.js';
import { REPO_ROOT } from '../../scripts/lib/local-services.js';
import { runChild, type SmokeServer, startSmokeServer } from '../helpers/client-smoke.js';

const CLIENT_DIR = path.join(REPO_ROOT, 'clients', 'ts');
let smoke: SmokeServer;
let billing: typeof BillingClientPackage;
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
  billing = await import(pathToFileURL(path.join(consumer, 'index.js')).href);
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
