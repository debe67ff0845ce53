// needs: mongodb redis
/**
 * Reconciliation through AdminService: TriggerReconciliation (audited),
 * GetReconciliationRun, ListReconciliationRuns; bad input, other projects'
 * runs and keys without the admin scope are refused.
 */
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import {
  AdminService,
  type ReconciliationRun,
  ReconciliationState,
} from '../../gen/billing/v1/admin_pb.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';
import { makeSubscription } from '../helpers/stripe-objects.js';
import { waitFor } from '../helpers/wait.js';

let h: BillingHarness;
let seededIds: string[] = [];

test.before(async () => {
  h = await startBillingHarness({ env: { JOB_POLL_MS: '100', RECONCILIATION_LEASE_MS: '3000' } });
  // A customer the project created (its checkouts mark them with its id).
  const customer = await h.linkCustomer('recon-rpc-user');
  const subscriptions = [1, 2, 3].map(() =>
    makeSubscription({ customer, items: [{ price: 'price_pro_monthly' }] }),
  );
  seededIds = subscriptions.map((subscription) => subscription.id).sort();
  h.fake.seedSubscriptions(subscriptions, h.project.stripeSecretKey);
});

test.after.always(async () => {
  await h?.close();
});

const admin = () =>
  createClient(
    AdminService,
    createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' }),
  );
const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

async function pollUntilDone(runId: string, key: string): Promise<ReconciliationRun> {
  const run = await waitFor(
    async () => (await admin().getReconciliationRun({ runId }, as(key))).run,
    {
      what: `run ${runId} to finish`,
      until: (current) =>
        current?.state === ReconciliationState.SUCCEEDED ||
        current?.state === ReconciliationState.FAILED,
    },
  );
  if (!run) throw new Error(`run ${runId} not found`);
  return run;
}

test.serial(
  'a dry run through TriggerReconciliation reports drift, repairs nothing, is audited',
  async (t) => {
    const key = h.project.adminKey;
    const { run } = await admin().triggerReconciliation(
      { dryRun: true, reason: 'check drift' },
      as(key),
    );
    t.truthy(run?.id);
    t.true(run?.dryRun);
    t.is(run?.triggeredBy, h.project.adminKeyId);
    const done = await pollUntilDone(run?.id ?? '', key);
    t.is(done.state, ReconciliationState.SUCCEEDED, done.error);
    t.is(done.counts?.checked, 3n);
    t.is(done.counts?.missingLocally, 3n);
    t.deepEqual([...(done.drift?.missingLocally ?? [])].sort(), seededIds, 'which ones drifted');
    t.deepEqual([done.drift?.stale, done.drift?.missingInStripe], [[], []]);
    t.is(done.counts?.repaired, 0n);
    t.is(done.stripeListCalls, 1n);
    t.truthy(done.startedAt);
    t.truthy(done.finishedAt);

    const audit = await admin().listAuditLog({ action: 'reconciliation.trigger' }, as(key));
    const entry = audit.entries.find((e) => e.target === `reconciliation_run:${run?.id}`);
    t.is(entry?.actor, h.project.adminKeyId);
    t.is(entry?.reason, 'check drift');
    t.like(JSON.parse(entry?.afterJson ?? '{}'), { run_id: run?.id, dry_run: true, started: true });
  },
);

test.serial('runs list newest first, page by page', async (t) => {
  const key = h.project.adminKey;
  const ids: string[] = [];
  for (let i = 0; i < 3; i += 1) {
    const { run } = await admin().triggerReconciliation({ dryRun: true, reason: `r${i}` }, as(key));
    ids.push(run?.id ?? '');
    await pollUntilDone(run?.id ?? '', key);
  }
  const seen: string[] = [];
  let pageToken = '';
  do {
    const page = await admin().listReconciliationRuns({ pageSize: 2, pageToken }, as(key));
    t.true(page.runs.length <= 2);
    seen.push(...page.runs.map((r) => r.id));
    pageToken = page.nextPageToken;
  } while (pageToken);
  t.deepEqual(seen.slice(0, 3), [...ids].reverse());
});

test.serial('Stripe failing during the walk fails the run and changes nothing', async (t) => {
  const key = h.project.adminKey;
  h.fake.failNext(3, 503); // the first page and both SDK retries
  const { run } = await admin().triggerReconciliation({ dryRun: false, reason: 'outage' }, as(key));
  const done = await pollUntilDone(run?.id ?? '', key);
  t.is(done.state, ReconciliationState.FAILED);
  t.truthy(done.error);
  t.is(done.counts?.repaired, 0n);
  t.is(done.counts?.missingInStripe, 0n, 'nothing is judged missing from a partial walk');
  t.is(done.stripeListCalls, 3n, 'each attempt counts');
  // The next run is not blocked by the failed one.
  const { run: next } = await admin().triggerReconciliation(
    { dryRun: true, reason: 'after' },
    as(key),
  );
  t.not(next?.id, run?.id);
  t.is((await pollUntilDone(next?.id ?? '', key)).state, ReconciliationState.SUCCEEDED);
});

test('bad input is INVALID_ARGUMENT', async (t) => {
  const auth = as(h.project.adminKey);
  t.is(
    await codeOf(admin().triggerReconciliation({ dryRun: true, reason: '' }, auth)),
    Code.InvalidArgument,
  );
  t.is(
    await codeOf(admin().triggerReconciliation({ dryRun: true, reason: ' '.repeat(3) }, auth)),
    Code.InvalidArgument,
  );
  t.is(
    await codeOf(admin().triggerReconciliation({ dryRun: true, reason: 'x'.repeat(501) }, auth)),
    Code.InvalidArgument,
  );
  for (const runId of ['', 'nope', 'rr_UPPER123456', `rr_${'a'.repeat(60)}`])
    t.is(await codeOf(admin().getReconciliationRun({ runId }, auth)), Code.InvalidArgument, runId);
  t.is(await codeOf(admin().listReconciliationRuns({ pageSize: -1 }, auth)), Code.InvalidArgument);
  t.is(await codeOf(admin().listReconciliationRuns({ pageSize: 501 }, auth)), Code.InvalidArgument);
  t.is(
    await codeOf(admin().listReconciliationRuns({ pageToken: 'garbage!' }, auth)),
    Code.InvalidArgument,
  );
});

test("another project's run is NOT_FOUND, and absent from its list", async (t) => {
  const other = await h.addProject('other');
  const { run } = await admin().triggerReconciliation(
    { dryRun: true, reason: 'theirs' },
    as(other.adminKey),
  );
  const runId = run?.id ?? '';
  t.is(
    await codeOf(admin().getReconciliationRun({ runId }, as(h.project.adminKey))),
    Code.NotFound,
  );
  t.is(await codeOf(admin().getReconciliationRun({ runId }, as(other.adminKey))), 'ok');
  const listed = await admin().listReconciliationRuns({ pageSize: 500 }, as(h.project.adminKey));
  t.false(listed.runs.some((r) => r.id === runId));
  t.is(
    await codeOf(
      admin().getReconciliationRun({ runId: 'rr_000000000aaaaaaaaaaaa' }, as(other.adminKey)),
    ),
    Code.NotFound,
  );
});

test('a key without the admin scope is PERMISSION_DENIED', async (t) => {
  const created = await h.server.app.apiKeys.create({
    projectId: h.project.projectId,
    name: 'reader',
    scopes: ['entitlements:read', 'checkout:write'],
    actor: 'test',
    reason: 'test',
  });
  const auth = as(created.secret);
  t.is(
    await codeOf(admin().triggerReconciliation({ dryRun: true, reason: 'r' }, auth)),
    Code.PermissionDenied,
  );
  t.is(
    await codeOf(admin().getReconciliationRun({ runId: 'rr_000000000aaaaaaaaaaaa' }, auth)),
    Code.PermissionDenied,
  );
  t.is(await codeOf(admin().listReconciliationRuns({}, auth)), Code.PermissionDenied);
});

test('a project without a Stripe key cannot reconcile: FAILED_PRECONDITION', async (t) => {
  const created = await h.server.app.projects.create({
    name: 'no stripe',
    stripeSecretKey: null,
    webhookSigningSecret: 'whsec_x',
    gracePeriodSeconds: 0,
    actor: 'test',
    reason: 'test',
  });
  t.is(
    await codeOf(
      admin().triggerReconciliation({ dryRun: true, reason: 'r' }, as(created.adminKey.secret)),
    ),
    Code.FailedPrecondition,
  );
});
