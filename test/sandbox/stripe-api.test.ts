/**
 * The sandbox's Stripe API with the real `stripe` SDK (shapes, paging, idempotency,
 * errors, injected failures), and the signed
 * webhook helper with the SDK's own verification.
 */
import anyTest, { type TestFn } from 'ava';
import Stripe from 'stripe';
import { type Sandbox, startSandbox } from '../../sandbox/index.js';
import {
  makeCheckoutSession,
  makeEvent,
  makeSubscription,
  nowSeconds,
  STRIPE_API_VERSION,
  signedWebhook,
} from '../helpers/stripe-objects.js';

const test = anyTest as TestFn<{ fake: Sandbox }>;

const KEY = 'sk_test_project_a';
const OTHER_KEY = 'sk_test_project_b';
const { errors } = Stripe;

test.beforeEach(async (t) => {
  t.context.fake = await startSandbox({ apiKeys: [KEY, OTHER_KEY] });
});

test.afterEach.always(async (t) => {
  await t.context.fake.close();
});

function seedCatalog(fake: Sandbox, apiKey = KEY) {
  return {
    monthly: fake.seedPrice(
      {
        id: 'price_pro_monthly',
        product: 'prod_pro',
        currency: 'usd',
        unit_amount: 2000,
        recurring: { interval: 'month', interval_count: 1 },
      },
      apiKey,
    ),
    lifetime: fake.seedPrice(
      { id: 'price_lifetime', product: 'prod_lifetime', currency: 'usd', unit_amount: 9900 },
      apiKey,
    ),
  };
}

// --- Customers ---

test('customers.create with the same Idempotency-Key returns the same customer once', async (t) => {
  const { fake } = t.context;
  const stripe = fake.makeClient(KEY);
  const params = { email: 'ada@example.com', metadata: { external_id: 'user-1' } };
  const first = await stripe.customers.create(params, { idempotencyKey: 'create-user-1' });
  const again = await stripe.customers.create(params, { idempotencyKey: 'create-user-1' });

  t.regex(first.id, /^cus_[A-Za-z0-9]{14}$/);
  t.is(again.id, first.id);
  t.is(again.lastResponse.headers['idempotent-replayed'], 'true');
  t.is(first.object, 'customer');
  t.is(first.livemode, false);
  t.is(first.email, 'ada@example.com');
  t.deepEqual(first.metadata, { external_id: 'user-1' });
  t.deepEqual(
    fake.customers(KEY).map((c) => c.id),
    [first.id],
  );

  // Keys are per API key: another account creates its own customer.
  const other = await fake
    .makeClient(OTHER_KEY)
    .customers.create(params, { idempotencyKey: 'create-user-1' });
  t.not(other.id, first.id);
  t.is(fake.customers(OTHER_KEY).length, 1);
  t.is(fake.customers().length, 2);

  // The same key with other parameters is refused, as Stripe does.
  const error = await t.throwsAsync(
    stripe.customers.create({ email: 'bob@example.com' }, { idempotencyKey: 'create-user-1' }),
    { instanceOf: errors.StripeIdempotencyError },
  );
  t.is(error?.statusCode, 400);
  t.is(fake.customers(KEY).length, 1);
});

test('customers.retrieve and list; accounts do not see each other', async (t) => {
  const { fake } = t.context;
  const stripe = fake.makeClient(KEY);
  const ada = await stripe.customers.create({ email: 'ada@example.com' });
  const bob = await stripe.customers.create({ email: 'bob@example.com' });

  t.is((await stripe.customers.retrieve(ada.id)).id, ada.id);
  const all = await stripe.customers.list({ limit: 10 });
  t.deepEqual(
    all.data.map((c) => c.id),
    [bob.id, ada.id],
    'newest first',
  );
  const byEmail = await stripe.customers.list({ email: 'ada@example.com' });
  t.deepEqual(
    byEmail.data.map((c) => c.id),
    [ada.id],
  );

  const error = await t.throwsAsync(fake.makeClient(OTHER_KEY).customers.retrieve(ada.id), {
    instanceOf: errors.StripeInvalidRequestError,
  });
  t.is(error?.statusCode, 404);
  t.is(error?.code, 'resource_missing');
  t.is(error?.message, `No such customer: '${ada.id}'`);
});

test('unknown parameters are refused like Stripe does', async (t) => {
  const stripe = t.context.fake.makeClient(KEY);
  const error = await t.throwsAsync(
    stripe.customers.create({
      email: 'ada@example.com',
      emial: 'typo',
    } as Stripe.CustomerCreateParams),
    { instanceOf: errors.StripeInvalidRequestError },
  );
  t.is(error?.param, 'emial');
  t.is(error?.message, 'Received unknown parameter: emial');
});

// --- Checkout ---

test('checkout.sessions.create in subscription mode', async (t) => {
  const { fake } = t.context;
  const { monthly } = seedCatalog(fake);
  const stripe = fake.makeClient(KEY);
  const customer = await stripe.customers.create({ email: 'ada@example.com' });

  const session = await stripe.checkout.sessions.create({
    mode: 'subscription',
    customer: customer.id,
    line_items: [{ price: monthly.id, quantity: 3 }],
    success_url: 'https://app.example.com/success?session_id={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://app.example.com/cancel',
    client_reference_id: 'user-1',
    metadata: { project: 'proj_1', external_id: 'user-1' },
    subscription_data: { metadata: { project: 'proj_1' } },
  });

  t.regex(session.id, /^cs_test_[A-Za-z0-9]{58}$/);
  t.is(session.object, 'checkout.session');
  t.is(session.mode, 'subscription');
  t.is(session.status, 'open');
  t.is(session.payment_status, 'unpaid');
  t.is(session.customer, customer.id);
  t.is(session.client_reference_id, 'user-1');
  t.deepEqual(session.metadata, { project: 'proj_1', external_id: 'user-1' });
  t.is(session.url, `https://checkout.stripe.com/c/pay/${session.id}`);
  t.is(session.amount_total, 6000);
  t.is(session.currency, 'usd');
  t.is(session.subscription, null);
  t.is(session.line_items, undefined, 'line_items only when expanded');
  t.true(session.expires_at > nowSeconds());

  const expanded = await stripe.checkout.sessions.retrieve(session.id, {
    expand: ['line_items'],
  });
  t.is(expanded.line_items?.data[0]?.price?.id, monthly.id);
  t.is(expanded.line_items?.data[0]?.quantity, 3);
  const lineItems = await stripe.checkout.sessions.listLineItems(session.id);
  t.is(lineItems.data.length, 1);

  // What Stripe does when the buyer pays.
  const { session: completed, subscription } = fake.completeCheckoutSession(session.id, {
    apiKey: KEY,
  });
  t.is(completed.status, 'complete');
  t.is(completed.payment_status, 'paid');
  t.is(completed.subscription, subscription?.id ?? null);
  t.is(subscription?.customer, customer.id);
  t.is(subscription?.items.data[0]?.quantity, 3);
  t.deepEqual(subscription?.metadata, { project: 'proj_1' });
  const listed = await stripe.subscriptions.retrieve(subscription?.id ?? '');
  t.is(listed.status, 'active');
  t.is(fake.checkoutSessions(KEY)[0]?.status, 'complete');
});

test('checkout.sessions.create in payment mode', async (t) => {
  const { fake } = t.context;
  const { lifetime } = seedCatalog(fake);
  const stripe = fake.makeClient(KEY);

  const session = await stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [{ price: lifetime.id, quantity: 1 }],
    success_url: 'https://app.example.com/success',
    cancel_url: 'https://app.example.com/cancel',
    client_reference_id: 'user-2',
    metadata: { external_id: 'user-2' },
  });

  t.is(session.mode, 'payment');
  t.is(session.customer, null);
  t.is(session.customer_creation, 'if_required');
  t.is(session.amount_total, 9900);
  t.is(session.payment_intent, null);
  t.deepEqual((await stripe.checkout.sessions.retrieve(session.id)).metadata, {
    external_id: 'user-2',
  });

  const {
    session: completed,
    subscription,
    customer,
  } = fake.completeCheckoutSession(session.id, {
    apiKey: KEY,
  });
  t.is(subscription, null);
  t.is(completed.customer, customer.id);
  t.regex(String(completed.payment_intent), /^pi_/);
});

test('checkout validation errors surface as the SDK error classes with param', async (t) => {
  const { fake } = t.context;
  const { monthly, lifetime } = seedCatalog(fake);
  const stripe = fake.makeClient(KEY);
  const urls = { success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' };

  const cases: {
    name: string;
    params: Stripe.Checkout.SessionCreateParams;
    param: string;
    code?: string;
  }[] = [
    {
      name: 'unknown price',
      params: { mode: 'payment', line_items: [{ price: 'price_nope', quantity: 1 }], ...urls },
      param: 'line_items[0][price]',
      code: 'resource_missing',
    },
    {
      name: 'recurring price in payment mode',
      params: { mode: 'payment', line_items: [{ price: monthly.id, quantity: 1 }], ...urls },
      param: 'line_items[0][price]',
    },
    {
      name: 'one-time price in subscription mode',
      params: { mode: 'subscription', line_items: [{ price: lifetime.id, quantity: 1 }], ...urls },
      param: 'line_items[0][price]',
    },
    {
      name: 'missing success_url',
      params: {
        mode: 'subscription',
        line_items: [{ price: monthly.id, quantity: 1 }],
        cancel_url: urls.cancel_url,
      },
      param: 'success_url',
      code: 'parameter_missing',
    },
    {
      name: 'unknown customer',
      params: {
        mode: 'subscription',
        customer: 'cus_nope',
        line_items: [{ price: monthly.id, quantity: 1 }],
        ...urls,
      },
      param: 'customer',
      code: 'resource_missing',
    },
    {
      name: 'missing quantity',
      params: { mode: 'subscription', line_items: [{ price: monthly.id }], ...urls },
      param: 'line_items[0][quantity]',
      code: 'parameter_missing',
    },
  ];
  for (const c of cases) {
    const error = await t.throwsAsync(stripe.checkout.sessions.create(c.params), {
      instanceOf: errors.StripeInvalidRequestError,
    });
    t.is(error?.statusCode, 400, c.name);
    t.is(error?.type, 'StripeInvalidRequestError', c.name);
    t.is(error?.rawType, 'invalid_request_error', c.name);
    t.is(error?.param, c.param, c.name);
    t.is(error?.code, c.code, c.name);
  }
  t.is(fake.checkoutSessions().length, 0);
});

// --- Billing portal ---

test('billingPortal.sessions.create', async (t) => {
  const { fake } = t.context;
  const stripe = fake.makeClient(KEY);
  const customer = await stripe.customers.create({ email: 'ada@example.com' });

  const session = await stripe.billingPortal.sessions.create({
    customer: customer.id,
    return_url: 'https://app.example.com/account',
  });
  t.regex(session.id, /^bps_[A-Za-z0-9]{24}$/);
  t.is(session.object, 'billing_portal.session');
  t.is(session.customer, customer.id);
  t.is(session.return_url, 'https://app.example.com/account');
  t.regex(session.url, /^https:\/\/billing\.stripe\.com\/p\/session\/test_/);
  t.is(fake.portalSessions(KEY).length, 1);

  const error = await t.throwsAsync(
    stripe.billingPortal.sessions.create({ customer: 'cus_nope', return_url: 'https://a.example' }),
    { instanceOf: errors.StripeInvalidRequestError },
  );
  t.is(error?.code, 'resource_missing');
  t.is(error?.param, 'customer');
});

// --- Subscriptions ---

test('250 subscriptions are walked by auto-pagination in exactly 3 list calls', async (t) => {
  const { fake } = t.context;
  const created = nowSeconds() - 86_400;
  for (let i = 0; i < 250; i += 1) {
    fake.seedSubscription(
      makeSubscription({
        customer: `cus_${i}`,
        status: i % 10 === 0 ? 'canceled' : 'active',
        created: created + i,
      }),
      KEY,
    );
  }
  const stripe = fake.makeClient(KEY);
  fake.clearRequestLog();

  const seen = new Set<string>();
  for await (const sub of stripe.subscriptions.list({ limit: 100, status: 'all' })) {
    seen.add(sub.id);
  }
  t.is(seen.size, 250);
  const listCalls = fake.requestLog.filter(
    (r) => r.method === 'GET' && r.path === '/v1/subscriptions',
  );
  t.is(listCalls.length, 3);
  t.regex(listCalls[1]?.query ?? '', /starting_after=sub_/);

  // autoPagingEach, and the default status filter (no canceled ones).
  fake.clearRequestLog();
  let notCanceled = 0;
  await stripe.subscriptions.list({ limit: 100 }).autoPagingEach(() => {
    notCanceled += 1;
  });
  t.is(notCanceled, 225);
  t.is(fake.requestLog.length, 3);

  // Newest first, like Stripe.
  const firstPage = await stripe.subscriptions.list({ limit: 2, status: 'all' });
  t.deepEqual(
    firstPage.data.map((s) => s.created),
    [created + 249, created + 248],
  );
  t.true(firstPage.has_more);
});

test('10,000 seeded subscriptions page correctly; retrieve, set and delete', async (t) => {
  const { fake } = t.context;
  const started = Date.now();
  const subs = Array.from({ length: 10_000 }, (_, i) =>
    makeSubscription({ id: `sub_bulk${String(i).padStart(5, '0')}`, customer: `cus_${i}` }),
  );
  fake.seedSubscriptions(subs, KEY);
  t.log(`built and seeded 10,000 subscriptions in ${Date.now() - started} ms`);
  t.is(fake.subscriptions(KEY).length, 10_000);

  const stripe = fake.makeClient(KEY);
  const page = await stripe.subscriptions.list({
    limit: 100,
    status: 'all',
    starting_after: 'sub_bulk00100',
  });
  t.deepEqual(
    page.data.map((s) => s.id),
    Array.from({ length: 100 }, (_, i) => `sub_bulk${String(99 - i).padStart(5, '0')}`),
  );
  t.false(page.has_more);

  const one = subs[42];
  if (one === undefined) throw new Error('no subscription 42');
  const retrieved = await stripe.subscriptions.retrieve(one.id);
  t.is(retrieved.items.data[0]?.current_period_end, one.items.data[0]?.current_period_end);

  fake.setSubscription({ ...one, status: 'past_due' }, KEY);
  t.is((await stripe.subscriptions.retrieve(one.id)).status, 'past_due');
  t.true(fake.deleteSubscription(one.id, KEY));
  const error = await t.throwsAsync(stripe.subscriptions.retrieve(one.id), {
    instanceOf: errors.StripeInvalidRequestError,
  });
  t.is(error?.statusCode, 404);
  t.is(fake.subscriptions(KEY).length, 9_999);
});

// --- Authentication and failures ---

test('a wrong or missing API key is a StripeAuthenticationError', async (t) => {
  const { fake } = t.context;
  const wrong = await t.throwsAsync(fake.makeClient('sk_test_not_a_project').customers.list(), {
    instanceOf: errors.StripeAuthenticationError,
  });
  t.is(wrong?.statusCode, 401);
  t.regex(wrong?.message ?? '', /^Invalid API Key provided: sk_test_/);

  // The SDK refuses an empty key itself; without one the fake answers 401 like Stripe.
  t.throws(() => fake.makeClient(''), { message: /Neither apiKey nor config.authenticator/ });
  const response = await fetch(`${fake.url}/v1/customers`);
  t.is(response.status, 401);
  const body = (await response.json()) as { error: { type: string; message: string } };
  t.is(body.error.type, 'invalid_request_error');
  t.regex(body.error.message, /^You did not provide an API key/);
});

test('failNext answers 5xx: the SDK raises StripeAPIError, and retries when allowed', async (t) => {
  const { fake } = t.context;
  const stripe = fake.makeClient(KEY);

  fake.failNext(1, 503);
  const error = await t.throwsAsync(stripe.customers.list(), {
    instanceOf: errors.StripeAPIError,
  });
  t.is(error?.statusCode, 503);
  t.is(error?.type, 'StripeAPIError');
  t.is((await stripe.customers.list()).object, 'list', 'only the next request fails');

  fake.failNext(1, 500);
  await t.throwsAsync(stripe.customers.list(), { instanceOf: errors.StripeAPIError });

  const retrying = fake.makeClient(KEY, { maxNetworkRetries: 2 });
  fake.failNext(2, 503);
  fake.clearRequestLog();
  const customer = await retrying.customers.create({ email: 'ada@example.com' });
  t.deepEqual(
    fake.requestLog.map((r) => r.status),
    [503, 503, 200],
  );
  const keys = new Set(fake.requestLog.map((r) => r.idempotencyKey));
  t.is(keys.size, 1, 'the SDK retries a POST with the same Idempotency-Key');
  t.deepEqual(
    fake.customers(KEY).map((c) => c.id),
    [customer.id],
  );

  fake.failNext(1, 429);
  await t.throwsAsync(stripe.customers.list(), { instanceOf: errors.StripeRateLimitError });
});

test('a dropped connection is retried once by the SDK, then StripeConnectionError', async (t) => {
  const { fake } = t.context;
  const stripe = fake.makeClient(KEY);

  fake.failNext(1, 'disconnect');
  t.is((await stripe.customers.list()).object, 'list');

  fake.failNext(2, 'disconnect');
  await t.throwsAsync(stripe.customers.list(), { instanceOf: errors.StripeConnectionError });
});

// --- Billing meter events ---

const meterEvent = (identifier: string, value = '3', timestamp = nowSeconds()) => ({
  event_name: 'api_requests',
  identifier,
  payload: { stripe_customer_id: 'cus_meter', value },
  timestamp,
});

test('meterEvents.create stores one event per identifier; a second is refused, per account', async (t) => {
  const { fake } = t.context;
  const stripe = fake.makeClient(KEY);
  const created = await stripe.billing.meterEvents.create(meterEvent('usg_1', '7'));
  t.is(created.object, 'billing.meter_event');
  t.is(created.identifier, 'usg_1');
  t.deepEqual(created.payload, { stripe_customer_id: 'cus_meter', value: '7' });

  const again = await t.throwsAsync(stripe.billing.meterEvents.create(meterEvent('usg_1', '7')), {
    instanceOf: errors.StripeInvalidRequestError,
  });
  t.is(again?.statusCode, 400);
  t.is(again?.message, 'An event already exists with identifier usg_1.');
  t.deepEqual(
    fake.meterEvents(KEY).map((e) => [e.identifier, e.payload.value]),
    [['usg_1', '7']],
  );

  // The same identifier in another account is another event.
  await fake.makeClient(OTHER_KEY).billing.meterEvents.create(meterEvent('usg_1', '2'));
  t.is(fake.meterEvents(OTHER_KEY).length, 1);
  t.is(fake.meterEvents().length, 2);
});

test('meterEvents.create checks the fields Stripe checks', async (t) => {
  const { fake } = t.context;
  const stripe = fake.makeClient(KEY);
  const refused = async (params: Stripe.Billing.MeterEventCreateParams, param: string) => {
    const error = await t.throwsAsync(stripe.billing.meterEvents.create(params), {
      instanceOf: errors.StripeInvalidRequestError,
    });
    t.is(error?.param, param);
  };
  const day = 86_400;
  await refused({ ...meterEvent('a'), event_name: '' }, 'event_name');
  await refused(
    { event_name: 'api_requests', payload: { value: '1' } },
    'payload[stripe_customer_id]',
  );
  await refused(
    { event_name: 'api_requests', payload: { stripe_customer_id: 'cus_1' } },
    'payload[value]',
  );
  await refused(meterEvent('b', '1.5'), 'payload[value]');
  await refused(meterEvent('c', 'ten'), 'payload[value]');
  await refused(meterEvent('d', '1', nowSeconds() - 36 * day), 'timestamp');
  await refused(meterEvent('e', '1', nowSeconds() + 600), 'timestamp');
  await refused({ ...meterEvent('f'), identifier: 'x'.repeat(101) }, 'identifier');
  t.deepEqual(fake.meterEvents(), [], 'nothing refused was stored');

  await stripe.billing.meterEvents.create(meterEvent('g', '1', nowSeconds() - 34 * day));
  await stripe.billing.meterEvents.create(meterEvent('h', '1', nowSeconds() + 240));
  t.is(fake.meterEvents().length, 2, 'within 35 days back and 5 minutes ahead');
});

test('failNext fails a meter event call and stores nothing', async (t) => {
  const { fake } = t.context;
  const stripe = fake.makeClient(KEY);
  fake.failNext(1, 500);
  await t.throwsAsync(stripe.billing.meterEvents.create(meterEvent('usg_f')), {
    instanceOf: errors.StripeAPIError,
  });
  t.deepEqual(fake.meterEvents(), []);
  await stripe.billing.meterEvents.create(meterEvent('usg_f'));
  t.is(fake.meterEvents().length, 1, 'the retry is the first event');
});

// --- Webhook signatures and events ---

test('signedWebhook output verifies with constructEventAsync; tampering fails', async (t) => {
  const secret = 'whsec_test_secret';
  const subscription = makeSubscription({
    status: 'active',
    items: [{ price: 'price_pro_monthly', product: 'prod_pro', quantity: 2 }],
  });
  const event = makeEvent({
    type: 'customer.subscription.updated',
    object: subscription,
    previous_attributes: { status: 'trialing' },
  });
  const stripe = new Stripe('sk_test_unused');

  const { body, header } = signedWebhook(event, secret);
  const verified = await stripe.webhooks.constructEventAsync(body, header, secret, 300);
  t.is(verified.id, event.id);
  t.is(verified.type, 'customer.subscription.updated');
  t.is(verified.api_version, STRIPE_API_VERSION);
  if (verified.type === 'customer.subscription.updated') {
    t.is(verified.data.object.id, subscription.id);
    t.is(verified.data.previous_attributes?.status, 'trialing');
    t.is(
      verified.data.object.items.data[0]?.current_period_end,
      subscription.items.data[0]?.current_period_end,
    );
  }

  const tampered = body.replace('"active"', '"canceled"');
  t.not(tampered, body);
  await t.throwsAsync(stripe.webhooks.constructEventAsync(tampered, header, secret, 300), {
    instanceOf: errors.StripeSignatureVerificationError,
  });
  await t.throwsAsync(stripe.webhooks.constructEventAsync(body, header, 'whsec_other', 300), {
    instanceOf: errors.StripeSignatureVerificationError,
  });

  const stale = signedWebhook(event, secret, nowSeconds() - 301);
  await t.throwsAsync(stripe.webhooks.constructEventAsync(stale.body, stale.header, secret, 300), {
    instanceOf: errors.StripeSignatureVerificationError,
    message: /tolerance/,
  });

  const session = makeCheckoutSession({
    mode: 'payment',
    customer: 'cus_1',
    payment_intent: 'pi_1',
  });
  const completed = signedWebhook(
    makeEvent({ type: 'checkout.session.completed', object: session }),
    secret,
  );
  const parsed = await Stripe.webhooks.constructEventAsync(
    completed.body,
    completed.header,
    secret,
  );
  t.is(parsed.type, 'checkout.session.completed');
});
