// needs: mongodb redis
/**
 * The webhook promise with the sandbox itself delivering: the same customer
 * histories, played once with the sandbox's delivery switches off (each
 * event once, in order) and once with `duplicates` and `reorder` on (every
 * event twice, each batch newest first), end in the same entitlements.
 *
 * One service and one sandbox; each run has its own project wired as
 * start:local wires one (scripts/lib/local-stripe.ts: its own sandbox
 * account, webhook endpoint and sample catalog). Every step of a history
 * that the sandbox does in one go (paying the checkouts, then failing a
 * payment and canceling a subscription) is one synchronous run, so its
 * events are one delivery batch, which `reorder` sends backwards:
 * `checkout.session.completed` before `customer.subscription.created`, a
 * deletion before the creation. Retries are shrunk (`retryDelayScale`), so
 * whatever the service refuses at first comes again soon.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { CheckoutMode, CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import {
  EntitlementSourceKind,
  EntitlementsService,
} from '../../gen/billing/v1/entitlements_pb.js';
import { type Sandbox, startSandbox } from '../../sandbox/index.js';
import { wireLocalProject } from '../../scripts/lib/local-stripe.js';
import { createTestProject, startTestApp, type TestApp } from '../helpers/app.js';

let sandbox: Sandbox;
let server: TestApp;

test.before(async () => {
  sandbox = await startSandbox({ retryDelayScale: 0.001 });
  server = await startTestApp({ env: { STRIPE_API_URL: sandbox.url } });
});

test.after.always(async () => {
  await server?.app.stop();
  await sandbox?.close();
});

/** The logical customers of a history; each run prefixes them (customer ids are per sandbox). */
const CUSTOMERS = ['paying', 'failing', 'ending', 'upgrading'] as const;

interface Run {
  readonly apiKey: string;
  /** The service's answer per logical customer, without run-specific ids and times. */
  readonly state: Record<string, unknown>;
  readonly endpointId: string;
}

async function playHistory(prefix: string): Promise<Run> {
  const project = await createTestProject(server.app, prefix);
  const apiKey = `sk_test_${randomBytes(12).toString('hex')}`;
  const prices = await wireLocalProject(server.app.projects, project.projectId, server.app.port, {
    sandbox: { sandbox, secretKey: apiKey, stop: async () => {} },
    stripeKey: undefined,
    webhookSecret: undefined,
  });
  const price = (name: string) => prices.find((p) => p.name === name)?.priceId ?? '';
  const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
  const auth = { headers: { authorization: `Bearer ${project.adminKey}` } };
  const checkout = createClient(CheckoutService, transport);
  const id = (customer: string) => `${prefix}-${customer}`;

  const sessions = new Map<string, string>();
  for (const customer of CUSTOMERS) {
    const session = await checkout.createCheckoutSession(
      {
        customerId: id(customer),
        mode: CheckoutMode.SUBSCRIPTION,
        lineItems: [{ priceId: price('Pro'), quantity: 1n }],
        successUrl: 'https://app.example/ok',
        cancelUrl: 'https://app.example/cancel',
      },
      auth,
    );
    sessions.set(customer, session.sessionId);
  }
  await sandbox.delivery.idle();
  // One synchronous run: one batch.
  for (const sessionId of sessions.values()) {
    sandbox.completeCheckoutSession(sessionId, { apiKey, card: 'pm_card_visa' });
  }
  sandbox.trigger('payment_failed', id('failing'));
  sandbox.trigger('subscription_deleted', id('ending'));
  await sandbox.delivery.idle();

  const stripe = sandbox.makeClient(apiKey);
  const buyer = sandbox.findCustomer(id('upgrading'))?.customer.id;
  const upgrading = sandbox.subscriptions(apiKey).find((s) => s.customer === buyer);
  if (upgrading === undefined) throw new Error(`no subscription for ${id('upgrading')}`);
  await stripe.subscriptions.update(upgrading.id, {
    items: [
      { id: upgrading.items.data[0]?.id ?? '', price: price('Team (per seat)'), quantity: 3 },
    ],
  });
  await stripe.subscriptions.update(upgrading.id, { cancel_at_period_end: true });
  await sandbox.delivery.idle();

  const entitlements = createClient(EntitlementsService, transport);
  const state: Record<string, unknown> = {};
  for (const customer of CUSTOMERS) {
    const listed = await entitlements.listEntitlements({ customerId: id(customer) }, auth);
    state[customer] = listed.entitlements.map((e) => ({
      feature: e.feature,
      allowed: e.allowed,
      limit: e.limit === undefined ? 'unlimited' : String(e.limit),
      ends: e.validUntil !== undefined,
      sources: e.sources.map((s) => `${EntitlementSourceKind[s.kind]} ${s.status}`),
    }));
  }
  const endpointId = sandbox.webhookEndpoints(apiKey)[0]?.id ?? '';
  return { apiKey, state, endpointId };
}

test.serial(
  'duplicated and reordered deliveries by the sandbox end as in-order delivery does',
  async (t) => {
    const inOrder = await playHistory('ordered');
    Object.assign(sandbox.delivery.switches, { duplicates: true, reorder: true });
    t.teardown(() =>
      Object.assign(sandbox.delivery.switches, { duplicates: false, reorder: false }),
    );
    const chaos = await playHistory('chaos');

    t.deepEqual(chaos.state, inOrder.state);
    // The histories mean something: paid, past due in grace, ended, upgraded to 3 seats.
    const features = (customer: string) =>
      (inOrder.state[customer] as { feature: string; limit: string }[]).map(
        (e) => `${e.feature} ${e.limit}`,
      );
    t.deepEqual(features('paying'), ['api_requests unlimited', 'export unlimited', 'projects 50']);
    t.deepEqual(features('ending'), []);
    t.true(features('upgrading').includes('seats 3'), features('upgrading').join());
    t.true(
      JSON.stringify(inOrder.state.failing).includes('past_due'),
      JSON.stringify(inOrder.state.failing),
    );

    // And the chaos run really was one: every event sent at least twice, batches backwards.
    const attempts = sandbox.delivery.attempts.filter((a) => a.endpointId === chaos.endpointId);
    const sends = new Map<string, number>();
    for (const attempt of attempts)
      sends.set(attempt.eventId, (sends.get(attempt.eventId) ?? 0) + 1);
    t.true([...sends.values()].every((n) => n >= 2));
    t.is(sends.size, sandbox.events(chaos.apiKey).length);
    const firstSent = (type: string) => attempts.findIndex((a) => a.eventType === type);
    t.true(firstSent('checkout.session.completed') < firstSent('customer.subscription.created'));
    t.true(firstSent('customer.subscription.deleted') < firstSent('customer.subscription.created'));
    // Each event was finally accepted.
    const lastStatus = new Map(attempts.map((a) => [a.eventId, a.status]));
    t.deepEqual(
      [...lastStatus.values()].filter((status) => status !== 200),
      [],
    );
  },
);
