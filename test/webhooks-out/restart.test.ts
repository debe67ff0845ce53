// needs: mongodb redis
/**
 * No outbound event is lost across a restart: a delivery in flight when
 * the service stops is recorded as interrupted and due again, and the next
 * instance on the same database sends it and everything queued behind it,
 * in order, with the same event ids. And two replicas scanning one outbox
 * (each kicks its own scans) send every event once, in order per customer.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { createTestProject, startTestApp, type TestApp } from '../helpers/app.js';
import { uniqueDbName } from '../helpers/services.js';
import { eventOf, WebhookReceiver } from '../helpers/webhook-receiver.js';

const env = {
  OUTBOUND_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
  OUTBOUND_WEBHOOK_RETRY_BASE_MS: '50',
  OUTBOUND_WEBHOOK_RETRY_MAX_MS: '200',
  OUTBOUND_WEBHOOK_TIMEOUT_MS: '120000',
  // Only the in-process scans (and the start's): the restart must not wait for a schedule.
  OUTBOUND_WEBHOOK_CRON: 'off',
};

let receiver: WebhookReceiver;
const apps: TestApp[] = [];

test.before(async () => {
  receiver = await WebhookReceiver.start();
});

test.after.always(async () => {
  for (const app of apps) await app.app.stop();
  await receiver?.close();
});

const adminOf = (server: TestApp) =>
  createClient(
    AdminService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  );

test('deliveries pending or in flight at a stop are sent by the next instance, in order', async (t) => {
  const database = uniqueDbName('outbound-restart');
  const first = await startTestApp({ database, env });
  apps.push(first);
  const project = await createTestProject(first.app, 'restart');
  const auth = { headers: { authorization: `Bearer ${project.adminKey}` } };
  const path = `/hooks/${randomUUID()}`;
  // The first attempt is held until the service stops; the receiver is down after it.
  receiver.setPolicy(path, (nth) => (nth === 1 ? 'hold' : 503));
  const created = await adminOf(first).createWebhookEndpoint(
    { url: receiver.url(path), eventTypes: ['entitlement.changed'], reason: 'restart test' },
    auth,
  );
  const endpointId = created.endpoint?.id ?? '';
  for (const feature of ['one', 'two', 'three']) {
    await adminOf(first).grantEntitlement(
      { customerId: 'restart-user', feature, reason: 'restart test' },
      auth,
    );
  }
  const held = await receiver.next((hook) => hook.path === path);
  await first.app.stop();

  receiver.setPolicy(path, () => 200);
  const second = await startTestApp({ database, env });
  apps.push(second);
  const last = await receiver.next(
    (hook) =>
      hook.path === path &&
      hook.status === 200 &&
      JSON.stringify(eventOf(hook).data.object.changed_features) === '["three"]',
  );
  const accepted = receiver.on(path).filter((hook) => hook.status === 200);
  t.deepEqual(
    accepted.map((hook) => eventOf(hook).data.object.changed_features),
    [['one'], ['two'], ['three']],
  );
  t.is(accepted[0]?.headers['billing-event-id'], held.headers['billing-event-id']);
  t.is(last.headers['billing-event-id'], eventOf(last).id);

  const detail = await adminOf(second).getWebhookDelivery(
    { deliveryId: `${endpointId}:${eventOf(held).id}` },
    auth,
  );
  const attempts = detail.attempts.map((attempt) => [attempt.statusCode, attempt.error]);
  t.deepEqual(attempts.at(-1), [200, '']);
  t.is(attempts[0]?.[0], 0, 'the attempt cut off by the stop got no answer');
  t.regex(String(attempts[0]?.[1]), /abort/i);
});

test('two replicas scanning one outbox send each event once, in order per customer', async (t) => {
  const database = uniqueDbName('outbound-replicas');
  const a = await startTestApp({ database, env });
  const b = await startTestApp({ database, env });
  apps.push(a, b);
  const project = await createTestProject(a.app, 'replicas');
  const auth = { headers: { authorization: `Bearer ${project.adminKey}` } };
  const path = `/hooks/${randomUUID()}`;
  await adminOf(a).createWebhookEndpoint(
    { url: receiver.url(path), eventTypes: ['entitlement.changed'], reason: 'replicas test' },
    auth,
  );
  const customers = ['c1', 'c2', 'c3'];
  const features = ['f1', 'f2', 'f3', 'f4'];
  // Each replica records half of the changes, so both kick their scans.
  for (const [i, feature] of features.entries()) {
    for (const customerId of customers) {
      const replica = (i + customers.indexOf(customerId)) % 2 === 0 ? a : b;
      await adminOf(replica).grantEntitlement({ customerId, feature, reason: 'replicas' }, auth);
    }
  }
  const lastOf = (customerId: string) =>
    receiver.next(
      (hook) =>
        hook.path === path &&
        eventOf(hook).data.object.customer_id === customerId &&
        JSON.stringify(eventOf(hook).data.object.changed_features) === '["f4"]',
    );
  await Promise.all(customers.map(lastOf));
  const hooks = receiver.on(path);
  const ids = hooks.map((hook) => eventOf(hook).id);
  t.is(ids.length, customers.length * features.length, 'every event once');
  t.is(new Set(ids).size, ids.length, 'no event twice');
  for (const customerId of customers) {
    t.deepEqual(
      hooks
        .filter((hook) => eventOf(hook).data.object.customer_id === customerId)
        .map((hook) => eventOf(hook).data.object.changed_features),
      features.map((feature) => [feature]),
      `${customerId}'s events in order`,
    );
  }
});
