// needs: mongodb redis
/**
 * CreateCheckoutSession and CreatePortalSession through the real SDK
 * against the fake Stripe: one Stripe customer per customer id however the
 * calls race or retry, idempotent retries, clear status codes.
 */
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService, Scope } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutMode, CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { createTestProject, startTestApp } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';

let h: BillingHarness;

test.before(async () => {
  h = await startBillingHarness();
});

test.after.always(async () => {
  await h?.close();
});

const request = (customerId: string, overrides: Record<string, unknown> = {}) => ({
  customerId,
  mode: CheckoutMode.SUBSCRIPTION,
  lineItems: [{ priceId: 'price_pro_monthly', quantity: 2n }],
  successUrl: 'https://app.example/ok',
  cancelUrl: 'https://app.example/cancel',
  ...overrides,
});

const customersNamed = (customerId: string) =>
  h.fake
    .customers(h.project.stripeSecretKey)
    .filter((c) => c.metadata.billing_customer_id === customerId);

test('a subscription checkout creates the Stripe customer once and reuses it', async (t) => {
  const first = await h.checkout.createCheckoutSession(request('buyer-1'), h.auth);
  t.regex(first.sessionId, /^cs_/);
  t.true(first.url.startsWith('https://'));
  t.regex(first.stripeCustomerId, /^cus_/);
  t.true(Number(first.expiresAt?.seconds) > Date.now() / 1000);
  const second = await h.checkout.createCheckoutSession(request('buyer-1'), h.auth);
  t.is(second.stripeCustomerId, first.stripeCustomerId);
  t.not(second.sessionId, first.sessionId);
  t.is(customersNamed('buyer-1').length, 1);
  const session = h.fake
    .checkoutSessions(h.project.stripeSecretKey)
    .find((s) => s.id === first.sessionId);
  t.is(session?.client_reference_id, 'buyer-1');
  t.is(session?.mode, 'subscription');
});

test('concurrent first checkouts of one customer create one Stripe customer', async (t) => {
  const answers = await Promise.all(
    Array.from({ length: 6 }, () =>
      h.checkout.createCheckoutSession(request('buyer-race'), h.auth),
    ),
  );
  t.is(new Set(answers.map((a) => a.stripeCustomerId)).size, 1);
  t.is(customersNamed('buyer-race').length, 1);
});

test('a retried call with the same idempotency key returns the first session', async (t) => {
  const first = await h.checkout.createCheckoutSession(
    request('buyer-idem', { idempotencyKey: 'order-42' }),
    h.auth,
  );
  const retry = await h.checkout.createCheckoutSession(
    request('buyer-idem', { idempotencyKey: 'order-42' }),
    h.auth,
  );
  t.is(retry.sessionId, first.sessionId);
  const sessions = h.fake
    .checkoutSessions(h.project.stripeSecretKey)
    .filter((s) => s.client_reference_id === 'buyer-idem');
  t.is(sessions.length, 1);
});

test('a one-time checkout works in payment mode', async (t) => {
  const answer = await h.checkout.createCheckoutSession(
    request('buyer-once', {
      mode: CheckoutMode.PAYMENT,
      lineItems: [{ priceId: 'price_lifetime', quantity: 1n }],
    }),
    h.auth,
  );
  const session = h.fake
    .checkoutSessions(h.project.stripeSecretKey)
    .find((s) => s.id === answer.sessionId);
  t.is(session?.mode, 'payment');
});

test('prices Stripe refuses are INVALID_ARGUMENT naming the price', async (t) => {
  const unknown = await t.throwsAsync(
    h.checkout.createCheckoutSession(
      request('buyer-bad', { lineItems: [{ priceId: 'price_nope', quantity: 1n }] }),
      h.auth,
    ),
  );
  t.is(ConnectError.from(unknown).code, Code.InvalidArgument);
  t.regex(ConnectError.from(unknown).rawMessage, /price_nope/);
  const wrongMode = await codeOf(
    h.checkout.createCheckoutSession(
      request('buyer-bad', {
        mode: CheckoutMode.PAYMENT,
        lineItems: [{ priceId: 'price_pro_monthly', quantity: 1n }],
      }),
      h.auth,
    ),
  );
  t.is(wrongMode, Code.InvalidArgument);
});

// Serial: it counts every request the fake receives.
test.serial('bad input is INVALID_ARGUMENT and reaches no Stripe', async (t) => {
  const before = h.fake.requestLog.length;
  const bad = [
    request(''),
    request('x'.repeat(300)),
    request('ok', { mode: CheckoutMode.UNSPECIFIED }),
    request('ok', { mode: 7 }),
    request('ok', { lineItems: [] }),
    request('ok', { lineItems: [{ priceId: 'prod_x', quantity: 1n }] }),
    request('ok', { lineItems: [{ priceId: 'price_pro_monthly', quantity: -1n }] }),
    request('ok', { successUrl: 'not a url' }),
    request('ok', { cancelUrl: 'javascript:alert(1)' }),
    request('ok', { customerEmail: 'nope' }),
  ];
  for (const body of bad)
    t.is(await codeOf(h.checkout.createCheckoutSession(body, h.auth)), Code.InvalidArgument);
  t.is(h.fake.requestLog.length, before);
});

test.serial('Stripe failing is UNAVAILABLE', async (t) => {
  await h.linkCustomer('buyer-down');
  h.fake.failNext(3, 503);
  t.is(
    await codeOf(h.checkout.createCheckoutSession(request('buyer-down'), h.auth)),
    Code.Unavailable,
  );
});

test('Stripe unreachable is UNAVAILABLE', async (t) => {
  const server = await startTestApp({
    env: { STRIPE_API_URL: 'http://127.0.0.1:9', STRIPE_TIMEOUT_MS: '1000' },
  });
  try {
    const project = await createTestProject(server.app, 'no stripe');
    const checkout = createClient(
      CheckoutService,
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
    );
    const code = await codeOf(
      checkout.createCheckoutSession(request('buyer-x'), {
        headers: { authorization: `Bearer ${project.adminKey}` },
      }),
    );
    t.is(code, Code.Unavailable);
  } finally {
    await server.app.stop();
  }
});

test('the billing portal needs a Stripe customer, then opens', async (t) => {
  const portal = { customerId: 'portal-user', returnUrl: 'https://app.example/account' };
  t.is(await codeOf(h.checkout.createPortalSession(portal, h.auth)), Code.FailedPrecondition);
  const stripeCustomerId = await h.linkCustomer('portal-user');
  const opened = await h.checkout.createPortalSession(portal, h.auth);
  t.true(opened.url.startsWith('https://'));
  const stored = h.fake
    .portalSessions(h.project.stripeSecretKey)
    .find((s) => s.id === opened.sessionId);
  t.is(stored?.customer, stripeCustomerId);
  t.is(
    await codeOf(h.checkout.createPortalSession({ ...portal, returnUrl: 'ftp://x' }, h.auth)),
    Code.InvalidArgument,
  );
});

test('a key without checkout:write is PERMISSION_DENIED', async (t) => {
  const admin = createClient(
    AdminService,
    createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' }),
  );
  const reader = await admin.createApiKey(
    { name: 'reader', scopes: [Scope.ENTITLEMENTS_READ], reason: 'test' },
    h.auth,
  );
  const headers = { headers: { authorization: `Bearer ${reader.secret}` } };
  t.is(
    await codeOf(h.checkout.createCheckoutSession(request('buyer-scope'), headers)),
    Code.PermissionDenied,
  );
});
