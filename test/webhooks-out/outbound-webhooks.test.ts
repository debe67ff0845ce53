// needs: mongodb redis
/**
 * Outbound webhooks end to end, to receivers on loopback (allowed by
 * OUTBOUND_WEBHOOK_ALLOWED_HOSTS): an endpoint's secret is shown once and
 * every delivery verifies with Stripe's SDK under it; a 500 is retried with
 * the same event id; a customer's events arrive in version order, also
 * across a failure; a slow endpoint does not hold up another; each event
 * type comes from what makes it (a grant, a Stripe webhook, TrackUsage, the
 * grant.expiring job); the delivery log, replays, refusals and counters.
 * Each test has a project of its own, as endpoints receive a whole project.
 */
import { randomUUID } from 'node:crypto';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import Stripe from 'stripe';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { WebhookDeliveryStatus } from '../../gen/billing/v1/webhook_endpoints_pb.js';
import type { CatalogEntryDoc } from '../../src/store/documents.js';
import { scrapeAll } from '../helpers/app.js';
import {
  type BillingHarness,
  defaultCatalog,
  type HarnessProject,
  startBillingHarness,
} from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';
import { makeEvent, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';
import { waitFor } from '../helpers/wait.js';
import { eventOf, type ReceivedHook, WebhookReceiver } from '../helpers/webhook-receiver.js';

/** `messages`: metered, its allowance given by grants' limits, counted per year. */
const messages = {
  feature: 'messages',
  limit: null,
  limit_per_unit: false,
  kind: 'metered' as const,
  metered: {
    allowance: 0,
    allowance_per_unit: false,
    reset: 'year' as const,
    overage: 'allow' as const,
    stripe_meter_event_name: null,
  },
};
const catalog: CatalogEntryDoc[] = defaultCatalog.map((entry) =>
  entry.stripe_id === 'price_pro_monthly'
    ? { ...entry, features: [...entry.features, messages] }
    : entry,
);

let h: BillingHarness;
let receiver: WebhookReceiver;
const stripe = new Stripe('sk_test_unused_for_verification');

test.before(async () => {
  receiver = await WebhookReceiver.start();
  h = await startBillingHarness({
    catalog,
    env: {
      OUTBOUND_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      OUTBOUND_WEBHOOK_RETRY_BASE_MS: '50',
      OUTBOUND_WEBHOOK_RETRY_MAX_MS: '200',
      // A held receiver is released by its test, never timed out.
      OUTBOUND_WEBHOOK_TIMEOUT_MS: '120000',
      GRANT_EXPIRING_CRON: 'off',
    },
  });
});

test.after.always(async () => {
  await h?.close();
  await receiver?.close();
});

const transport = () => createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' });
const admin = () => createClient(AdminService, transport());
const entitlements = () => createClient(EntitlementsService, transport());
const as = (project: { adminKey: string }) => ({
  headers: { authorization: `Bearer ${project.adminKey}` },
});

async function newProject(): Promise<HarnessProject> {
  return h.addProject(`outbound ${randomUUID().slice(0, 8)}`);
}

async function endpointFor(
  project: HarnessProject,
  path: string,
  eventTypes: string[],
): Promise<{ id: string; secret: string }> {
  const created = await admin().createWebhookEndpoint(
    { url: receiver.url(path), eventTypes, description: path, reason: 'test receiver' },
    as(project),
  );
  return { id: created.endpoint?.id ?? '', secret: created.secret };
}

async function grant(project: HarnessProject, customerId: string, feature: string, more = {}) {
  const answer = await admin().grantEntitlement(
    { customerId, feature, reason: `grant ${feature}`, ...more },
    as(project),
  );
  return answer.grant?.id ?? '';
}

/** The hook verifies under `secret` with Stripe's SDK; its event. */
function verified(hook: ReceivedHook, secret: string): Stripe.Event {
  const header = hook.headers['billing-signature'];
  if (typeof header !== 'string') throw new Error('no Billing-Signature header');
  return stripe.webhooks.constructEvent(hook.body, header, secret);
}

/** A message as text, to search for a secret in it. */
const textOf = (message: unknown) =>
  JSON.stringify(message, (_key, value: unknown) =>
    typeof value === 'bigint' ? String(value) : value,
  );

async function deliveryOf(project: HarnessProject, deliveryId: string) {
  return admin().getWebhookDelivery({ deliveryId }, as(project));
}

test('the secret shows once, deliveries verify under it, and a 500 is retried with the same event id', async (t) => {
  const project = await newProject();
  const path = `/hooks/${randomUUID()}`;
  receiver.setPolicy(path, (nth) => (nth === 1 ? 500 : 200));
  const endpoint = await endpointFor(project, path, ['entitlement.changed']);
  t.regex(endpoint.id, /^we_[0-9a-f]{24}$/);
  t.regex(endpoint.secret, /^whsec_[0-9a-f]{48}$/);
  const listed = await admin().listWebhookEndpoints({}, as(project));
  t.deepEqual(
    listed.endpoints.map((e) => [e.id, e.url, e.eventTypes]),
    [[endpoint.id, receiver.url(path), ['entitlement.changed']]],
  );
  t.false(textOf(listed).includes(endpoint.secret), 'the secret is never listed');

  const grantId = await grant(project, 'hook-user', 'beta');
  const retried = await receiver.next((hook) => hook.path === path && hook.status === 200);
  const [first, second] = receiver.on(path);
  if (!first || !second) throw new Error('expected two attempts');
  t.is(first.status, 500);
  t.is(first.headers['billing-event-id'], second.headers['billing-event-id']);
  t.is(first.body, second.body, 'the same bytes in every attempt');
  t.is(second.headers['billing-delivery-attempt'], '2');
  const event = verified(retried, endpoint.secret);
  t.is(event.id, String(second.headers['billing-event-id']));
  t.is(String(event.type), 'entitlement.changed');
  t.throws(() => verified(retried, 'whsec_someone_else'));
  const data = eventOf(retried).data.object;
  t.like(data, { customer_id: 'hook-user', changed_features: ['beta'] });
  t.like(data, { cause: { kind: 'grant', id: grantId } });
  t.like((data.entitlements as unknown[])[0], {
    feature: 'beta',
    allowed: true,
    sources: [{ kind: 'grant', id: grantId }],
  });
  t.true(Number(data.version) > 0);

  const deliveryId = `${endpoint.id}:${event.id}`;
  const delivery = await waitFor(() => deliveryOf(project, deliveryId), {
    what: 'the delivery recorded as succeeded',
    until: (d) => d.delivery?.status === WebhookDeliveryStatus.SUCCEEDED,
  });
  t.like(delivery.delivery, {
    attempts: 2,
    lastStatusCode: 200,
    lastError: '',
    payload: first.body,
  });
  t.deepEqual(
    delivery.attempts.map((a) => [a.number, a.statusCode, a.error]),
    [
      [1, 500, 'answered HTTP 500'],
      [2, 200, ''],
    ],
  );
  const log = await admin().listWebhookDeliveries({ endpointId: endpoint.id }, as(project));
  t.deepEqual(
    log.deliveries.map((d) => d.id),
    [deliveryId],
  );

  const replayed = await admin().replayWebhookDelivery(
    { deliveryId, reason: 'the product lost it' },
    as(project),
  );
  t.is(replayed.delivery?.status, WebhookDeliveryStatus.PENDING);
  const third = await receiver.next(
    (hook) => hook.path === path && hook.headers['billing-delivery-attempt'] === '3',
  );
  t.is(verified(third, endpoint.secret).id, event.id, 'a replay sends the same event id');

  const metrics = await scrapeAll(h.server);
  t.regex(metrics, /outbound_webhook_attempts_total\{outcome="succeeded"\} [1-9]/);
  t.regex(metrics, /outbound_webhook_attempts_total\{outcome="failed"\} [1-9]/);
  t.regex(
    metrics,
    /outbound_webhook_events_total\{type="entitlement.changed",outcome="recorded"\} [1-9]/,
  );
});

test("a customer's events arrive in the order of their versions, also across a failure", async (t) => {
  const project = await newProject();
  const path = `/hooks/${randomUUID()}`;
  receiver.setPolicy(path, (nth) => (nth <= 2 ? 500 : 200));
  const endpoint = await endpointFor(project, path, ['*']);
  for (const feature of ['alpha', 'bravo', 'charlie']) await grant(project, 'ordered', feature);
  await receiver.next(
    (hook) =>
      hook.path === path &&
      hook.status === 200 &&
      JSON.stringify(eventOf(hook).data.object.changed_features) === '["charlie"]',
  );
  const accepted = receiver.on(path).filter((hook) => hook.status === 200);
  t.deepEqual(
    accepted.map((hook) => eventOf(hook).data.object.changed_features),
    [['alpha'], ['bravo'], ['charlie']],
  );
  const versions = accepted.map((hook) => Number(eventOf(hook).data.object.version));
  t.deepEqual(
    [...versions].sort((a, b) => a - b),
    versions,
  );
  t.is(new Set(versions).size, 3);
  for (const hook of accepted) verified(hook, endpoint.secret);
  // The log pages newest first; a token it did not issue is refused.
  const seen: string[] = [];
  let pageToken = '';
  do {
    const page = await admin().listWebhookDeliveries(
      { endpointId: endpoint.id, pageSize: 1, pageToken },
      as(project),
    );
    seen.push(...page.deliveries.map((d) => d.eventId));
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  t.deepEqual(
    seen,
    [...accepted].reverse().map((hook) => eventOf(hook).id),
  );
  t.is(
    await codeOf(
      admin().listWebhookDeliveries({ endpointId: endpoint.id, pageToken: 'bm9wZQ' }, as(project)),
    ),
    Code.InvalidArgument,
  );
  // Nothing of bravo or charlie was sent before alpha succeeded.
  const firstAccepted = receiver.on(path).findIndex((hook) => hook.status === 200);
  t.true(
    receiver
      .on(path)
      .slice(0, firstAccepted)
      .every((hook) => JSON.stringify(eventOf(hook).data.object.changed_features) === '["alpha"]'),
  );
});

test('a slow endpoint does not hold up another', async (t) => {
  const project = await newProject();
  const slowPath = `/hooks/slow-${randomUUID()}`;
  const fastPath = `/hooks/fast-${randomUUID()}`;
  receiver.setPolicy(slowPath, () => 'hold');
  const slow = await endpointFor(project, slowPath, ['entitlement.changed']);
  const fast = await endpointFor(project, fastPath, ['entitlement.changed']);
  await grant(project, 'slow-and-fast', 'one');
  await grant(project, 'someone-else', 'two');
  await receiver.next((hook) => hook.path === slowPath);
  const fastHooks = await Promise.all([
    receiver.next(
      (h2) => h2.path === fastPath && eventOf(h2).data.object.customer_id === 'slow-and-fast',
    ),
    receiver.next(
      (h2) => h2.path === fastPath && eventOf(h2).data.object.customer_id === 'someone-else',
    ),
  ]);
  t.is(fastHooks.length, 2, 'the fast endpoint got both while the slow one holds');
  t.true(
    receiver.on(slowPath).every((hook) => hook.status === 0),
    'the slow one still holds',
  );
  for (const hook of fastHooks) verified(hook, fast.secret);
  receiver.setPolicy(slowPath, () => 200);
  receiver.release(slowPath);
  const log = await waitFor(
    () => admin().listWebhookDeliveries({ endpointId: slow.id }, as(project)),
    {
      what: "the slow endpoint's deliveries to succeed",
      until: (page) =>
        page.deliveries.length === 2 &&
        page.deliveries.every((d) => d.status === WebhookDeliveryStatus.SUCCEEDED),
    },
  );
  t.is(log.deliveries.length, 2);
});

test('subscription.past_due comes from the Stripe webhook that shows the failed payment', async (t) => {
  const path = `/hooks/past-due-${randomUUID()}`;
  const endpoint = await endpointFor(h.project, path, ['subscription.past_due']);
  const customer = await h.linkCustomer('past-due-user');
  const now = nowSeconds();
  const subscription = (status: Stripe.Subscription.Status) =>
    makeSubscription({
      id: 'sub_outbound_past_due',
      customer,
      status,
      created: now - 40 * 86_400,
      items: [
        {
          price: 'price_pro_monthly',
          product: 'prod_pro',
          current_period_start: now - 10 * 86_400,
          current_period_end: now + 20 * 86_400,
        },
      ],
    });
  const post = (status: Stripe.Subscription.Status, created: number) =>
    h.post(
      makeEvent({ type: 'customer.subscription.updated', object: subscription(status), created }),
    );
  t.is((await post('active', now - 600)).status, 200);
  t.is((await post('past_due', now - 60)).status, 200);
  const hook = await receiver.next((r) => r.path === path);
  const event = verified(hook, endpoint.secret);
  t.is(String(event.type), 'subscription.past_due');
  t.like(eventOf(hook).data.object, {
    customer_id: 'past-due-user',
    subscription_id: 'sub_outbound_past_due',
    past_due_since: new Date((now - 60) * 1000).toISOString(),
    // The harness project's grace period is 3 days.
    access_until: new Date((now - 60 + 3 * 86_400) * 1000).toISOString(),
  });
});

test('usage.threshold_reached at 80% and at 100% of the allowance, once each, from TrackUsage', async (t) => {
  const project = await newProject();
  const path = `/hooks/usage-${randomUUID()}`;
  const endpoint = await endpointFor(project, path, ['usage.threshold_reached']);
  await grant(project, 'metered-user', 'messages', { limit: 10n });
  const track = (amount: bigint) =>
    entitlements().trackUsage(
      { customerId: 'metered-user', feature: 'messages', amount, idempotencyKey: randomUUID() },
      as(project),
    );
  await track(7n);
  await track(1n); // 8 of 10: 80%
  await track(1n);
  await track(3n); // 12 of 10: 100% (overage allowed)
  await track(1n);
  const at100 = await receiver.next(
    (hook) => hook.path === path && eventOf(hook).data.object.threshold_percent === 100,
  );
  const hooks = receiver.on(path);
  t.deepEqual(
    hooks.map((hook) => eventOf(hook).data.object.threshold_percent),
    [80, 100],
  );
  t.like(eventOf(hooks[0] ?? at100).data.object, {
    customer_id: 'metered-user',
    feature: 'messages',
    usage: 8,
    allowance: 10,
  });
  t.like(eventOf(at100).data.object, { usage: 12, allowance: 10 });
  for (const hook of hooks) verified(hook, endpoint.secret);
});

test('grant.expiring comes from its job, once per grant however often the job runs', async (t) => {
  const project = await newProject();
  const path = `/hooks/expiring-${randomUUID()}`;
  const endpoint = await endpointFor(project, path, ['grant.expiring']);
  const expiresAt = new Date(h.now().getTime() + 2 * 3600_000);
  const soon = await grant(project, 'expiring-user', 'trial', {
    expiresAt: timestampFromDate(expiresAt),
  });
  await grant(project, 'expiring-user', 'later', {
    expiresAt: timestampFromDate(new Date(h.now().getTime() + 3 * 86_400_000)),
  });
  const jobs = h.server.app.webhookJobs;
  t.not(await jobs.runGrantExpiring(`test:${randomUUID()}`), 'skipped');
  t.not(await jobs.runGrantExpiring(`test:${randomUUID()}`), 'skipped');
  const hook = await receiver.next((r) => r.path === path);
  t.like(eventOf(hook).data.object, {
    customer_id: 'expiring-user',
    grant_id: soon,
    feature: 'trial',
    expires_at: expiresAt.toISOString(),
  });
  verified(hook, endpoint.secret);
  const log = await admin().listWebhookDeliveries({ endpointId: endpoint.id }, as(project));
  t.is(log.deliveries.length, 1, 'one event for the grant due within a day, after two runs');
});

test('refused endpoints and another project’s ids change nothing', async (t) => {
  const project = await newProject();
  const other = await newProject();
  const create = (url: string, eventTypes = ['*']) =>
    codeOf(admin().createWebhookEndpoint({ url, eventTypes, reason: 'try' }, as(project)));
  t.is(await create('http://hooks.example.com/'), Code.InvalidArgument);
  t.is(await create('https://10.0.0.1/hook'), Code.InvalidArgument);
  t.is(await create('https://169.254.169.254/latest'), Code.InvalidArgument);
  t.is(await create('https://localhost/hook'), Code.InvalidArgument);
  t.is(await create('http://127.0.0.2/hook'), Code.InvalidArgument);
  t.is(await create('https://hooks.example.com/', ['entitlement.created']), Code.InvalidArgument);
  t.is(await create('https://hooks.example.com/', []), Code.InvalidArgument);
  t.is(await create(''), Code.InvalidArgument);
  t.deepEqual(
    (await admin().listWebhookEndpoints({ includeDeleted: true }, as(project))).endpoints,
    [],
  );

  const theirPath = `/hooks/${randomUUID()}`;
  const theirs = await endpointFor(other, theirPath, ['*']);
  t.is(
    await codeOf(
      admin().updateWebhookEndpoint(
        { endpointId: theirs.id, description: 'mine now', reason: 'try' },
        as(project),
      ),
    ),
    Code.NotFound,
  );
  t.is(
    await codeOf(
      admin().deleteWebhookEndpoint({ endpointId: theirs.id, reason: 'try' }, as(project)),
    ),
    Code.NotFound,
  );
  const theirDelivery = `${theirs.id}:bev_${'0'.repeat(32)}`;
  t.is(
    await codeOf(admin().getWebhookDelivery({ deliveryId: theirDelivery }, as(project))),
    Code.NotFound,
  );
  t.is(
    await codeOf(admin().getWebhookDelivery({ deliveryId: 'not-an-id' }, as(project))),
    Code.InvalidArgument,
  );
  t.deepEqual(
    (await admin().listWebhookDeliveries({ endpointId: theirs.id }, as(project))).deliveries,
    [],
  );
  const still = await admin().listWebhookEndpoints({}, as(other));
  t.deepEqual(
    still.endpoints.map((e) => [e.id, e.description]),
    [[theirs.id, theirPath]],
  );
  t.is(still.endpoints[0]?.deletedAt, undefined);

  // Updates are checked like creations, and a deleted endpoint receives nothing more.
  const mine = await endpointFor(project, `/hooks/${randomUUID()}`, ['entitlement.changed']);
  t.is(
    await codeOf(
      admin().updateWebhookEndpoint(
        { endpointId: mine.id, url: 'https://192.168.0.10/', reason: 'try' },
        as(project),
      ),
    ),
    Code.InvalidArgument,
  );
  const deleted = await admin().deleteWebhookEndpoint(
    { endpointId: mine.id, reason: 'gone' },
    as(project),
  );
  t.truthy(deleted.endpoint?.deletedAt);
  t.deepEqual((await admin().listWebhookEndpoints({}, as(project))).endpoints, []);
  const audit = await admin().listAuditLog({}, as(project));
  const actions = audit.entries.map((entry) => entry.action);
  t.true(
    actions.includes('webhook_endpoint.create') && actions.includes('webhook_endpoint.delete'),
  );
  t.false(textOf(audit).includes(mine.secret), 'the audit log never holds the secret');
});
