// needs: mongodb redis
/**
 * Two projects on one Stripe account. Stripe sends every event of the
 * account to every endpoint and lists every subscription of it, so each
 * project applies and counts only its own customers' objects: the other
 * project's events answer 2xx and are recorded as ignored, and they never
 * reach its entitlements, its metrics or its reconciliation.
 */
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { MongoClient } from 'mongodb';
import type Stripe from 'stripe';
import { CheckoutMode } from '../../gen/billing/v1/checkout_pb.js';
import { MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import type { EventReceiptDoc } from '../../src/store/documents.js';
import {
  type BillingHarness,
  type HarnessProject,
  startBillingHarness,
} from '../helpers/billing-harness.js';
import { makeEvent, makeInvoice } from '../helpers/stripe-objects.js';
import { waitForRun } from '../jobs/helpers.js';
import { proSubscription } from './helpers.js';

let h: BillingHarness;
let mongo: MongoClient;
/** A second project created with the same Stripe key as the harness project (A). */
let b: HarnessProject;
let aCustomer: string;
let bCustomer: string;
let bCheckoutSessionId: string;

const bearer = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

test.before(async () => {
  h = await startBillingHarness({ env: { JOB_POLL_MS: '100' } });
  b = await h.addProject('b on the same account', h.project.stripeSecretKey);
  mongo = new MongoClient(h.server.config.mongodbUrl);
  await mongo.connect();
  aCustomer = await h.linkCustomer('a-user');
  // B's product starts a checkout for its own user: the service creates B's Stripe customer.
  const started = await h.checkout.createCheckoutSession(
    {
      customerId: 'b-user',
      mode: CheckoutMode.SUBSCRIPTION,
      lineItems: [{ priceId: 'price_pro_monthly', quantity: 5n }],
      successUrl: 'https://b.example/ok',
      cancelUrl: 'https://b.example/cancel',
    },
    bearer(b.adminKey),
  );
  bCustomer = started.stripeCustomerId;
  bCheckoutSessionId = started.sessionId;
});

test.after.always(async () => {
  await mongo?.close();
  await h?.close();
});

async function postTo(project: HarnessProject, event: Stripe.Event) {
  return h.post(event, { secret: project.webhookSecret, projectId: project.projectId });
}

async function receipt(projectId: string, eventId: string): Promise<EventReceiptDoc | null> {
  return mongo
    .db(h.server.config.mongodbDatabase)
    .collection<EventReceiptDoc>('event_receipts')
    .findOne({ _id: `${projectId}:${eventId}` });
}

async function allowed(project: HarnessProject, customerId: string): Promise<boolean> {
  const answer = await h.entitlements.checkEntitlement(
    { customerId, feature: 'reports' },
    bearer(project.adminKey),
  );
  return answer.entitlement?.allowed ?? false;
}

async function metricsOf(project: HarnessProject) {
  const client = createClient(
    MetricsService,
    createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' }),
  );
  return client.getProjectMetrics({}, bearer(project.adminKey));
}

async function reconcile(project: HarnessProject, dryRun: boolean) {
  const app = h.server.app;
  const { run } = await app.reconciliation.start({
    projectId: project.projectId,
    dryRun,
    triggeredBy: 'test',
    reason: 'shared account',
  });
  return waitForRun(app, project.projectId, run._id);
}

test.serial("each project applies its own subscription and ignores the other's", async (t) => {
  const bSub = proSubscription(bCustomer, 'sub_shared_b', { quantity: 5 });
  const aSub = proSubscription(aCustomer, 'sub_shared_a', { quantity: 2 });
  h.fake.seedSubscriptions([aSub, bSub], h.project.stripeSecretKey);
  const bCreated = makeEvent({ type: 'customer.subscription.created', object: bSub });
  const aCreated = makeEvent({ type: 'customer.subscription.created', object: aSub });

  const atA = await postTo(h.project, bCreated);
  t.is(atA.status, 200, "B's event at A's endpoint is answered 2xx, so Stripe stops");
  t.is(atA.body.outcome, 'ignored');
  const ignored = await receipt(h.project.projectId, bCreated.id);
  t.is(ignored?.status, 'ignored');
  t.is(ignored?.ignored_reason, 'other_project');
  t.is((await postTo(b, bCreated)).body.outcome, 'processed');

  t.is((await postTo(h.project, aCreated)).body.outcome, 'processed');
  t.is((await postTo(b, aCreated)).body.outcome, 'ignored');

  t.true(await allowed(h.project, 'a-user'));
  t.true(await allowed(b, 'b-user'));
  t.false(await allowed(h.project, 'b-user'), "A has no customer b-user and took none of B's");
});

test.serial("each project's metrics count only its own subscriptions", async (t) => {
  const a = await metricsOf(h.project);
  t.deepEqual(
    a.subscriptionsByStatus.map((s) => [s.status, s.count]),
    [['active', 1n]],
  );
  t.deepEqual(
    a.mrr.map((m) => [m.currency, m.amountMinor]),
    [['usd', 4000n]],
    "A's MRR: 20.00 x 2 seats, none of B's 5 seats",
  );
  t.is(a.activeCustomers, 1n);
  const ofB = await metricsOf(b);
  t.deepEqual(
    ofB.mrr.map((m) => [m.currency, m.amountMinor]),
    [['usd', 10_000n]],
  );
});

test.serial("B's checkout and invoice events are ignored by A and link nothing", async (t) => {
  const { session } = h.fake.completeCheckoutSession(bCheckoutSessionId, {
    apiKey: h.project.stripeSecretKey,
  });
  const completed = makeEvent({ type: 'checkout.session.completed', object: session });
  t.is((await postTo(h.project, completed)).body.outcome, 'ignored');
  t.is((await postTo(b, completed)).body.outcome, 'processed');
  const invoice = makeInvoice({ customer: bCustomer, status: 'paid' });
  t.is(
    (await postTo(h.project, makeEvent({ type: 'invoice.paid', object: invoice }))).body.outcome,
    'ignored',
  );
  t.false(await allowed(h.project, 'b-user'));
  t.true(await allowed(b, 'b-user'));
});

test.serial('a customer no project created or linked is nobody’s', async (t) => {
  const stranger = h.fake.seedCustomer({}, h.project.stripeSecretKey);
  const sub = proSubscription(stranger.id, 'sub_shared_stranger', { quantity: 1 });
  const event = makeEvent({ type: 'customer.subscription.created', object: sub });
  t.is((await postTo(h.project, event)).body.outcome, 'ignored');
  t.is((await postTo(b, event)).body.outcome, 'ignored');
});

test.serial(
  'reconciliation walks the whole account but counts and repairs only its own',
  async (t) => {
    // One more subscription of B's that no webhook brought: drift for B, nothing for A.
    h.fake.seedSubscriptions(
      [proSubscription(bCustomer, 'sub_shared_b2', { quantity: 1 })],
      h.project.stripeSecretKey,
    );
    const dryA = await reconcile(h.project, true);
    t.is(dryA.state, 'succeeded', dryA.error ?? '');
    t.is(dryA.counts.checked, 1, 'A checks its own subscription only');
    t.is(dryA.counts.missing_locally, 0, "B's subscriptions are not A's drift");
    const realA = await reconcile(h.project, false);
    t.is(realA.counts.repaired, 0);
    t.deepEqual(
      (await metricsOf(h.project)).mrr.map((m) => [m.currency, m.amountMinor]),
      [['usd', 4000n]],
      'A repaired nothing into its own figures',
    );
    const realB = await reconcile(b, false);
    t.is(realB.state, 'succeeded', realB.error ?? '');
    // sub_shared_b, the one B's completed checkout made, and sub_shared_b2.
    t.is(realB.counts.checked, 3);
    t.is(realB.counts.missing_locally, 1);
    t.is(realB.counts.repaired, 1);
  },
);
