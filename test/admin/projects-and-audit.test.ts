// needs: mongodb redis
/**
 * Operators' project work: create (first admin key shown once), update,
 * rotate the webhook secret, read the audit log; idempotent retries; and
 * every admin RPC closed to keys without the admin scope.
 */
import { type DescMethodUnary, toJsonString } from '@bufbuild/protobuf';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService, ProjectSchema, Scope } from '../../gen/billing/v1/admin_pb.js';
import { MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import { createPlatformKey } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';
import { makeEvent, makeSubscription } from '../helpers/stripe-objects.js';

let h: BillingHarness;

test.before(async () => {
  h = await startBillingHarness();
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

test('CreateProject returns a working admin key once, and never the secrets', async (t) => {
  const platform = await createPlatformKey(h.server.app);
  const created = await admin().createProject(
    {
      name: 'shop',
      stripeSecretKey: 'sk_test_abcdefghijklmnop1234',
      webhookSigningSecret: 'whsec_abcdefghijklmnop',
      gracePeriod: durationFromMs(86_400_000),
      reason: 'new product',
    },
    as(platform.key),
  );
  t.regex(created.adminKeySecret, /^bk_/);
  t.is(created.project?.gracePeriod?.seconds, 86_400n);
  t.true(created.project?.hasStripeSecretKey);
  t.is(created.project?.stripeSecretKeyLast4, '1234');
  const own = await admin().getProject({}, as(created.adminKeySecret));
  t.is(own.project?.id, created.project?.id);
  t.not(own.project?.id, h.project.projectId);
  const everything = own.project ? toJsonString(ProjectSchema, own.project) : '';
  t.false(everything.includes('abcdefghijklmnop'));
  const audit = await admin().listAuditLog(
    { action: 'project.create' },
    as(created.adminKeySecret),
  );
  t.is(audit.entries.length, 1);
  t.false(audit.entries[0]?.afterJson.includes('abcdefghijklmnop'));
  t.is(audit.entries[0]?.actor, platform.keyId);
});

test('rotating the webhook secret: the old secret is refused, the new one accepted', async (t) => {
  const project = await h.addProject('rotation');
  const event = () =>
    makeEvent({
      type: 'customer.subscription.created',
      object: makeSubscription({ customer: 'cus_rot' }),
    });
  t.is(
    (await h.post(event(), { projectId: project.projectId, secret: project.webhookSecret })).status,
    200,
  );
  await admin().rotateWebhookSecret(
    { webhookSigningSecret: 'whsec_rotated0000000000', reason: 'leak drill' },
    as(project.adminKey),
  );
  t.is(
    (await h.post(event(), { projectId: project.projectId, secret: project.webhookSecret })).status,
    400,
  );
  t.is(
    (await h.post(event(), { projectId: project.projectId, secret: 'whsec_rotated0000000000' }))
      .status,
    200,
  );
  const audit = await admin().listAuditLog(
    { action: 'project.rotate_webhook_secret' },
    as(project.adminKey),
  );
  t.is(audit.entries.length, 1);
  t.false(audit.entries[0]?.afterJson.includes('whsec_rotated'));
  t.is(audit.entries[0]?.reason, 'leak drill');
});

test('UpdateProject changes name and grace period, and refuses bad values', async (t) => {
  const project = await h.addProject('update');
  const updated = await admin().updateProject(
    { name: 'renamed', gracePeriod: durationFromMs(0), reason: 'r' },
    as(project.adminKey),
  );
  t.is(updated.project?.name, 'renamed');
  t.is(updated.project?.gracePeriod?.seconds, 0n);
  for (const bad of [
    { reason: 'r' },
    { name: '', reason: 'r' },
    { gracePeriod: durationFromMs(-1000), reason: 'r' },
    { stripeSecretKey: 'pk_test_public', reason: 'r' },
    { name: 'x', reason: '' },
  ]) {
    t.is(await codeOf(admin().updateProject(bad, as(project.adminKey))), Code.InvalidArgument);
  }
  t.is((await admin().getProject({}, as(project.adminKey))).project?.name, 'renamed');
});

test('a retried write with the same idempotency key returns the first answer and changes nothing more', async (t) => {
  const project = await h.addProject('idempotency');
  const request = {
    customerId: 'idem-user',
    feature: 'beta',
    reason: 'pilot',
    idempotencyKey: 'ticket-7',
  };
  const first = await admin().grantEntitlement(request, as(project.adminKey));
  const retry = await admin().grantEntitlement(request, as(project.adminKey));
  t.is(retry.grant?.id, first.grant?.id);
  const grants = await admin().listGrants({ customerId: 'idem-user' }, as(project.adminKey));
  t.is(grants.grants.length, 1);
  const audit = await admin().listAuditLog({ action: 'grant.create' }, as(project.adminKey));
  t.is(audit.entries.length, 1);

  const key = {
    name: 'ci',
    scopes: [Scope.ENTITLEMENTS_READ],
    reason: 'r',
    idempotencyKey: 'key-1',
  };
  const k1 = await admin().createApiKey(key, as(project.adminKey));
  const k2 = await admin().createApiKey(key, as(project.adminKey));
  t.is(k2.secret, k1.secret);

  const changed = await codeOf(
    admin().grantEntitlement({ ...request, feature: 'other' }, as(project.adminKey)),
  );
  t.is(changed, Code.FailedPrecondition);
  // Keys are per project: another project may use the same key for its own call.
  const other = await admin().grantEntitlement(request, h.auth);
  t.not(other.grant?.id, first.grant?.id);
});

test('the audit log filters and pages, newest first', async (t) => {
  const project = await h.addProject('audit pages');
  for (let i = 0; i < 5; i++) {
    await admin().grantEntitlement(
      { customerId: `a${i}`, feature: 'beta', reason: `r${i}` },
      as(project.adminKey),
    );
  }
  const seen: string[] = [];
  let pageToken = '';
  do {
    const page = await admin().listAuditLog(
      { action: 'grant.create', pageSize: 2, pageToken },
      as(project.adminKey),
    );
    seen.push(...page.entries.map((e) => e.reason));
    pageToken = page.nextPageToken;
  } while (pageToken);
  t.deepEqual(seen, ['r4', 'r3', 'r2', 'r1', 'r0']);
  const byTarget = await admin().listAuditLog({ target: 'grant:none' }, as(project.adminKey));
  t.is(byTarget.entries.length, 0);
  t.is(
    await codeOf(admin().listAuditLog({ pageToken: 'garbage!' }, as(project.adminKey))),
    Code.InvalidArgument,
  );
});

test('every AdminService and MetricsService method is PERMISSION_DENIED without the admin scope', async (t) => {
  const limited = await admin().createApiKey(
    { name: 'not admin', scopes: [Scope.ENTITLEMENTS_READ, Scope.CHECKOUT_WRITE], reason: 'r' },
    h.auth,
  );
  const transport = createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' });
  // Every admin and metrics RPC is unary.
  const methods = [...AdminService.methods, ...MetricsService.methods].filter(
    (m): m is DescMethodUnary => m.methodKind === 'unary',
  );
  for (const method of methods) {
    const call = transport.unary(
      method,
      undefined,
      undefined,
      { authorization: `Bearer ${limited.secret}` },
      {},
    );
    t.is(await codeOf(call), Code.PermissionDenied, method.name);
  }
  t.is(methods.length, AdminService.methods.length + MetricsService.methods.length);
});
