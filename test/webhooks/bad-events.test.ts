// needs: mongodb redis
/**
 * Signed bodies that are not Stripe events are 400 and store nothing. An
 * event that fails for a reason a retry cannot fix is given up after
 * WEBHOOK_MAX_ATTEMPTS deliveries: recorded as dead with its error, answered
 * 2xx so Stripe stops, listed by ListWebhookEvents and applied again by
 * ReplayWebhookEvent. A dependency that is down keeps answering 5xx.
 */
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { MongoClient } from 'mongodb';
import { AdminService, WebhookEventStatus } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutMode } from '../../gen/billing/v1/checkout_pb.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';
import { testMongoUrl } from '../helpers/services.js';
import {
  makeEvent,
  makeInvoice,
  makeSubscription,
  nowSeconds,
  unappliableSubscriptionEvent,
} from '../helpers/stripe-objects.js';

const maxAttempts = 3;
let h: BillingHarness;
let mongo: MongoClient;

test.before(async () => {
  h = await startBillingHarness({ env: { WEBHOOK_MAX_ATTEMPTS: String(maxAttempts) } });
  mongo = await new MongoClient(testMongoUrl()).connect();
});

test.after.always(async () => {
  await mongo?.close();
  await h?.close();
});

const admin = () =>
  createClient(
    AdminService,
    createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' }),
  );

const receipts = () =>
  mongo.db(h.server.config.mongodbDatabase).collection('event_receipts').countDocuments();

async function allowed(customerId: string, feature: string): Promise<boolean> {
  const answer = await h.entitlements.checkEntitlement({ customerId, feature }, h.auth);
  return answer.entitlement?.allowed ?? false;
}

test.serial('signed bodies that are not events are 400 and store nothing', async (t) => {
  const event = makeEvent({
    type: 'customer.subscription.created',
    object: makeSubscription({ customer: 'cus_shape' }),
  });
  const { id: _id, ...noId } = event;
  const { type: _type, ...noType } = event;
  const bodies: Record<string, unknown> = {
    'an array': [],
    'an empty object': {},
    null: null,
    'a number': 42,
    'no id': noId,
    'a null id': { ...event, id: null },
    'a numeric id': { ...event, id: 17 },
    'an empty id': { ...event, id: '' },
    'no type': noType,
    'a null type': { ...event, type: null },
    'no created time': { ...event, created: 'yesterday' },
    'no data object': { ...event, data: {} },
    'a data object that is an array': { ...event, data: { object: [] } },
  };
  const before = await receipts();
  for (const [name, body] of Object.entries(bodies)) {
    const answer = await h.post(JSON.stringify(body));
    t.is(answer.status, 400, name);
  }
  t.is(await receipts(), before, 'no receipt stored');
});

test.serial(
  'an event that fails the same way every time is given up, listed and not retried',
  async (t) => {
    // A subscription with no items, of the project's own customer: the handler fails on it, every time.
    const customer = await h.linkCustomer('malformed-user');
    const malformed = unappliableSubscriptionEvent(customer, 'sub_malformed');
    const body = malformed.body;
    const statuses: number[] = [];
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      statuses.push((await h.post(body)).status);
    }
    t.deepEqual(statuses, [500, 500, 200], 'retried until the last attempt, then 2xx');
    const again = await h.post(body);
    t.is(again.status, 200, 'a later delivery is a duplicate');
    t.is(again.body.outcome, 'duplicate');

    const listed = await admin().listWebhookEvents({ status: WebhookEventStatus.DEAD }, h.auth);
    const dead = listed.events.find((e) => e.eventId === malformed.id);
    t.truthy(dead, 'the dead event is listed');
    t.is(dead?.attempts, maxAttempts);
    t.not(dead?.lastError ?? '', '', 'with its error');
    t.true(dead?.replayable);
    const processed = await admin().listWebhookEvents(
      { status: WebhookEventStatus.PROCESSED },
      h.auth,
    );
    t.false(processed.events.some((e) => e.eventId === malformed.id));

    // A replay of an event that still cannot be applied leaves it dead.
    const replayed = await admin().replayWebhookEvent(
      { eventId: malformed.id, reason: 'try again' },
      h.auth,
    );
    t.is(replayed.event?.status, WebhookEventStatus.DEAD);
    t.is(replayed.event?.attempts, maxAttempts + 1);
  },
);

test.serial('a dead event is applied by ReplayWebhookEvent once its cause is fixed', async (t) => {
  const session = await h.checkout.createCheckoutSession(
    {
      customerId: 'cus_replay',
      mode: CheckoutMode.SUBSCRIPTION,
      lineItems: [{ priceId: 'price_pro_monthly', quantity: 1n }],
      successUrl: 'https://app.example/ok',
      cancelUrl: 'https://app.example/cancel',
    },
    h.auth,
  );
  // The invoice names a subscription Stripe does not know (yet): a permanent failure.
  const subscription = makeSubscription({
    customer: session.stripeCustomerId,
    items: [{ price: 'price_pro_monthly', product: 'prod_pro' }],
    created: nowSeconds() - 60,
  });
  const event = makeEvent({
    type: 'invoice.paid',
    object: makeInvoice({ customer: session.stripeCustomerId, subscription: subscription.id }),
  });
  let last = 0;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) last = (await h.post(event)).status;
  t.is(last, 200);
  t.false(await allowed('cus_replay', 'reports'));

  const unknown = admin().replayWebhookEvent({ eventId: 'evt_unknown', reason: 'x' }, h.auth);
  t.is(await codeOf(unknown), Code.NotFound);

  h.fake.seedSubscription(subscription, h.project.stripeSecretKey);
  const replayed = await admin().replayWebhookEvent(
    { eventId: event.id, reason: 'subscription restored' },
    h.auth,
  );
  t.is(replayed.event?.status, WebhookEventStatus.PROCESSED);
  t.is(replayed.event?.lastError, '');
  t.true(await allowed('cus_replay', 'reports'), 'the replay gave access');
  const audit = await admin().listAuditLog({ target: `webhook_event:${event.id}` }, h.auth);
  t.is(audit.entries[0]?.reason, 'subscription restored', 'the replay is audited');

  const twice = admin().replayWebhookEvent({ eventId: event.id, reason: 'again' }, h.auth);
  t.is(await codeOf(twice), Code.FailedPrecondition, 'a processed event is not replayed');
});

// Last: it leaves failures queued in the fake Stripe, and resets it.
test.serial('a dependency that is down keeps answering 500, past the attempt limit', async (t) => {
  const customer = await h.linkCustomer('down-user');
  const subscription = makeSubscription({ customer });
  const event = makeEvent({
    type: 'invoice.paid',
    object: makeInvoice({ customer, subscription: subscription.id }),
  });
  h.fake.failNext(1000, 503);
  const statuses: number[] = [];
  for (let attempt = 1; attempt <= maxAttempts + 1; attempt++) {
    statuses.push((await h.post(event)).status);
  }
  h.fake.reset();
  t.deepEqual(statuses, Array(maxAttempts + 1).fill(500));
  const listed = await admin().listWebhookEvents({ status: WebhookEventStatus.FAILED }, h.auth);
  const failed = listed.events.find((e) => e.eventId === event.id);
  t.is(failed?.attempts, maxAttempts + 1, 'every attempt counted');
});
