// needs: mongodb redis
/**
 * No secret at rest in plain text: every write RPC runs (with an
 * idempotency key where it takes one, and retried with it), and after each
 * one every collection of the service's database is read whole and searched
 * for every secret issued or handed in so far: API keys (CreateApiKey,
 * CreateProject's first admin key, the platform key), Stripe secret keys and
 * webhook signing secrets (CreateProject, UpdateProject, RotateWebhookSecret),
 * outbound webhook endpoints' signing secrets (CreateWebhookEndpoint)
 * and customer tokens. A retry with the same idempotency key still gets the
 * first answer, secret included.
 */
import { randomBytes } from 'node:crypto';
import type { DescMethod } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { BSON, MongoClient } from 'mongodb';
import { AdminService, Scope } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutMode, CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import type { CatalogEntryDoc } from '../../src/store/documents.js';
import { createPlatformKey } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';
import { unappliableSubscriptionEvent } from '../helpers/stripe-objects.js';

/** A metered feature of the scanned project's catalog. */
const scanFeature = (
  feature: string,
  overage: 'block' | 'allow',
): CatalogEntryDoc['features'][number] => ({
  feature,
  limit: null,
  limit_per_unit: false,
  kind: 'metered',
  metered: {
    allowance: 10,
    allowance_per_unit: false,
    reset: 'billing_period',
    overage,
    stripe_meter_event_name: null,
  },
});

let h: BillingHarness;
let mongo: MongoClient;

test.before(async () => {
  h = await startBillingHarness({
    env: { CUSTOMER_TOKEN_SECRETS: 'customer-token-secret-for-the-scan-0123456789' },
  });
  mongo = await MongoClient.connect(h.server.config.mongodbUrl);
});

test.after.always(async () => {
  await mongo?.close();
  await h?.close();
});

/**
 * An event of the harness project's own customer that fails every time (a
 * subscription with no items), posted until the service gives it up.
 */
async function deadEvent(): Promise<string> {
  const customer = await h.linkCustomer('scan-dead-event');
  const event = unappliableSubscriptionEvent(customer, 'sub_scan_dead');
  // WEBHOOK_MAX_ATTEMPTS (1 to 100) failed deliveries, then it is given up.
  for (let attempt = 1; attempt <= 100; attempt += 1) {
    if ((await h.post(event.body)).body.outcome === 'dead') return event.id;
  }
  throw new Error('the broken event was never given up');
}

/** Every collection, every document, serialized: a secret inside a binary field shows too. */
async function collectionsHolding(secrets: ReadonlyMap<string, string>): Promise<string[]> {
  const db = mongo.db(h.server.config.mongodbDatabase);
  const found: string[] = [];
  for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
    for await (const doc of db.collection(name).find({})) {
      const bytes = Buffer.from(BSON.serialize(doc));
      for (const [label, secret] of secrets) {
        if (bytes.includes(Buffer.from(secret, 'utf8'))) found.push(`${label} in ${name}`);
      }
    }
  }
  return found;
}

type Admin = ReturnType<typeof createClient<typeof AdminService>>;
type Write = <T>(method: DescMethod, call: () => Promise<T>) => Promise<T>;

/**
 * The harness project's webhook endpoint: created (retried: the same
 * secret), changed, a delivery of a grant's event replayed, deleted.
 */
async function outboundWebhookWrites(
  admin: Admin,
  write: Write,
  secrets: Map<string, string>,
): Promise<void> {
  const request = {
    url: 'https://hooks.example.com/scan',
    eventTypes: ['*'],
    reason: 'scan',
    idempotencyKey: 'create-endpoint',
  };
  const endpoint = await admin.createWebhookEndpoint(request, h.auth);
  secrets.set('CreateWebhookEndpoint secret', endpoint.secret);
  const again = await write(AdminService.method.createWebhookEndpoint, () =>
    admin.createWebhookEndpoint(request, h.auth),
  );
  if (again.secret !== endpoint.secret) throw new Error('the retry got another secret');
  const endpointId = endpoint.endpoint?.id ?? '';
  await write(AdminService.method.updateWebhookEndpoint, () =>
    admin.updateWebhookEndpoint(
      { endpointId, description: 'scanned', reason: 'scan', idempotencyKey: 'update-endpoint' },
      h.auth,
    ),
  );
  // The grant's event is recorded before the grant answers.
  await admin.grantEntitlement(
    { customerId: 'scan-hooked', feature: 'beta', reason: 'scan' },
    h.auth,
  );
  const { deliveries } = await admin.listWebhookDeliveries({ endpointId }, h.auth);
  const deliveryId = deliveries[0]?.id ?? '';
  await write(AdminService.method.replayWebhookDelivery, () =>
    admin.replayWebhookDelivery(
      { deliveryId, reason: 'scan', idempotencyKey: 'replay-delivery' },
      h.auth,
    ),
  );
  await write(AdminService.method.deleteWebhookEndpoint, () =>
    admin.deleteWebhookEndpoint(
      { endpointId, reason: 'scan', idempotencyKey: 'delete-endpoint' },
      h.auth,
    ),
  );
}

test('after every write RPC, no collection holds any secret it was given or issued', async (t) => {
  const transport = createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' });
  const admin = createClient(AdminService, transport);
  const checkout = createClient(CheckoutService, transport);
  const entitlements = createClient(EntitlementsService, transport);
  const platform = await createPlatformKey(h.server.app);
  const secrets = new Map<string, string>([
    ['platform key', platform.key],
    ['harness admin key', h.project.adminKey],
    ['harness Stripe key', h.project.stripeSecretKey],
    ['harness webhook secret', h.project.webhookSecret],
  ]);
  const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
  const fresh = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;
  const ran = new Set<string>();
  const write = async <T>(method: DescMethod, call: () => Promise<T>): Promise<T> => {
    const answer = await call();
    ran.add(`${method.parent.typeName}/${method.name}`);
    t.deepEqual(await collectionsHolding(secrets), [], `after ${method.name}`);
    return answer;
  };

  const projectRequest = {
    name: 'scanned',
    stripeSecretKey: fresh('sk_test_'),
    webhookSigningSecret: fresh('whsec_'),
    reason: 'scan',
    idempotencyKey: 'create-scanned',
  };
  secrets.set('CreateProject Stripe key', projectRequest.stripeSecretKey);
  secrets.set('CreateProject webhook secret', projectRequest.webhookSigningSecret);
  const created = await admin.createProject(projectRequest, as(platform.key));
  secrets.set('CreateProject admin key', created.adminKeySecret);
  const replayedProject = await write(AdminService.method.createProject, () =>
    admin.createProject(projectRequest, as(platform.key)),
  );
  t.like(replayedProject, { adminKeySecret: created.adminKeySecret }, 'the retry gets the key');
  const key = as(created.adminKeySecret);

  const keyRequest = {
    name: 'backend',
    scopes: [Scope.ENTITLEMENTS_READ, Scope.CHECKOUT_WRITE],
    reason: 'scan',
    idempotencyKey: 'create-backend-key',
  };
  const apiKey = await admin.createApiKey(keyRequest, key);
  secrets.set('CreateApiKey secret', apiKey.secret);
  const replayedKey = await write(AdminService.method.createApiKey, () =>
    admin.createApiKey(keyRequest, key),
  );
  t.like(replayedKey, { secret: apiKey.secret }, 'the retry gets the same secret');

  const newStripeKey = fresh('sk_test_');
  secrets.set('UpdateProject Stripe key', newStripeKey);
  await write(AdminService.method.updateProject, () =>
    admin.updateProject(
      { stripeSecretKey: newStripeKey, reason: 'scan', idempotencyKey: 'update' },
      key,
    ),
  );
  const rotated = fresh('whsec_');
  secrets.set('RotateWebhookSecret secret', rotated);
  await write(AdminService.method.rotateWebhookSecret, () =>
    admin.rotateWebhookSecret(
      { webhookSigningSecret: rotated, reason: 'scan', idempotencyKey: 'rotate' },
      key,
    ),
  );
  const issued = await write(EntitlementsService.method.issueCustomerToken, () =>
    entitlements.issueCustomerToken({ customerId: 'scan-user' }, key),
  );
  secrets.set('customer token', issued.token);
  t.deepEqual(await collectionsHolding(secrets), []);

  await write(AdminService.method.setCatalog, () =>
    admin.setCatalog(
      {
        entries: [{ stripeId: 'price_scan', features: [{ feature: 'scan' }] }],
        reason: 'scan',
        idempotencyKey: 'catalog',
      },
      key,
    ),
  );
  // A metered feature to track (seeded through the service: SetCatalog's metered rules are another item).
  await h.server.app.projects.setCatalog(
    created.project?.id ?? '',
    [
      {
        stripe_id: 'price_scan',
        features: [
          scanFeature('scan_units', 'block'),
          // Overage allowed: the scan's customer has no subscription, and its reservations must hold.
          scanFeature('scan_holds', 'allow'),
        ],
      },
    ],
    'test',
    'metered feature for the scan',
  );
  await write(EntitlementsService.method.trackUsage, () =>
    entitlements.trackUsage(
      { customerId: 'scan-user', feature: 'scan_units', amount: 1n, idempotencyKey: 'usage' },
      key,
    ),
  );
  const credit = await write(AdminService.method.grantCredits, () =>
    admin.grantCredits(
      {
        customerId: 'scan-user',
        feature: 'scan_units',
        amount: 5n,
        reason: 'scan',
        idempotencyKey: 'credits',
      },
      key,
    ),
  );
  await write(AdminService.method.revokeCredits, () =>
    admin.revokeCredits(
      { creditId: credit.credit?.id ?? '', reason: 'scan', idempotencyKey: 'revoke-credits' },
      key,
    ),
  );
  const reserveScan = (idempotencyKey: string) =>
    entitlements.reserveUsage(
      { customerId: 'scan-user', feature: 'scan_holds', amount: 2n, idempotencyKey },
      key,
    );
  const toCommit = await write(EntitlementsService.method.reserveUsage, () =>
    reserveScan('reserve-1'),
  );
  await write(EntitlementsService.method.commitReservation, () =>
    entitlements.commitReservation(
      { customerId: 'scan-user', reservationId: toCommit.reservationId, finalAmount: 1n },
      key,
    ),
  );
  const toRelease = await reserveScan('reserve-2');
  await write(EntitlementsService.method.releaseReservation, () =>
    entitlements.releaseReservation(
      { customerId: 'scan-user', reservationId: toRelease.reservationId },
      key,
    ),
  );
  const grant = await write(AdminService.method.grantEntitlement, () =>
    admin.grantEntitlement(
      { customerId: 'scan-user', feature: 'scan', reason: 'scan', idempotencyKey: 'grant' },
      key,
    ),
  );
  await write(AdminService.method.revokeGrant, () =>
    admin.revokeGrant(
      { grantId: grant.grant?.id ?? '', reason: 'scan', idempotencyKey: 'revoke-grant' },
      key,
    ),
  );
  await write(AdminService.method.triggerReconciliation, () =>
    admin.triggerReconciliation({ dryRun: true, reason: 'scan', idempotencyKey: 'reconcile' }, key),
  );
  // Checkout against the harness project, whose prices the fake Stripe knows.
  await write(CheckoutService.method.createCheckoutSession, () =>
    checkout.createCheckoutSession(
      {
        customerId: 'scan-buyer',
        mode: CheckoutMode.SUBSCRIPTION,
        lineItems: [{ priceId: 'price_pro_monthly', quantity: 1n }],
        successUrl: 'https://app.example/ok',
        cancelUrl: 'https://app.example/cancel',
        idempotencyKey: 'checkout',
      },
      h.auth,
    ),
  );
  await write(CheckoutService.method.createPortalSession, () =>
    checkout.createPortalSession(
      { customerId: 'scan-buyer', returnUrl: 'https://app.example', idempotencyKey: 'portal' },
      h.auth,
    ),
  );
  const deadEventId = await deadEvent();
  await write(AdminService.method.replayWebhookEvent, () =>
    admin.replayWebhookEvent(
      { eventId: deadEventId, reason: 'scan', idempotencyKey: 'replay' },
      h.auth,
    ),
  );
  await outboundWebhookWrites(admin, write, secrets);
  await write(AdminService.method.revokeApiKey, () =>
    admin.revokeApiKey(
      { keyId: apiKey.key?.id ?? '', reason: 'scan', idempotencyKey: 'revoke-key' },
      key,
    ),
  );
  t.is(
    await codeOf(admin.createApiKey(keyRequest, key)),
    'ok',
    'a replay after the revocation still answers',
  );

  // Every write RPC ran: any method with an idempotency key, token minting, and the ends of reservations.
  const writesWithoutKey: DescMethod[] = [
    EntitlementsService.method.issueCustomerToken,
    EntitlementsService.method.commitReservation,
    EntitlementsService.method.releaseReservation,
  ];
  const writes = [AdminService, CheckoutService, EntitlementsService].flatMap((service) =>
    service.methods
      .filter(
        (m) =>
          m.input.fields.some((f) => f.name === 'idempotency_key') || writesWithoutKey.includes(m),
      )
      .map((m) => `${service.typeName}/${m.name}`),
  );
  t.deepEqual([...ran].sort(), writes.sort());
});
