/**
 * The sandbox delivers webhooks like Stripe: to the endpoints created with
 * the API, signed (the SDK's `constructEventAsync` accepts them), retried
 * on non-2xx with Stripe's schedule (scaled down here), given up after 12
 * attempts; the duplicate and reorder switches; the endpoints API.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import anyTest, { type TestFn } from 'ava';
import Stripe from 'stripe';
import { type DeliveryAttempt, type Sandbox, startSandbox } from '../../sandbox/index.js';
import { MAX_ATTEMPTS, RETRY_DELAYS_MS } from '../../sandbox/webhooks/delivery.js';
import { waitFor } from '../helpers/wait.js';

const KEY = 'sk_test_delivery';
/** 1 m becomes 6 ms; the whole 12-attempt schedule (about 67.6 h) about 2.4 s. */
const SCALE = 0.0001;

interface Received {
  readonly event: Stripe.Event;
  readonly signature: string;
}

interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** The status of the next answers, in order; then 200. */
  readonly script: number[];
  close(): Promise<void>;
}

const test = anyTest as TestFn<{ sandbox: Sandbox; stripe: Stripe; receiver: Receiver }>;

async function body(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A webhook receiver that checks signatures with the SDK, as the service does. */
async function startReceiver(secret: () => string): Promise<Receiver> {
  const received: Received[] = [];
  const script: number[] = [];
  const verifier = new Stripe('sk_test_unused');
  const server: Server = createServer(async (request, response) => {
    const raw = await body(request);
    const signature = String(request.headers['stripe-signature'] ?? '');
    try {
      const event = await verifier.webhooks.constructEventAsync(raw, signature, secret());
      received.push({ event, signature });
      response.writeHead(script.shift() ?? 200).end();
    } catch {
      response.writeHead(401).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    script,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let endpointSecret = '';

test.beforeEach(async (t) => {
  t.context.sandbox = await startSandbox({ apiKeys: [KEY], retryDelayScale: SCALE });
  t.context.stripe = t.context.sandbox.makeClient(KEY);
  t.context.receiver = await startReceiver(() => endpointSecret);
  const endpoint = await t.context.stripe.webhookEndpoints.create({
    url: t.context.receiver.url,
    enabled_events: ['*'],
  });
  endpointSecret = endpoint.secret ?? '';
});

test.afterEach.always(async (t) => {
  await t.context.sandbox.close();
  await t.context.receiver.close();
});

function attemptsOf(sandbox: Sandbox, eventId: string): DeliveryAttempt[] {
  return sandbox.delivery.attempts.filter((a) => a.eventId === eventId);
}

test.serial('every event is delivered signed, and the SDK verifies it', async (t) => {
  const { stripe, sandbox, receiver } = t.context;
  const customer = await stripe.customers.create({ email: 'ada@example.com' });
  await waitFor(() => receiver.received.length, { until: (n) => n >= 1, what: 'a delivery' });
  const [first] = receiver.received;
  t.is(first?.event.type, 'customer.created');
  const object = first?.event.data.object as Stripe.Customer | undefined;
  t.is(object?.id, customer.id);
  t.regex(first?.signature ?? '', /^t=\d+,v1=[0-9a-f]{64}$/);
  t.deepEqual(
    (await stripe.events.list()).data.map((e) => e.id),
    [first?.event.id],
  );
  t.is(sandbox.delivery.attempts[0]?.status, 200);
});

test.serial('a non-2xx answer is retried on Stripe’s schedule until it succeeds', async (t) => {
  const { stripe, sandbox, receiver } = t.context;
  receiver.script.push(500, 503, 404);
  await stripe.customers.create({});
  const eventId = await waitFor(() => sandbox.events(KEY)[0]?.id, { what: 'the event' });
  const attempts = await waitFor(() => attemptsOf(sandbox, eventId), {
    until: (list) => list.at(-1)?.status === 200,
    what: 'a successful attempt',
  });
  t.deepEqual(
    attempts.map((a) => a.status),
    [500, 503, 404, 200],
  );
  t.deepEqual(
    attempts.map((a) => a.attempt),
    [1, 2, 3, 4],
  );
  attempts.slice(0, 3).forEach((attempt, index) => {
    const delay = (RETRY_DELAYS_MS[index] ?? 0) * SCALE;
    t.is(attempt.nextAttemptAt, attempt.at + delay);
    t.true((attempts[index + 1]?.at ?? 0) >= attempt.at + delay, `retry ${index + 1} waited`);
  });
  t.is(attempts[3]?.nextAttemptAt, null);
  await sandbox.delivery.idle();
  t.is(receiver.received.length, 4);
});

test.serial('a failing endpoint is given up after 12 attempts', async (t) => {
  const { stripe, sandbox, receiver } = t.context;
  receiver.script.push(...Array.from({ length: 20 }, () => 500));
  await stripe.customers.create({});
  await waitFor(() => sandbox.delivery.attempts.length, { until: (n) => n >= 1, what: 'a try' });
  await sandbox.delivery.idle();
  const attempts = sandbox.delivery.attempts;
  t.is(attempts.length, MAX_ATTEMPTS);
  t.true(attempts.every((a) => a.status === 500));
  t.is(attempts.at(-1)?.nextAttemptAt, null);
  t.is(sandbox.delivery.pending, 0);
});

test.serial('a refused connection counts as a failure and is retried', async (t) => {
  const { stripe, sandbox, receiver } = t.context;
  const closed = await startReceiver(() => endpointSecret);
  await closed.close();
  const endpoints = await stripe.webhookEndpoints.list();
  await stripe.webhookEndpoints.update(endpoints.data[0]?.id ?? '', { url: closed.url });
  await stripe.customers.create({});
  const attempts = await waitFor(() => sandbox.delivery.attempts, {
    until: (list) => list.length >= 2,
    what: 'two attempts',
  });
  t.is(attempts[0]?.status, 0);
  t.truthy(attempts[0]?.error);
  t.is(receiver.received.length, 0);
});

test.serial('the duplicates switch sends every event twice', async (t) => {
  const { stripe, sandbox, receiver } = t.context;
  sandbox.delivery.switches.duplicates = true;
  await stripe.customers.create({});
  await waitFor(() => receiver.received.length, { until: (n) => n >= 2, what: 'two deliveries' });
  await sandbox.delivery.idle();
  const ids = receiver.received.map((r) => r.event.id);
  t.is(ids.length, 2);
  t.is(ids[0], ids[1]);
});

test.serial('the reorder switch sends one request’s events newest first', async (t) => {
  const { stripe, sandbox, receiver } = t.context;
  const price = await stripe.prices.create({
    currency: 'usd',
    unit_amount: 500,
    recurring: { interval: 'month' },
    product_data: { name: 'Pro' },
  });
  const customer = await stripe.customers.create({});
  await waitFor(() => receiver.received.length, { until: (n) => n >= 1, what: 'customer.created' });
  sandbox.delivery.switches.reorder = true;
  await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
  await waitFor(() => receiver.received.length, { until: (n) => n >= 4, what: 'three more' });
  await sandbox.delivery.idle();
  t.deepEqual(
    receiver.received.slice(1).map((r) => r.event.type),
    ['invoice.payment_succeeded', 'invoice.paid', 'customer.subscription.created'],
  );
});

test.serial('endpoints: the secret only on create, enabled_events filter, delete', async (t) => {
  const { stripe, sandbox, receiver } = t.context;
  const listed = await stripe.webhookEndpoints.list();
  t.is(listed.data.length, 1);
  t.is(listed.data[0]?.secret, undefined);
  t.regex(endpointSecret, /^whsec_/);
  const id = listed.data[0]?.id ?? '';
  await stripe.webhookEndpoints.update(id, { enabled_events: ['invoice.paid'] });
  await stripe.customers.create({});
  await sandbox.delivery.idle();
  t.is(receiver.received.length, 0);
  t.deepEqual(await stripe.webhookEndpoints.del(id), {
    id,
    object: 'webhook_endpoint',
    deleted: true,
  });
  const gone = await t.throwsAsync(stripe.webhookEndpoints.retrieve(id));
  t.is((gone as Stripe.errors.StripeError).statusCode, 404);
  const bad = await t.throwsAsync(
    stripe.webhookEndpoints.create({ url: 'not a url', enabled_events: ['*'] }),
  );
  t.is((bad as Stripe.errors.StripeError).param, 'url');
});
