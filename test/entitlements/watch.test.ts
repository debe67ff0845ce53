// needs: mongodb redis
/**
 * WatchEntitlements on one instance: the current set first, then one message
 * per change, heartbeats when idle, expiry pushed without any event, a slow
 * consumer gets the newest set instead of a backlog, and shutdown ends
 * streams.
 */
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import {
  EntitlementsService,
  type WatchEntitlementsResponse,
  WatchEventKind,
} from '../../gen/billing/v1/entitlements_pb.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';

let server: TestApp;
let project: TestProject;

test.before(async () => {
  server = await startTestApp({ env: { WATCH_HEARTBEAT_MS: '300' } });
  project = await createTestProject(server.app, 'watch');
});

test.after.always(async () => {
  await server?.app.stop();
});

const transport = () => createGrpcTransport({ baseUrl: server.baseUrl });
const auth = () => ({ headers: { authorization: `Bearer ${project.adminKey}` } });
const admin = () => createClient(AdminService, transport());

type Stream = AsyncIterator<WatchEntitlementsResponse>;

function open(customerId: string, signal: AbortSignal): Stream {
  const client = createClient(EntitlementsService, transport());
  return client.watchEntitlements({ customerId }, { ...auth(), signal })[Symbol.asyncIterator]();
}

/** The next message that is not a heartbeat. */
async function nextChange(stream: Stream): Promise<WatchEntitlementsResponse> {
  for (;;) {
    const next = await stream.next();
    if (next.done) throw new Error('stream ended');
    if (next.value.kind !== WatchEventKind.HEARTBEAT) return next.value;
  }
}

const features = (message: WatchEntitlementsResponse) => message.entitlements.map((e) => e.feature);

test('snapshot first, then every grant and revoke as a change', async (t) => {
  const abort = new AbortController();
  const stream = open('w-user', abort.signal);
  const first = await nextChange(stream);
  t.is(first.kind, WatchEventKind.SNAPSHOT);
  t.deepEqual(features(first), []);

  const { grant } = await admin().grantEntitlement(
    { customerId: 'w-user', feature: 'beta', reason: 'r' },
    auth(),
  );
  const granted = await nextChange(stream);
  t.is(granted.kind, WatchEventKind.CHANGE);
  t.deepEqual(features(granted), ['beta']);

  await admin().revokeGrant({ grantId: grant?.id ?? '', reason: 'r' }, auth());
  const revoked = await nextChange(stream);
  t.deepEqual(features(revoked), []);
  abort.abort();
});

test('an idle stream gets heartbeats', async (t) => {
  const abort = new AbortController();
  const stream = open('w-idle', abort.signal);
  await nextChange(stream);
  const next = await stream.next();
  t.is(next.value?.kind, WatchEventKind.HEARTBEAT);
  abort.abort();
});

test('a grant that expires reaches the stream without any event', async (t) => {
  // Far enough ahead for the grant and the snapshot to come first on a loaded machine.
  const expiresAt = Date.now() + 5000;
  await admin().grantEntitlement(
    {
      customerId: 'w-expiry',
      feature: 'trial',
      expiresAt: timestampFromMs(expiresAt),
      reason: 'r',
    },
    auth(),
  );
  const abort = new AbortController();
  const stream = open('w-expiry', abort.signal);
  const first = await nextChange(stream);
  t.deepEqual(features(first), ['trial']);
  const expired = await nextChange(stream);
  t.is(expired.kind, WatchEventKind.CHANGE);
  t.deepEqual(features(expired), []);
  t.true(Date.now() >= expiresAt);
  abort.abort();
});

test('a slow consumer gets the newest set, not a backlog', async (t) => {
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const stream = open('w-slow', abort.signal);
  await nextChange(stream);
  // Enough changes, with growing sets, to fill the HTTP/2 flow-control
  // windows while the consumer reads nothing: the server must then wait.
  const changes = 200;
  for (let i = 0; i < changes; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, (_, j) =>
        admin().grantEntitlement(
          {
            customerId: 'w-slow',
            feature: `feature-with-a-long-name-${String(i + j).padStart(3, '0')}`,
            reason: 'r',
          },
          auth(),
        ),
      ),
    );
  }
  // A second stream, read at once on a connection of its own, shows when the last change has
  // reached this instance's watchers: the slow one has been told of every change by then.
  const fast = open('w-slow', abort.signal);
  while ((await nextChange(fast)).entitlements.length < changes) {
    // not there yet
  }
  let message = await nextChange(stream);
  let received = 1;
  while (message.entitlements.length < changes) {
    message = await nextChange(stream);
    received += 1;
  }
  t.is(message.entitlements.length, changes);
  t.true(received < changes / 2, `caught up in ${received} messages for ${changes} changes`);
});

test('a client that reconnects gets the current set as a snapshot', async (t) => {
  const first = new AbortController();
  const stream = open('w-resume', first.signal);
  await nextChange(stream);
  first.abort();
  await admin().grantEntitlement(
    { customerId: 'w-resume', feature: 'missed', reason: 'r' },
    auth(),
  );
  const again = new AbortController();
  const resumed = await nextChange(open('w-resume', again.signal));
  t.is(resumed.kind, WatchEventKind.SNAPSHOT);
  t.deepEqual(features(resumed), ['missed']);
  again.abort();
});

test('another customer’s changes are not sent', async (t) => {
  const abort = new AbortController();
  const stream = open('w-quiet', abort.signal);
  await nextChange(stream);
  await admin().grantEntitlement({ customerId: 'w-noisy', feature: 'beta', reason: 'r' }, auth());
  const next = await stream.next();
  t.is(next.value?.kind, WatchEventKind.HEARTBEAT);
  abort.abort();
});

test('shutdown ends open streams', async (t) => {
  const own = await startTestApp();
  const ownProject = await createTestProject(own.app, 'shutdown');
  const client = createClient(EntitlementsService, createGrpcTransport({ baseUrl: own.baseUrl }));
  const stream = client
    .watchEntitlements(
      { customerId: 'x' },
      { headers: { authorization: `Bearer ${ownProject.adminKey}` } },
    )
    [Symbol.asyncIterator]();
  await stream.next();
  const stopping = own.app.stop();
  // Ends, cleanly or with an error: a stream left open would hold this test until ava's timeout.
  try {
    while (!(await stream.next()).done) {
      // drain
    }
  } catch {
    // ended by the server
  }
  await stopping;
  t.pass('the stream ended');
});
