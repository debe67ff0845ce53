/**
 * MeterReportService with in-memory fakes of the outbox, projects, customer
 * links and Stripe: each project's events go with its own key, a project
 * without a key keeps its events with a backoff, and no more than
 * `concurrency` sends are in flight at once.
 */
import test from 'ava';
import type Stripe from 'stripe';
import { catalogFromEntries } from '../../src/domain/catalog.js';
import type { ProjectRecord } from '../../src/domain/records.js';
import { MeterReportService } from '../../src/services/meter-report-service.js';
import type {
  MeterOutboxCounts,
  MeterOutboxDoc,
  MeterReportedOutcome,
} from '../../src/store/meter-outbox-store.js';
import type { MeterEventsClient } from '../../src/stripe/meter-events.js';
import { usageCatalog, withMeters } from '../usage/usage-world.js';

const now = new Date('2026-06-15T12:00:00Z');

class FakeOutbox {
  readonly docs = new Map<string, MeterOutboxDoc>();
  readonly reported = new Map<string, MeterReportedOutcome>();
  async add(doc: MeterOutboxDoc) {
    if (!this.reported.has(doc._id) && !this.docs.has(doc._id)) this.docs.set(doc._id, doc);
  }
  async due(at: Date, limit: number) {
    return [...this.docs.values()].filter((d) => d.next_attempt_at <= at).slice(0, limit);
  }
  async finish(
    docs: readonly Pick<MeterOutboxDoc, '_id'>[],
    outcome: (id: string) => MeterReportedOutcome,
  ) {
    for (const { _id } of docs) {
      this.reported.set(_id, outcome(_id));
      this.docs.delete(_id);
    }
  }
  async postpone(id: string, attempts: number, next: Date, error: string) {
    const doc = this.docs.get(id);
    if (doc) this.docs.set(id, { ...doc, attempts, next_attempt_at: next, last_error: error });
  }
  async counts(isFailing: (attempts: number) => boolean): Promise<MeterOutboxCounts> {
    const all = [...this.docs.values()];
    return { pending: all.length, failing: all.filter((d) => isFailing(d.attempts)).length };
  }
}

/** Stripe's meter events per key; each call waits until released, to count those in flight. */
class FakeStripeMeters {
  readonly sent: { key: string; identifier: string | undefined }[] = [];
  inFlight = 0;
  mostInFlight = 0;
  client(key: string): MeterEventsClient {
    const create = async (params: Stripe.Billing.MeterEventCreateParams) => {
      this.inFlight += 1;
      this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      this.inFlight -= 1;
      this.sent.push({ key, identifier: params.identifier });
      return {};
    };
    return { billing: { meterEvents: { create } } };
  }
}

const project = (id: string, key: string | null): ProjectRecord => ({
  _id: id,
  name: id,
  stripe_secret_key: key,
  webhook_signing_secret: null,
  grace_period_seconds: 0,
  catalog: withMeters(usageCatalog),
  created_at: now,
  updated_at: now,
});

function world(projects: ProjectRecord[], concurrency = 3) {
  const outbox = new FakeOutbox();
  const stripe = new FakeStripeMeters();
  const byId = new Map(projects.map((p) => [p._id, p]));
  const service = new MeterReportService({
    projects: {
      get: async (id) => byId.get(id) ?? null,
      catalogOf: (project) => catalogFromEntries(project?.catalog ?? []),
    },
    customers: {
      findByCustomerId: async (projectId, customerId) => ({
        _id: `${projectId}:${customerId}`,
        project_id: projectId,
        customer_id: customerId,
        stripe_customer_id: `cus_${customerId}`,
        created_at: now,
      }),
    },
    outbox,
    stripeFor: (key) => stripe.client(key),
    retry: { baseMs: 10_000, maxMs: 3_600_000, failingAfter: 3 },
    concurrency,
    now: () => now,
  });
  const record = (projectId: string, usageId: string) =>
    service.recorded({
      projectId,
      customerId: 'c1',
      feature: 'api_requests',
      usageId,
      amount: 1,
      occurredAt: now,
    });
  return { outbox, stripe, service, record };
}

test("each project's events go with its own Stripe key", async (t) => {
  const { stripe, service, record } = world([
    project('p1', 'sk_test_one'),
    project('p2', 'sk_test_two'),
  ]);
  await record('p1', 'usg_a');
  await record('p2', 'usg_b');
  await record('p1', 'usg_c');
  t.like(await service.reportRound(100), { found: 3, sent: 3 });
  t.deepEqual(stripe.sent.map((s) => `${s.key}:${s.identifier}`).sort(), [
    'sk_test_one:usg_a',
    'sk_test_one:usg_c',
    'sk_test_two:usg_b',
  ]);
});

test('a project without a Stripe key keeps its events, retried after the backoff', async (t) => {
  const { outbox, stripe, service, record } = world([project('p1', null)]);
  await record('p1', 'usg_kept');
  t.like(await service.reportRound(100), { found: 1, failed: 1, sent: 0 });
  const kept = outbox.docs.get('usg_kept');
  t.is(kept?.attempts, 1);
  t.is(kept?.last_error, 'the project has no Stripe secret key');
  t.is(kept?.next_attempt_at.getTime(), now.getTime() + 10_000);
  t.deepEqual(stripe.sent, []);
  t.like(await service.counts(), { pending: 1, failing: 0 });
});

test('no more sends in flight than the concurrency allows, and every one is sent', async (t) => {
  const { stripe, service, record } = world([project('p1', 'sk_test_one')], 3);
  for (let i = 0; i < 20; i += 1) await record('p1', `usg_${i}`);
  t.like(await service.reportRound(100), { found: 20, sent: 20 });
  t.is(stripe.mostInFlight, 3);
  t.is(new Set(stripe.sent.map((s) => s.identifier)).size, 20);
});

test('a usage of a feature the catalog does not map to a meter is not queued', async (t) => {
  const { outbox, service } = world([project('p1', 'sk_test_one')]);
  await service.recorded({
    projectId: 'p1',
    customerId: 'c1',
    feature: 'other',
    usageId: 'usg_other',
    amount: 1,
    occurredAt: now,
  });
  await service.recorded({
    projectId: 'p-unknown',
    customerId: 'c1',
    feature: 'api_requests',
    usageId: 'usg_nowhere',
    amount: 1,
    occurredAt: now,
  });
  t.is(outbox.docs.size, 0);
});
