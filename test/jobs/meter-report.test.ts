// needs: mongodb redis
/**
 * Usage of a feature mapped to a Stripe meter reaches Stripe's meter events
 * (the stateful fake) exactly once, with our usage id as the identifier:
 * through the Agenda job, after a retried TrackUsage, after Stripe failed
 * for a while, after a crash between Stripe's acceptance and our delete,
 * and for 250 usages in rounds of 100. Usage of a feature without a meter,
 * or of a customer never linked to Stripe, sends nothing.
 */
import { randomUUID } from 'node:crypto';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { type Collection, MongoClient } from 'mongodb';
import {
  AdminService,
  FeatureKind,
  OverageMode,
  ResetInterval,
  Scope,
} from '../../gen/billing/v1/admin_pb.js';
import type { MeterReportResult } from '../../src/jobs/index.js';
import type { MeterOutboxDoc } from '../../src/store/meter-outbox-store.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { waitFor } from '../helpers/wait.js';
import { postMeteredSubscription } from '../usage/usage-world.js';

let h: BillingHarness;
let mongo: MongoClient;
let usageAuth: { headers: { authorization: string } };
const meter = 'api_requests_meter';

test.before(async () => {
  h = await startBillingHarness({ env: { JOB_POLL_MS: '100', METER_REPORT_CRON: 'off' } });
  mongo = await MongoClient.connect(h.server.config.mongodbUrl);
  const admin = await setMeteredCatalog(h);
  const key = await admin.createApiKey(
    { name: 'meter', scopes: [Scope.USAGE_WRITE], reason: 'usage' },
    h.auth,
  );
  usageAuth = { headers: { authorization: `Bearer ${key.secret}` } };
});

/** By SetCatalog: `api_requests` reported to the meter, `ai_tokens` metered without one. */
async function setMeteredCatalog(harness: BillingHarness) {
  const admin = createClient(
    AdminService,
    createConnectTransport({ baseUrl: harness.server.baseUrl, httpVersion: '1.1' }),
  );
  const metered = (stripeMeterEventName: string) => ({
    kind: FeatureKind.METERED,
    metered: {
      allowance: 1_000_000n,
      reset: ResetInterval.BILLING_PERIOD,
      overage: OverageMode.ALLOW,
      stripeMeterEventName,
    },
  });
  await admin.setCatalog(
    {
      entries: [
        { stripeId: 'price_pro_monthly', features: [{ feature: 'reports' }] },
        {
          stripeId: 'price_metered',
          features: [
            { feature: 'api_requests', ...metered(meter) },
            { feature: 'ai_tokens', ...metered('') },
          ],
        },
      ],
      reason: 'metered catalog',
    },
    harness.auth,
  );
  return admin;
}

test.after.always(async () => {
  await mongo?.close();
  await h?.close();
});

const outbox = (): Collection<MeterOutboxDoc> =>
  mongo.db(h.server.config.mongodbDatabase).collection<MeterOutboxDoc>('meter_outbox');

/** Links the customer to a Stripe customer and subscribes it by webhook. */
async function subscribed(customerId: string): Promise<string> {
  const stripeCustomer = await h.linkCustomer(customerId);
  await postMeteredSubscription(h, stripeCustomer);
  return stripeCustomer;
}

const track = async (
  customerId: string,
  amount: bigint,
  idempotencyKey: string,
  extra: { feature?: string; occurredAtMs?: number } = {},
): Promise<string> => {
  const answer = await h.entitlements.trackUsage(
    {
      customerId,
      feature: extra.feature ?? 'api_requests',
      amount,
      idempotencyKey,
      occurredAt:
        extra.occurredAtMs === undefined ? undefined : timestampFromMs(extra.occurredAtMs),
    },
    usageAuth,
  );
  return answer.usageId;
};

/** One occurrence of the job, run here and awaited. */
async function report(): Promise<MeterReportResult> {
  const result = await h.server.app.meterReports.run(`test:${randomUUID()}`);
  if (result === 'skipped') throw new Error('a fresh occurrence was skipped');
  return result;
}

const eventsOf = (identifier: string) =>
  h.fake.meterEvents(h.project.stripeSecretKey).filter((e) => e.identifier === identifier);

test.serial('the job sends a usage once: identifier = usage id, value = amount', async (t) => {
  const stripeCustomer = await subscribed('m-first');
  const occurredAtMs = Date.now() - 60_000;
  const usageId = await track('m-first', 7n, 'first-1', { occurredAtMs });
  await h.server.app.meterReports.trigger();
  const [event] = await waitFor(() => eventsOf(usageId), {
    what: `meter event ${usageId} at the fake Stripe`,
    until: (events) => events.length > 0,
  });
  t.is(event?.event_name, meter);
  t.deepEqual(event?.payload, { stripe_customer_id: stripeCustomer, value: '7' });
  t.is(event?.timestamp, Math.floor(occurredAtMs / 1000));
  // The job deletes what Stripe accepted: the outbox holds pending events only.
  await waitFor(() => outbox().countDocuments({ _id: usageId }), {
    what: 'the sent event to leave the outbox',
    until: (n) => n === 0,
  });

  // The same key again answers the same usage, and nothing more goes to Stripe.
  t.is(await track('m-first', 7n, 'first-1', { occurredAtMs }), usageId);
  t.is(await outbox().countDocuments({ _id: usageId }), 0, 'a reported usage is not queued again');
  t.like(await report(), { sent: 0, duplicate: 0, failed: 0, pending: 0 });
  t.is(eventsOf(usageId).length, 1);
});

test.serial('a feature without a meter and a customer without Stripe send nothing', async (t) => {
  await subscribed('m-quiet');
  const unmetered = await track('m-quiet', 5n, 'quiet-1', { feature: 'ai_tokens' });
  t.is(await outbox().countDocuments({ _id: unmetered }), 0, 'no outbox entry at all');
  // A customer the product never sent through Stripe: recorded, not billable.
  const unlinked = await track('m-never-linked', 3n, 'quiet-2');
  const metered = await track('m-quiet', 2n, 'quiet-3');
  const result = await report();
  t.like(result, { sent: 1, skipped: 1, failed: 0, pending: 0 });
  t.is(eventsOf(metered).length, 1);
  t.is(eventsOf(unmetered).length, 0);
  t.is(eventsOf(unlinked).length, 0);
});

test.serial('Stripe failing: the event is kept with a backoff, then delivered once', async (t) => {
  await subscribed('m-outage');
  const usageId = await track('m-outage', 4n, 'outage-1');
  // The SDK tries three times (maxNetworkRetries 2): all three fail.
  h.fake.failNext(3, 500);
  const failed = await report();
  t.like(failed, { sent: 0, failed: 1, pending: 1, failing: 0 });
  t.is(eventsOf(usageId).length, 0);
  const kept = await outbox().findOne({ _id: usageId });
  t.is(kept?.attempts, 1);
  t.regex(kept?.last_error ?? '', /sandbox failNext/);
  t.true((kept?.next_attempt_at.getTime() ?? 0) > Date.now(), 'not retried before its backoff');
  t.like(await report(), { sent: 0, failed: 0, pending: 1 }, 'not due yet');

  // Its backoff is over.
  await outbox().updateOne({ _id: usageId }, { $set: { next_attempt_at: new Date() } });
  t.like(await report(), { sent: 1, failed: 0, pending: 0 });
  t.is(eventsOf(usageId).length, 1);
});

test.serial(
  'a crash after Stripe accepted and before the delete: the resend is a duplicate',
  async (t) => {
    await subscribed('m-crash');
    const usageId = await track('m-crash', 9n, 'crash-1');
    const pending = await outbox().findOne({ _id: usageId });
    t.truthy(pending);
    t.like(await report(), { sent: 1 });
    // What a crash right after the send leaves: the event still in the outbox, not yet reported.
    if (pending) await outbox().insertOne(pending);
    await mongo
      .db(h.server.config.mongodbDatabase)
      .collection<{ _id: string }>('meter_reported')
      .deleteOne({ _id: usageId });
    t.like(await report(), { sent: 0, duplicate: 1, failed: 0, pending: 0 });
    t.is(eventsOf(usageId).length, 1, 'Stripe holds one event');
  },
);

test.serial('250 usages go out in rounds of 100, each once', async (t) => {
  await subscribed('m-bulk');
  const ids: string[] = [];
  for (let start = 0; start < 250; start += 25) {
    const batch = Array.from({ length: 25 }, (_, i) => track('m-bulk', 1n, `bulk-${start + i}`));
    ids.push(...(await Promise.all(batch)));
  }
  const result = await report();
  t.like(result, { rounds: 3, sent: 250, failed: 0, pending: 0 });
  const sent = h.fake.meterEvents(h.project.stripeSecretKey).map((e) => e.identifier);
  t.deepEqual(
    ids.filter((id) => sent.filter((s) => s === id).length !== 1),
    [],
    'every usage exactly once',
  );
});

test.serial(
  'the public /metrics counts meter events by outcome and shows pending ones',
  async (t) => {
    await subscribed('m-metrics');
    await track('m-metrics', 1n, 'metrics-1');
    h.fake.failNext(3, 503);
    await report();
    const text = await (await fetch(`${h.server.baseUrl}/metrics`)).text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    t.true((value('stripe_meter_events_total{outcome="sent"}') ?? 0) >= 1);
    t.true((value('stripe_meter_events_total{outcome="failed"}') ?? 0) >= 1);
    t.true((value('stripe_meter_events_total{outcome="skipped"}') ?? 0) >= 1);
    t.is(value('stripe_meter_events_pending{state="pending"}'), 1);
    t.is(value('stripe_meter_events_pending{state="failing"}'), 0);
    t.false(text.includes(h.project.projectId), 'no tenant on the public port');
    await outbox().updateMany({}, { $set: { next_attempt_at: new Date() } });
    t.like(await report(), { sent: 1, pending: 0 });
  },
);

test.serial('two replicas running one occurrence: one reports, the other skips', async (t) => {
  await subscribed('m-race');
  const usageId = await track('m-race', 6n, 'race-1');
  const occurrence = `test:race:${randomUUID()}`;
  // The first run holds its claim while Stripe answers: the second starts
  // then, as a replica polling at the same moment does. (Started together,
  // the first could finish and free the claim before the second claims.)
  const stripe = h.fake.holdNext();
  const first = h.server.app.meterReports.run(occurrence);
  await stripe.held;
  const second = await h.server.app.meterReports.run(occurrence);
  stripe.release();
  t.is(second, 'skipped');
  t.like(await first, { sent: 1 });
  t.is(eventsOf(usageId).length, 1);
});

test.serial('METER_REPORT_CRON schedules the job: usage goes out without a trigger', async (t) => {
  const scheduled = await startBillingHarness({
    env: { JOB_POLL_MS: '100', METER_REPORT_CRON: '* * * * * *' },
  });
  try {
    await setMeteredCatalog(scheduled);
    const customer = await scheduled.linkCustomer('m-scheduled');
    await postMeteredSubscription(scheduled, customer);
    const { usageId } = await scheduled.entitlements.trackUsage(
      { customerId: 'm-scheduled', feature: 'api_requests', amount: 2n, idempotencyKey: 's-1' },
      scheduled.auth,
    );
    const events = await waitFor(
      () => scheduled.fake.meterEvents().filter((e) => e.identifier === usageId),
      { what: `a scheduled run to send ${usageId}`, until: (found) => found.length > 0 },
    );
    t.is(events.length, 1);
  } finally {
    await scheduled.close();
  }
});
