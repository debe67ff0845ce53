// needs: mongodb redis
/**
 * Two service instances sharing MongoDB and Redis, as replicas behind a load
 * balancer: a webhook applied by one reaches a stream opened on the other,
 * and so does an admin grant and its expiry.
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
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { makeEvent, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';

let a: BillingHarness;
let b: TestApp;

test.before(async () => {
  a = await startBillingHarness();
  b = await startTestApp({
    database: a.server.config.mongodbDatabase,
    env: { STRIPE_API_URL: a.fake.url },
  });
});

test.after.always(async () => {
  await b?.app.stop();
  await a?.close();
});

type Stream = AsyncIterator<WatchEntitlementsResponse>;

function watchOnB(customerId: string, signal: AbortSignal): Stream {
  const client = createClient(EntitlementsService, createGrpcTransport({ baseUrl: b.baseUrl }));
  return client.watchEntitlements({ customerId }, { ...a.auth, signal })[Symbol.asyncIterator]();
}

async function nextChange(stream: Stream): Promise<WatchEntitlementsResponse> {
  for (;;) {
    const next = await stream.next();
    if (next.done) throw new Error('stream ended');
    if (next.value.kind !== WatchEventKind.HEARTBEAT) return next.value;
  }
}

const features = (message: WatchEntitlementsResponse) => message.entitlements.map((e) => e.feature);

test('a webhook posted to one instance reaches a stream on the other', async (t) => {
  const customer = await a.linkCustomer('rep-user');
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const stream = watchOnB('rep-user', abort.signal);
  t.deepEqual(features(await nextChange(stream)), []);
  const sub = makeSubscription({
    customer,
    status: 'active',
    items: [{ price: 'price_pro_monthly', product: 'prod_pro', quantity: 2 }],
  });
  const answer = await a.post(
    makeEvent({ type: 'customer.subscription.created', object: sub, created: nowSeconds() }),
  );
  t.is(answer.status, 200);
  const change = await nextChange(stream);
  t.is(change.kind, WatchEventKind.CHANGE);
  t.deepEqual(features(change), ['reports', 'seats']);
  t.is(change.entitlements.find((e) => e.feature === 'seats')?.limit, 2n);
});

test('a grant made on one instance, and its expiry, reach a stream on the other', async (t) => {
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const stream = watchOnB('rep-grant', abort.signal);
  await nextChange(stream);
  const adminOnA = createClient(AdminService, createGrpcTransport({ baseUrl: a.server.baseUrl }));
  await adminOnA.grantEntitlement(
    {
      customerId: 'rep-grant',
      feature: 'pilot',
      // Far enough ahead for the grant to reach the stream first on a loaded machine.
      expiresAt: timestampFromMs(Date.now() + 5000),
      reason: 'r',
    },
    a.auth,
  );
  t.deepEqual(features(await nextChange(stream)), ['pilot']);
  t.deepEqual(features(await nextChange(stream)), []);
});
