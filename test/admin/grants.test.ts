// needs: mongodb redis
/**
 * Manual grants through AdminService: they give a feature at once, end at
 * expiry or revocation, list with pagination, and stay inside their project.
 */
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import {
  EntitlementSourceKind,
  EntitlementsService,
} from '../../gen/billing/v1/entitlements_pb.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';
import { codeOf } from '../helpers/rpc.js';

let server: TestApp;
let project: TestProject;

test.before(async () => {
  server = await startTestApp();
  project = await createTestProject(server.app, 'grants');
});

test.after.always(async () => {
  await server?.app.stop();
});

const transport = () => createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
const admin = () => createClient(AdminService, transport());
const entitlements = () => createClient(EntitlementsService, transport());
const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

test('a grant gives the feature at once, with its limit and source; revoking takes it away', async (t) => {
  const auth = as(project.adminKey);
  const expiresAt = Date.now() + 3_600_000;
  const { grant } = await admin().grantEntitlement(
    {
      customerId: 'g-user',
      feature: 'beta',
      limit: 7n,
      expiresAt: timestampFromMs(expiresAt),
      reason: 'pilot',
    },
    auth,
  );
  t.regex(grant?.id ?? '', /^gr_/);
  t.is(grant?.actor, project.adminKeyId);
  const check = await entitlements().checkEntitlement(
    { customerId: 'g-user', feature: 'beta' },
    auth,
  );
  t.true(check.entitlement?.allowed);
  t.is(check.entitlement?.limit, 7n);
  t.is(check.entitlement?.sources[0]?.kind, EntitlementSourceKind.GRANT);
  t.is(Number(check.entitlement?.validUntil?.seconds), Math.floor(expiresAt / 1000));

  const revoked = await admin().revokeGrant(
    { grantId: grant?.id ?? '', reason: 'pilot over' },
    auth,
  );
  t.truthy(revoked.grant?.revokedAt);
  t.is(revoked.grant?.revokedBy, project.adminKeyId);
  const after = await entitlements().checkEntitlement(
    { customerId: 'g-user', feature: 'beta' },
    auth,
  );
  t.false(after.entitlement?.allowed);
});

test('grants list page by page; inactive ones only on request', async (t) => {
  const own = await createTestProject(server.app, 'grant listing');
  const auth = as(own.adminKey);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const { grant } = await admin().grantEntitlement(
      { customerId: 'lister', feature: `f${i}`, reason: 'r' },
      auth,
    );
    ids.push(grant?.id ?? '');
  }
  await admin().revokeGrant({ grantId: ids[0] ?? '', reason: 'r' }, auth);
  const seen: string[] = [];
  let pageToken = '';
  do {
    const page = await admin().listGrants({ customerId: 'lister', pageSize: 2, pageToken }, auth);
    t.true(page.grants.length <= 2);
    seen.push(...page.grants.map((g) => g.id));
    pageToken = page.nextPageToken;
  } while (pageToken);
  t.deepEqual(seen, ids.slice(1));
  const all = await admin().listGrants({ customerId: 'lister', includeInactive: true }, auth);
  t.deepEqual(
    all.grants.map((g) => g.id),
    ids,
  );
});

test("another project's grant is NOT_FOUND and stays in force", async (t) => {
  const other = await createTestProject(server.app, 'other');
  const { grant } = await admin().grantEntitlement(
    { customerId: 'x', feature: 'beta', reason: 'r' },
    as(other.adminKey),
  );
  t.is(
    await codeOf(
      admin().revokeGrant({ grantId: grant?.id ?? '', reason: 'attack' }, as(project.adminKey)),
    ),
    Code.NotFound,
  );
  const listed = await admin().listGrants({ customerId: 'x' }, as(project.adminKey));
  t.is(listed.grants.length, 0);
  const check = await entitlements().checkEntitlement(
    { customerId: 'x', feature: 'beta' },
    as(other.adminKey),
  );
  t.true(check.entitlement?.allowed);
});

test('bad grants are INVALID_ARGUMENT and grant nothing', async (t) => {
  const auth = as(project.adminKey);
  const bad = [
    { customerId: '', feature: 'beta', reason: 'r' },
    { customerId: 'u', feature: '', reason: 'r' },
    { customerId: 'u', feature: 'has space', reason: 'r' },
    { customerId: 'u', feature: 'beta', reason: '' },
    { customerId: 'u', feature: 'beta', reason: 'r', limit: -1n },
    {
      customerId: 'u',
      feature: 'beta',
      reason: 'r',
      expiresAt: timestampFromMs(Date.now() - 1000),
    },
  ];
  for (const request of bad)
    t.is(await codeOf(admin().grantEntitlement(request, auth)), Code.InvalidArgument);
  const listed = await admin().listGrants({ customerId: 'u', includeInactive: true }, auth);
  t.is(listed.grants.length, 0);
  t.is(
    await codeOf(admin().revokeGrant({ grantId: 'nope', reason: 'r' }, auth)),
    Code.InvalidArgument,
  );
  t.is(await codeOf(admin().listGrants({ pageSize: 10_000 }, auth)), Code.InvalidArgument);
});

test('the catalog is replaced whole and read back; bad entries change nothing', async (t) => {
  const own = await createTestProject(server.app, 'catalog');
  const auth = as(own.adminKey);
  const entries = [
    {
      stripeId: 'price_team',
      features: [{ feature: 'seats', limit: 1n, limitPerUnit: true }, { feature: 'reports' }],
    },
  ];
  const set = await admin().setCatalog({ entries, reason: 'launch' }, auth);
  t.is(set.entries.length, 1);
  const read = await admin().getCatalog({}, auth);
  t.is(read.entries[0]?.stripeId, 'price_team');
  t.is(read.entries[0]?.features[0]?.limit, 1n);
  t.true(read.entries[0]?.features[0]?.limitPerUnit);
  t.is(read.entries[0]?.features[1]?.limit, undefined);
  for (const badEntries of [
    [{ stripeId: 'sub_x', features: [{ feature: 'a' }] }],
    [{ stripeId: 'price_a', features: [] }],
    [
      { stripeId: 'price_a', features: [{ feature: 'a' }] },
      { stripeId: 'price_a', features: [{ feature: 'b' }] },
    ],
  ]) {
    t.is(
      await codeOf(admin().setCatalog({ entries: badEntries, reason: 'r' }, auth)),
      Code.InvalidArgument,
    );
  }
  t.is((await admin().getCatalog({}, auth)).entries[0]?.stripeId, 'price_team');
});
