// needs: mongodb redis
/**
 * GetProjectMetrics across replicas: two instances share MongoDB and Redis;
 * each keeps the project's figures in memory, and a webhook applied on one
 * changes the figures the other answers (the change message names the
 * Stripe customer; the other replica re-reads that customer only).
 */
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { MongoClient } from 'mongodb';
import { MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import type { SubscriptionDoc } from '../../src/store/documents.js';
import { subscriptionDoc } from '../../src/stripe/subscription-mapping.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import {
  makeEvent,
  makeSubscription,
  nowSeconds,
  type SubscriptionSpec,
  signedWebhook,
} from '../helpers/stripe-objects.js';
import { waitFor } from '../helpers/wait.js';
import { waitForRun } from '../jobs/helpers.js';

const now = nowSeconds();
let h: BillingHarness;
let b: TestApp;

const metricsOf = (server: { readonly baseUrl: string }) =>
  createClient(
    MetricsService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  ).getProjectMetrics({}, h.auth);

/** The figures of an answer, without its window (which is "now" on each call). */
const figuresOf = async (server: { readonly baseUrl: string }) => {
  const { windowStart, windowEnd, ...figures } = await metricsOf(server);
  return figures;
};

const mrrOf = async (server: { readonly baseUrl: string }) =>
  (await metricsOf(server)).mrr.map(({ currency, amountMinor }) => `${currency} ${amountMinor}`);

/** Posts a subscription event to the replica at `baseUrl`. */
async function deliver(
  baseUrl: string,
  spec: SubscriptionSpec,
  type: 'created' | 'updated' | 'deleted',
  created: number,
): Promise<void> {
  const customer = spec.customer ?? '';
  h.fake.seedCustomer(
    { id: customer, metadata: { billing_project_id: h.project.projectId } },
    h.project.stripeSecretKey,
  );
  const event = makeEvent({
    type: `customer.subscription.${type}`,
    object: makeSubscription(spec),
    created,
  });
  const signed = signedWebhook(event, h.project.webhookSecret);
  const answer = await fetch(`${baseUrl}/webhooks/stripe/${h.project.projectId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': signed.header },
    body: signed.body,
  });
  if (answer.status !== 200) throw new Error(`webhook answered ${answer.status}`);
}

const monthly = (id: string, customer: string, unitAmount: number): SubscriptionSpec => ({
  id,
  customer,
  created: now - 3600,
  items: [{ price: `price_${id}`, product: `prod_${id}`, unit_amount: unitAmount }],
});

test.before(async () => {
  h = await startBillingHarness();
  b = await startTestApp({
    database: h.server.config.mongodbDatabase,
    env: { STRIPE_API_URL: h.fake.url },
  });
});

test.after.always(async () => {
  await b?.app.stop();
  await h?.close();
});

test.serial('a webhook applied on replica A changes the figures replica B answers', async (t) => {
  await deliver(h.server.baseUrl, monthly('sub_x1', 'cus_x1', 1000), 'created', now - 60);
  // Both replicas build their figures now, from MongoDB.
  t.deepEqual(await mrrOf(h.server), ['usd 1000']);
  t.deepEqual(await mrrOf(b), ['usd 1000']);

  // A second subscription of the same customer, on A: B follows from the message.
  await deliver(h.server.baseUrl, monthly('sub_x2', 'cus_x1', 2500), 'created', now - 50);
  t.deepEqual(await mrrOf(h.server), ['usd 3500']);
  await waitFor(() => mrrOf(b), {
    what: 'replica B to show the subscription stored by A',
    until: (mrr) => mrr.join() === 'usd 3500',
  });
  const both = await metricsOf(b);
  // One customer, two subscriptions: one active customer.
  t.is(both.activeCustomers, 1n);
  t.deepEqual(
    both.subscriptionsByStatus.map(({ status, count }) => `${status} ${count}`),
    ['active 2'],
  );
  t.is(both.newSubscriptions, 2n);

  // A cancellation: B drops its revenue and counts it churned.
  await deliver(
    h.server.baseUrl,
    { ...monthly('sub_x1', 'cus_x1', 1000), status: 'canceled', ended_at: now - 40 },
    'deleted',
    now - 40,
  );
  const after = await waitFor(() => figuresOf(b), {
    what: 'replica B to show the cancellation applied on A',
    until: (m) => m.churnedSubscriptions === 1n,
  });
  t.deepEqual(
    after.mrr.map(({ currency, amountMinor }) => `${currency} ${amountMinor}`),
    ['usd 2500'],
  );
  t.deepEqual(
    after.subscriptionsByStatus.map(({ status, count }) => `${status} ${count}`),
    ['active 1', 'canceled 1'],
  );
  t.is(after.activeCustomers, 1n);
  t.deepEqual(await figuresOf(h.server), after);
});

test.serial('a webhook applied on replica B changes the figures replica A answers', async (t) => {
  const before = await metricsOf(h.server);
  await metricsOf(b);
  await deliver(b.baseUrl, monthly('sub_y1', 'cus_y1', 700), 'created', now - 30);
  const mine = await figuresOf(b);
  t.is(mine.activeCustomers, before.activeCustomers + 1n);
  const theirs = await waitFor(() => figuresOf(h.server), {
    what: 'replica A to show the subscription stored by B',
    until: (m) => m.activeCustomers === before.activeCustomers + 1n,
  });
  t.deepEqual(theirs, mine);
});

test.serial(
  "a reconciliation run rebuilds both replicas' figures, so a change no message told shows",
  async (t) => {
    // A version stored behind the service's back (as if its message were lost),
    // the same as Stripe holds it: reconciliation finds it in sync and repairs
    // nothing about it, so only the rebuild after the run can show it.
    const spec = monthly('sub_z1', 'cus_z1', 900);
    const subscription = makeSubscription(spec);
    h.fake.seedSubscription(subscription, h.project.stripeSecretKey);
    const mongo = new MongoClient(h.server.config.mongodbUrl);
    await mongo.connect();
    try {
      await mongo
        .db(h.server.config.mongodbDatabase)
        .collection<SubscriptionDoc>('subscriptions')
        .insertOne(subscriptionDoc(h.project.projectId, subscription, now - 20, new Date()));
    } finally {
      await mongo.close();
    }
    t.false((await mrrOf(b)).includes('usd 900'));
    const { run } = await h.server.app.reconciliation.start({
      projectId: h.project.projectId,
      dryRun: false,
      triggeredBy: 'test',
      reason: 'rebuild the figures',
    });
    const finished = await waitForRun(h.server.app, h.project.projectId, run._id);
    t.is(finished.state, 'succeeded', finished.error ?? '');
    // Stripe does not know the subscriptions the earlier tests posted: they are canceled.
    t.is(finished.counts.missing_in_stripe, 2);
    for (const replica of [h.server, b]) {
      const figures = await waitFor(() => figuresOf(replica), {
        what: 'the figures rebuilt after the run',
        until: (m) => m.mrr.map(({ amountMinor }) => amountMinor).join() === '900',
      });
      t.deepEqual(
        figures.subscriptionsByStatus.map(({ status, count }) => `${status} ${count}`),
        ['active 1', 'canceled 3'],
      );
      t.is(figures.activeCustomers, 1n);
    }
  },
);
