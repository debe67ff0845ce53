// needs: mongodb redis
/**
 * The figures over time and finding a customer, end to end: subscriptions
 * arrive as signed webhooks while the sandbox's clock moves on day by day,
 * the snapshot job's work is run each day, and ListDailyMetrics answers
 * each day's MRR and statuses as GetProjectMetrics answered them that day,
 * with new and churned counted per UTC day. The scheduled job takes a
 * snapshot when a replica starts. FindCustomers finds a linked customer by
 * either id, never another project's.
 */
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { type DailyMetrics, MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import { createTestProject, startTestApp } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { seedThreeDays } from '../helpers/daily-figures.js';
import { waitFor } from '../helpers/wait.js';

let h: BillingHarness;

const bearer = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
const clientOf = <S extends typeof MetricsService | typeof AdminService>(
  service: S,
  baseUrl: string,
) => createClient(service, createConnectTransport({ baseUrl, httpVersion: '1.1' }));

test.before(async () => {
  h = await startBillingHarness();
});

test.after.always(async () => {
  await h?.close();
});

const today = () => h.now().toISOString().slice(0, 10);

const figures = (day: DailyMetrics | undefined) => ({
  day: day?.day,
  mrr: day?.snapshot?.mrr.map((m) => `${m.currency} ${m.amountMinor}`),
  statuses: day?.snapshot?.subscriptionsByStatus.map((s) => `${s.status} ${s.count}`),
  new: day?.newSubscriptions,
  churned: day?.churnedSubscriptions,
});

test.serial('each day charts its own snapshot, new and churned', async (t) => {
  const metrics = clientOf(MetricsService, h.server.baseUrl);
  const { firstDay: first } = await seedThreeDays(h);
  const { days } = await metrics.listDailyMetrics(
    { firstDay: first, lastDay: today() },
    bearer(h.project.adminKey),
  );
  t.deepEqual(days.map(figures), [
    { day: first, mrr: ['usd 2000'], statuses: ['active 1'], new: 1n, churned: 0n },
    {
      day: days[1]?.day,
      mrr: ['eur 1000', 'usd 2000'],
      statuses: ['active 2'],
      new: 1n,
      churned: 0n,
    },
    { day: today(), mrr: undefined, statuses: undefined, new: 0n, churned: 1n },
  ]);

  const other = await createTestProject(h.server.app, 'other project');
  const foreign = await metrics.listDailyMetrics(
    { firstDay: first, lastDay: today() },
    bearer(other.adminKey),
  );
  t.deepEqual(
    foreign.days.map((d) => [d.snapshot, d.newSubscriptions]),
    [
      [undefined, 0n],
      [undefined, 0n],
      [undefined, 0n],
    ],
    "another project's figures are not visible",
  );
});

test.serial(
  'FindCustomers finds a linked customer by either id, in its own project only',
  async (t) => {
    const admin = clientOf(AdminService, h.server.baseUrl);
    const stripeCustomerId = await h.linkCustomer('support-case-user');
    for (const query of ['support-case-user', stripeCustomerId]) {
      const { customers } = await admin.findCustomers({ query }, bearer(h.project.adminKey));
      t.deepEqual(
        customers.map((c) => [c.customerId, c.stripeCustomerId]),
        [['support-case-user', stripeCustomerId]],
        query,
      );
    }
    const nobody = await admin.findCustomers({ query: 'cus_nobody' }, bearer(h.project.adminKey));
    t.deepEqual(nobody.customers, []);
    const other = await createTestProject(h.server.app, 'nosy project');
    const foreign = await admin.findCustomers({ query: stripeCustomerId }, bearer(other.adminKey));
    t.deepEqual(foreign.customers, []);
  },
);

test("a replica that starts with the schedule on takes today's snapshot at once", async (t) => {
  const server = await startTestApp({
    env: { DAILY_SNAPSHOT_CRON: '0 0 * * *', JOB_POLL_MS: '100' },
  });
  try {
    const project = await createTestProject(server.app, 'fresh install');
    // The project may be created after the start's take: a restart takes it again.
    await server.app.stop();
    const again = await startTestApp({
      database: server.config.mongodbDatabase,
      env: { DAILY_SNAPSHOT_CRON: '0 0 * * *', JOB_POLL_MS: '100' },
    });
    try {
      const metrics = clientOf(MetricsService, again.baseUrl);
      const todayUtc = () => new Date().toISOString().slice(0, 10);
      const taken = await waitFor(
        async () => {
          const { days } = await metrics.listDailyMetrics(
            { firstDay: todayUtc(), lastDay: todayUtc() },
            bearer(project.adminKey),
          );
          return days[0]?.snapshot;
        },
        { what: "today's snapshot" },
      );
      t.deepEqual(taken?.mrr, []);
      t.is(taken?.activeCustomers, 0n);
    } finally {
      await again.app.stop();
    }
  } finally {
    await server.app.stop();
  }
});
