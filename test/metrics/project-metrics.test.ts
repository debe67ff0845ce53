// needs: mongodb redis
/**
 * GetProjectMetrics and the business gauges, end to end: a mixed catalog of
 * subscriptions arrives as real signed webhooks, and the figures answered
 * over Connect and scraped from /metrics match figures computed by hand.
 * Amounts are minor units (cents).
 */
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import { scrapeAll } from '../helpers/app.js';
import {
  type BillingHarness,
  type HarnessProject,
  startBillingHarness,
} from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';
import {
  makeEvent,
  makeSubscription,
  nowSeconds,
  type SubscriptionItemSpec,
  type SubscriptionSpec,
} from '../helpers/stripe-objects.js';

const day = 24 * 3600;
const now = nowSeconds();

let h: BillingHarness;
let other: HarnessProject;

const bearer = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
const metricsClient = () =>
  createClient(
    MetricsService,
    createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' }),
  );

function item(spec: Omit<SubscriptionItemSpec, 'price'> & { price: string }): SubscriptionItemSpec {
  return { product: `prod_${spec.price}`, ...spec };
}

async function deliver(
  spec: SubscriptionSpec,
  options: { project?: HarnessProject; eventCreated?: number; type?: 'created' | 'deleted' } = {},
): Promise<void> {
  const project = options.project ?? h.project;
  ownCustomer(project, spec.customer);
  const answer = await h.post(
    makeEvent({
      type: `customer.subscription.${options.type ?? 'created'}`,
      object: makeSubscription(spec),
      created: options.eventCreated ?? now - 60,
    }),
    { secret: project.webhookSecret, projectId: project.projectId },
  );
  if (answer.status !== 200) throw new Error(`webhook answered ${answer.status}`);
}

const seededCustomers = new Set<string>();

/**
 * The Stripe customer exists in the project's account, marked with the
 * project's id as the service marks the customers it creates: without it,
 * the project would ignore the subscription as another project's.
 */
function ownCustomer(project: HarnessProject, customer: string | undefined): void {
  if (customer === undefined) throw new Error('every subscription here names its customer');
  const key = `${project.projectId}:${customer}`;
  if (seededCustomers.has(key)) return;
  seededCustomers.add(key);
  h.fake.seedCustomer(
    { id: customer, metadata: { billing_project_id: project.projectId } },
    project.stripeSecretKey,
  );
}

test.before(async () => {
  h = await startBillingHarness();
  other = await h.addProject('other');
  const old = now - 60 * day;
  // USD
  // A: monthly 20.00 x 3 seats -> 6000
  await deliver({
    id: 'sub_A',
    customer: 'cus_A',
    created: old,
    items: [item({ price: 'price_pro_monthly', unit_amount: 2000, quantity: 3 })],
  });
  // B: yearly 500.00 -> 4166.66...; same customer; new (5 days ago)
  await deliver({
    id: 'sub_B',
    customer: 'cus_A',
    created: now - 5 * day,
    items: [item({ price: 'price_api_yearly', unit_amount: 50_000, interval: 'year' })],
  });
  // C: weekly 10.00 x 2, past_due -> 8666.66... (revenue, but not an active customer)
  await deliver({
    id: 'sub_C',
    customer: 'cus_C',
    status: 'past_due',
    created: old,
    items: [item({ price: 'price_weekly', unit_amount: 1000, quantity: 2, interval: 'week' })],
  });
  // D: daily 1.00 -> 3041.66...
  await deliver({
    id: 'sub_D',
    customer: 'cus_D',
    created: old,
    items: [item({ price: 'price_daily', unit_amount: 100, interval: 'day' })],
  });
  // E: every 3 months 90.00 -> 3000
  await deliver({
    id: 'sub_E',
    customer: 'cus_E',
    created: old,
    items: [item({ price: 'price_quarterly', unit_amount: 9000, interval_count: 3 })],
  });
  // F: trialing monthly 50.00 -> 0; an active customer; new (2 days ago)
  await deliver({
    id: 'sub_F',
    customer: 'cus_F',
    status: 'trialing',
    created: now - 2 * day,
    items: [item({ price: 'price_team_monthly', unit_amount: 5000 })],
  });
  // G: created, then canceled 3 days ago -> 0, churned
  const g: SubscriptionSpec = {
    id: 'sub_G',
    customer: 'cus_G',
    created: old,
    items: [item({ price: 'price_pro_monthly', unit_amount: 2000 })],
  };
  await deliver(g, { eventCreated: old });
  await deliver(
    { ...g, status: 'canceled', canceled_at: now - 3 * day, ended_at: now - 3 * day },
    { type: 'deleted', eventCreated: now - 3 * day },
  );
  // H: active, set to cancel at the period end -> still 1500, not churned
  await deliver({
    id: 'sub_H',
    customer: 'cus_H',
    created: old,
    current_period_start: now - 10 * day,
    cancel_at_period_end: true,
    canceled_at: now - 4 * day,
    items: [item({ price: 'price_basic_monthly', unit_amount: 1500 })],
  });
  // EUR
  // I: monthly 9.90 -> 990; J: yearly 99.99 -> 833.25 (same customer)
  await deliver({
    id: 'sub_I',
    customer: 'cus_I',
    currency: 'eur',
    created: old,
    items: [item({ price: 'price_eur_monthly', unit_amount: 990 })],
  });
  await deliver({
    id: 'sub_J',
    customer: 'cus_I',
    currency: 'eur',
    created: old,
    items: [item({ price: 'price_eur_yearly', unit_amount: 9999, interval: 'year' })],
  });
  // K: every 2 weeks 5.00 x 4 -> 4333.33...
  await deliver({
    id: 'sub_K',
    customer: 'cus_K',
    currency: 'eur',
    created: old,
    items: [
      item({
        price: 'price_eur_biweekly',
        unit_amount: 500,
        quantity: 4,
        interval: 'week',
        interval_count: 2,
      }),
    ],
  });
  // Another project: must never show up in the first project's figures.
  await deliver(
    {
      id: 'sub_other_1',
      customer: 'cus_other',
      created: now - day,
      items: [item({ price: 'price_other', unit_amount: 7000 })],
    },
    { project: other },
  );
  await deliver(
    {
      id: 'sub_other_2',
      customer: 'cus_other',
      currency: 'gbp',
      created: now - day,
      items: [item({ price: 'price_other_gbp', unit_amount: 1200, interval: 'year' })],
    },
    { project: other },
  );
});

test.after.always(async () => {
  await h?.close();
});

// USD: 6000 + (50000 + 104000 + 36500) / 12 + 3000 + 1500 = 26375
// EUR: 990 + 9999 / 12 + 104000 / 24 = 147758 / 24 = 6156.58... -> 6157
const expectedMrr = [
  { currency: 'eur', amountMinor: 6157n },
  { currency: 'usd', amountMinor: 26_375n },
];

test('MRR per currency, counts by status and active customers match the hand-computed figures', async (t) => {
  const answer = await metricsClient().getProjectMetrics({}, h.auth);
  t.deepEqual(
    answer.mrr.map(({ currency, amountMinor }) => ({ currency, amountMinor })),
    expectedMrr,
  );
  t.deepEqual(
    answer.subscriptionsByStatus.map(({ status, count }) => [status, count]),
    [
      ['active', 8n],
      ['canceled', 1n],
      ['past_due', 1n],
      ['trialing', 1n],
    ],
  );
  // cus_A, cus_D, cus_E, cus_F (trialing), cus_H, cus_I, cus_K.
  t.is(answer.activeCustomers, 7n);
});

test('the default window is the last 30 days up to now', async (t) => {
  const before = Date.now();
  const answer = await metricsClient().getProjectMetrics({}, h.auth);
  const after = Date.now();
  const start = answer.windowStart ? timestampDate(answer.windowStart).getTime() : Number.NaN;
  const end = answer.windowEnd ? timestampDate(answer.windowEnd).getTime() : Number.NaN;
  t.true(end >= before && end <= after);
  t.is(end - start, 30 * day * 1000);
  // B and F are new; G churned.
  t.is(answer.newSubscriptions, 2n);
  t.is(answer.churnedSubscriptions, 1n);
});

test('an explicit window: start included, end excluded', async (t) => {
  // [B created, F created): B is in, F is out; G ended inside.
  const answer = await metricsClient().getProjectMetrics(
    {
      windowStart: { seconds: BigInt(now - 5 * day) },
      windowEnd: { seconds: BigInt(now - 2 * day) },
    },
    h.auth,
  );
  t.is(answer.newSubscriptions, 1n);
  t.is(answer.churnedSubscriptions, 1n);
  t.is(answer.windowStart?.seconds, BigInt(now - 5 * day));
  t.is(answer.windowEnd?.seconds, BigInt(now - 2 * day));
  // Window-free figures do not depend on the window.
  t.is(answer.activeCustomers, 7n);
  // A window before anything happened.
  const early = await metricsClient().getProjectMetrics(
    {
      windowStart: { seconds: BigInt(now - 300 * day) },
      windowEnd: { seconds: BigInt(now - 200 * day) },
    },
    h.auth,
  );
  t.is(early.newSubscriptions, 0n);
  t.is(early.churnedSubscriptions, 0n);
});

test('only a window end: the 30 days before it', async (t) => {
  const answer = await metricsClient().getProjectMetrics(
    { windowEnd: { seconds: BigInt(now - 4 * day) } },
    h.auth,
  );
  t.is(answer.windowStart?.seconds, BigInt(now - 34 * day));
  // B (5 days ago) only; G ended 3 days ago, after the end.
  t.is(answer.newSubscriptions, 1n);
  t.is(answer.churnedSubscriptions, 0n);
});

test('another project sees only its own subscriptions', async (t) => {
  const answer = await metricsClient().getProjectMetrics({}, bearer(other.adminKey));
  t.deepEqual(
    answer.mrr.map(({ currency, amountMinor }) => [currency, amountMinor]),
    [
      ['gbp', 100n],
      ['usd', 7000n],
    ],
  );
  t.deepEqual(
    answer.subscriptionsByStatus.map(({ status, count }) => [status, count]),
    [['active', 2n]],
  );
  t.is(answer.activeCustomers, 1n);
  t.is(answer.newSubscriptions, 2n);
});

test('the same answer over gRPC', async (t) => {
  const client = createClient(MetricsService, createGrpcTransport({ baseUrl: h.server.baseUrl }));
  const answer = await client.getProjectMetrics({}, h.auth);
  t.deepEqual(
    answer.mrr.map(({ currency, amountMinor }) => ({ currency, amountMinor })),
    expectedMrr,
  );
});

test('a key without the admin scope is PERMISSION_DENIED', async (t) => {
  const reader = await h.server.app.apiKeys.create({
    projectId: h.project.projectId,
    name: 'reader',
    scopes: ['entitlements:read', 'checkout:write'],
    actor: 'test',
    reason: 'scope test',
  });
  t.is(
    await codeOf(metricsClient().getProjectMetrics({}, bearer(reader.secret))),
    Code.PermissionDenied,
  );
  t.is(await codeOf(metricsClient().getProjectMetrics({})), Code.Unauthenticated);
});

test('bad windows are INVALID_ARGUMENT', async (t) => {
  const ask = (windowStart?: bigint, windowEnd?: bigint, nanos = 0) =>
    codeOf(
      metricsClient().getProjectMetrics(
        {
          windowStart: windowStart === undefined ? undefined : { seconds: windowStart, nanos },
          windowEnd: windowEnd === undefined ? undefined : { seconds: windowEnd },
        },
        h.auth,
      ),
    );
  const t0 = BigInt(now);
  const days = (n: number) => BigInt(n * day);
  // End before start, or equal to it.
  t.is(await ask(t0, t0 - days(1)), Code.InvalidArgument);
  t.is(await ask(t0, t0), Code.InvalidArgument);
  // A start after now with no end (the end is now).
  t.is(await ask(t0 + days(1)), Code.InvalidArgument);
  // Longer than 400 days; exactly 400 is fine.
  t.is(await ask(t0 - days(401), t0), Code.InvalidArgument);
  t.is(await ask(t0 - days(400), t0), 'ok');
  // Not a valid Timestamp.
  t.is(await ask(t0 - days(1), t0, -1), Code.InvalidArgument);
  t.is(await ask(t0 - days(1), t0, 1_000_000_000), Code.InvalidArgument);
  t.is(await ask(300_000_000_000n, 300_000_000_001n), Code.InvalidArgument);
});

test('the metrics listener shows the business gauges per project', async (t) => {
  const lines = (await scrapeAll(h.server)).split('\n');
  const value = (name: string, labels: string) => {
    const line = lines.find((l) => l.startsWith(`${name}{${labels}} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  const p = h.project.projectId;
  const o = other.projectId;
  t.is(value('billing_active_subscriptions', `project="${p}"`), 8);
  t.is(value('billing_mrr_minor_units', `project="${p}",currency="usd"`), 26_375);
  t.is(value('billing_mrr_minor_units', `project="${p}",currency="eur"`), 6157);
  t.is(value('billing_mrr_minor_units', `project="${p}",currency="gbp"`), undefined);
  t.is(value('billing_active_subscriptions', `project="${o}"`), 2);
  t.is(value('billing_mrr_minor_units', `project="${o}",currency="usd"`), 7000);
  t.is(value('billing_mrr_minor_units', `project="${o}",currency="gbp"`), 100);
  const computed = lines.find((l) =>
    l.startsWith('billing_business_metrics_computed_timestamp_seconds '),
  );
  t.truthy(computed);
  t.true(Math.abs(Number(computed?.split(' ')[1]) - Date.now() / 1000) < 60);
});

test('the public port serves /metrics without any tenant figure', async (t) => {
  // Anyone who reaches the public port may read this: no project, no money.
  const response = await fetch(`${h.server.baseUrl}/metrics`);
  t.is(response.status, 200);
  const text = await response.text();
  t.regex(text, /^process_cpu_user_seconds_total /m);
  t.regex(text, /^# HELP rpc_server_duration_seconds /m);
  for (const tenant of [h.project.projectId, other.projectId]) t.false(text.includes(tenant));
  t.false(text.includes('project='));
  t.false(/^billing_/m.test(text));
  t.false(/^reconciliation_drift_total/m.test(text));
  // The metrics listener has them.
  t.true((await scrapeAll(h.server)).includes(`project="${h.project.projectId}"`));
});
