// needs: mongodb redis
/**
 * /metrics scraped before and after real work: a webhook (processed, then
 * duplicated), entitlement checks (cache miss, then hit), and a
 * reconciliation with drift. Each counter moves by exactly what happened.
 */
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService, ReconciliationState } from '../../gen/billing/v1/admin_pb.js';
import { scrapeAll } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { makeEvent, makeSubscription } from '../helpers/stripe-objects.js';
import { waitFor } from '../helpers/wait.js';

let h: BillingHarness;

test.before(async () => {
  h = await startBillingHarness({
    env: { JOB_POLL_MS: '100', ENTITLEMENT_MEMORY_TTL_MS: '60000' },
  });
});

test.after.always(async () => {
  await h?.close();
});

type Samples = Map<string, number>;

async function scrape(): Promise<Samples> {
  const text = await scrapeAll(h.server);
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const moved = (before: Samples, after: Samples, series: string) =>
  (after.get(series) ?? 0) - (before.get(series) ?? 0);

test.serial('a webhook and its duplicate move the webhook counters by one each', async (t) => {
  const before = await scrape();
  const customer = await h.linkCustomer('prom-user');
  const event = makeEvent({
    type: 'customer.subscription.created',
    object: makeSubscription({
      customer,
      items: [{ price: 'price_pro_monthly', product: 'prod_pro' }],
    }),
  });
  await h.post(event);
  await h.post(event);
  const after = await scrape();
  const series = (outcome: string) =>
    `webhook_events_total{type="customer.subscription.created",outcome="${outcome}"}`;
  t.is(moved(before, after, series('processed')), 1);
  t.is(moved(before, after, series('duplicate')), 1);
});

test.serial('checks count one cache miss, then hits', async (t) => {
  const before = await scrape();
  for (let i = 0; i < 3; i++) {
    await h.entitlements.checkEntitlement({ customerId: 'prom-cache', feature: 'reports' }, h.auth);
  }
  const after = await scrape();
  t.is(moved(before, after, 'entitlement_cache_lookups_total{result="miss"}'), 1);
  t.is(moved(before, after, 'entitlement_cache_lookups_total{result="memory"}'), 2);
  t.is(
    moved(
      before,
      after,
      'rpc_server_duration_seconds_count{method="billing.v1.EntitlementsService/CheckEntitlement",code="OK"}',
    ),
    3,
  );
});

test.serial('a reconciliation moves the drift and job counters', async (t) => {
  // Two subscriptions of the project's customer exist in Stripe only: drift "missing locally".
  const customer = await h.linkCustomer('prom-drift-user');
  for (const id of ['sub_prom_a', 'sub_prom_b']) {
    h.fake.seedSubscription(makeSubscription({ id, customer }), h.project.stripeSecretKey);
  }
  const before = await scrape();
  const admin = createClient(
    AdminService,
    createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' }),
  );
  const { run } = await admin.triggerReconciliation(
    { dryRun: true, reason: 'metrics test' },
    h.auth,
  );
  const runId = run?.id ?? '';
  const state = await waitFor(
    async () => (await admin.getReconciliationRun({ runId }, h.auth)).run?.state,
    {
      what: `reconciliation run ${runId} to finish`,
      until: (s) => s === ReconciliationState.SUCCEEDED || s === ReconciliationState.FAILED,
    },
  );
  t.is(state, ReconciliationState.SUCCEEDED);
  // The run is recorded as finished before its job returns and is counted: wait for the count.
  const succeededJobRuns = (samples: Samples) =>
    [...samples.keys()].filter(
      (k) => k.startsWith('agenda_job_runs_total{') && k.includes('outcome="succeeded"'),
    );
  const after = await waitFor(scrape, {
    what: 'a succeeded job run in agenda_job_runs_total',
    until: (samples) => succeededJobRuns(samples).some((s) => moved(before, samples, s) > 0),
  });
  const drift = `reconciliation_drift_total{project="${h.project.projectId}",class="missing_locally",dry_run="true"}`;
  t.is(moved(before, after, drift), 2);
  t.true(
    succeededJobRuns(after).some((series) => moved(before, after, series) === 1),
    'one job run succeeded',
  );
});
