// needs: mongodb redis
/**
 * Versions and the project change feed, end to end over gRPC on two
 * instances sharing MongoDB and Redis: every answer carries the customer's
 * version, a watch resumes from it without a snapshot when nothing was
 * missed, and WatchProjectChanges on one replica streams every change made
 * on the other, resuming after a disconnect without losing one.
 */
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { Redis } from 'ioredis';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import {
  EntitlementsService,
  ProjectChangeKind,
  type WatchEntitlementsResponse,
  WatchEventKind,
  type WatchProjectChangesResponse,
} from '../../gen/billing/v1/entitlements_pb.js';
import { RedisEntitlementCache } from '../../src/cache/entitlement-cache.js';
import { createLogger } from '../../src/logger.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';
import { testRedisUrl } from '../helpers/services.js';

let a: TestApp;
let b: TestApp;

test.before(async () => {
  const env = {
    WATCH_HEARTBEAT_MS: '300',
    CUSTOMER_TOKEN_SECRETS: 'change-feed-test-token-secret-0123456789',
  };
  a = await startTestApp({ env });
  b = await startTestApp({ database: a.config.mongodbDatabase, env });
});

test.after.always(async () => {
  await b?.app.stop();
  await a?.app.stop();
});

const transport = (server: TestApp) => createGrpcTransport({ baseUrl: server.baseUrl });
const admin = (server: TestApp = a) => createClient(AdminService, transport(server));
const entitlements = (server: TestApp = a) => createClient(EntitlementsService, transport(server));

/** A project of its own for each test: tests run at once, and a feed is project-wide. */
async function world() {
  const project: TestProject = await createTestProject(a.app, 'change feed');
  const auth = () => ({ headers: { authorization: `Bearer ${project.adminKey}` } });
  const grant = (customerId: string, feature: string) =>
    admin().grantEntitlement({ customerId, feature, reason: 'feed test' }, auth());
  const openFeed = (server: TestApp, signal: AbortSignal, resumeAfter = ''): Feed =>
    entitlements(server)
      .watchProjectChanges({ resumeAfter }, { ...auth(), signal })
      [Symbol.asyncIterator]();
  const openWatch = (customerId: string, signal: AbortSignal, resumeFromVersion = 0n): Watch =>
    entitlements(b)
      .watchEntitlements({ customerId, resumeFromVersion }, { ...auth(), signal })
      [Symbol.asyncIterator]();
  return { project, auth, grant, openFeed, openWatch };
}

type Feed = AsyncIterator<WatchProjectChangesResponse>;
type Watch = AsyncIterator<WatchEntitlementsResponse>;

/** The next message of the feed that is not a heartbeat. */
async function nextOf(feed: Feed): Promise<WatchProjectChangesResponse> {
  for (;;) {
    const next = await feed.next();
    if (next.done) throw new Error('feed ended');
    if (next.value.kind !== ProjectChangeKind.HEARTBEAT) return next.value;
  }
}

/** Feed messages until one for `customerId` whose set has `feature`. */
async function untilCustomerHas(
  feed: Feed,
  customerId: string,
  feature: string,
): Promise<WatchProjectChangesResponse> {
  for (;;) {
    const message = await nextOf(feed);
    const features = message.entitlements.map((e) => e.feature);
    if (message.customerId === customerId && features.includes(feature)) return message;
  }
}

test('every change of a customer answers a larger version, on both replicas alike', async (t) => {
  const { auth, grant } = await world();
  const check = (server: TestApp) =>
    entitlements(server).checkEntitlement({ customerId: 'v-user', feature: 'beta' }, auth());
  await grant('v-user', 'alpha');
  const first = await check(a);
  t.true(first.version > 0n);
  await grant('v-user', 'beta');
  const onA = await check(a);
  const onB = await check(b);
  t.true(onA.entitlement?.allowed);
  t.true(onA.version > first.version);
  t.is(onB.version, onA.version, 'one version, whichever replica answers');
  const list = await entitlements(b).listEntitlements({ customerId: 'v-user' }, auth());
  t.is(list.version, onA.version);
});

async function first(stream: Watch): Promise<WatchEntitlementsResponse> {
  const next = await stream.next();
  if (next.done) throw new Error('stream ended');
  return next.value;
}

test('a watch resumed from the current version starts with a heartbeat; from an older one, with a snapshot', async (t) => {
  const { grant, openWatch } = await world();
  await grant('r-user', 'alpha');
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const snapshot = await first(openWatch('r-user', abort.signal));
  t.is(snapshot.kind, WatchEventKind.SNAPSHOT);
  t.true(snapshot.version > 0n);

  const resumed = await first(openWatch('r-user', abort.signal, snapshot.version));
  t.is(resumed.kind, WatchEventKind.HEARTBEAT);
  t.is(resumed.version, snapshot.version);
  t.deepEqual(resumed.entitlements, []);

  await grant('r-user', 'beta');
  const missed = await first(openWatch('r-user', abort.signal, snapshot.version));
  t.is(missed.kind, WatchEventKind.SNAPSHOT);
  t.deepEqual(
    missed.entitlements.map((e) => e.feature),
    ['alpha', 'beta'],
  );
  t.true(missed.version > snapshot.version);
});

test('the feed on one replica streams a change made on the other, with the new set and its version', async (t) => {
  const { auth, grant, openFeed } = await world();
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const feed = openFeed(b, abort.signal);
  const ready = await nextOf(feed);
  t.is(ready.kind, ProjectChangeKind.READY);
  t.not(ready.position, '');
  await grant('f-user', 'reports');
  const change = await untilCustomerHas(feed, 'f-user', 'reports');
  t.is(change.kind, ProjectChangeKind.CUSTOMER);
  const check = await entitlements(a).checkEntitlement(
    { customerId: 'f-user', feature: 'reports' },
    auth(),
  );
  t.is(change.version, check.version);
});

test('a feed resumed after a disconnect gets every change made meanwhile, and nothing before', async (t) => {
  const { grant, openFeed } = await world();
  const abort = new AbortController();
  const feed = openFeed(a, abort.signal);
  await nextOf(feed);
  await grant('d-user-1', 'before');
  const seen = await untilCustomerHas(feed, 'd-user-1', 'before');
  abort.abort();

  await grant('d-user-2', 'meanwhile');
  await grant('d-user-3', 'meanwhile');
  const again = new AbortController();
  t.teardown(() => again.abort());
  const resumed = openFeed(b, again.signal, seen.position);
  const ready = await nextOf(resumed);
  t.is(ready.kind, ProjectChangeKind.READY);
  t.is(ready.position, seen.position);
  const next = [await nextOf(resumed), await nextOf(resumed)];
  t.deepEqual(
    next.map((m) => [m.customerId, m.entitlements.map((e) => e.feature)]),
    [
      ['d-user-2', ['meanwhile']],
      ['d-user-3', ['meanwhile']],
    ],
  );
});

test('a catalog change reaches the feed as a project change', async (t) => {
  const { auth, openFeed } = await world();
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const feed = openFeed(b, abort.signal);
  await nextOf(feed);
  await admin().setCatalog(
    {
      entries: [{ stripeId: 'price_feed', features: [{ feature: 'reports' }] }],
      reason: 'feed test',
    },
    auth(),
  );
  for (;;) {
    const message = await nextOf(feed);
    if (message.kind === ProjectChangeKind.PROJECT) break;
  }
  t.pass();
});

async function codeOf(call: () => Promise<unknown>): Promise<Code | undefined> {
  try {
    await call();
    return undefined;
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

test('the feed refuses customer tokens and positions it never gave', async (t) => {
  const { auth } = await world();
  const { token } = await entitlements().issueCustomerToken({ customerId: 'tok-user' }, auth());
  const withToken = { headers: { authorization: `Bearer ${token}` } };
  const read = (resumeAfter: string, options: { headers: Record<string, string> }) => async () => {
    const abort = new AbortController();
    const stream = entitlements().watchProjectChanges(
      { resumeAfter },
      { ...options, signal: abort.signal },
    );
    try {
      for await (const _ of stream) return;
    } finally {
      abort.abort();
    }
  };
  t.is(await codeOf(read('', withToken)), Code.PermissionDenied);
  t.is(await codeOf(read('not-a-position', auth())), Code.InvalidArgument);
});

test('a change whose entry is read before its broadcast evicts this replica is still sent new', async (t) => {
  const { project, auth, grant, openFeed } = await world();
  await grant('race-x', 'alpha');
  // B holds race-x in memory now, at the version of that grant.
  const held = await entitlements(b).listEntitlements({ customerId: 'race-x' }, auth());
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const feed = openFeed(b, abort.signal);
  await nextOf(feed);

  // The change is counted and fed, and its broadcast has not left yet (as
  // between a webhook's bump and its publish on another replica).
  const redis = new Redis(testRedisUrl());
  t.teardown(() => redis.disconnect());
  const cache = new RedisEntitlementCache(redis, createLogger({ level: 'error' }));
  await cache.invalidate(project.projectId, 'race-x');
  const counted = (await cache.lookup(project.projectId, 0, 'race-x')).version;
  t.true(counted > Number(held.version));

  await grant('race-y', 'beta'); // its broadcast wakes the feed on B, which reads both entries
  for (;;) {
    const message = await nextOf(feed);
    if (message.customerId !== 'race-x') continue;
    t.is(message.version, BigInt(counted), 'not the older set B still held');
    break;
  }
});
