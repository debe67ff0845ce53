// needs: mongodb redis
/**
 * API keys: no key, a wrong key, a revoked key and a key of the wrong scope
 * each get their own status code, and one project's key never reaches
 * another project's data.
 */
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService, Scope } from '../../gen/billing/v1/admin_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';
import { codeOf } from '../helpers/rpc.js';

let server: TestApp;
let projectA: TestProject;
let projectB: TestProject;

test.before(async () => {
  server = await startTestApp();
  projectA = await createTestProject(server.app, 'project A');
  projectB = await createTestProject(server.app, 'project B');
});

test.after.always(async () => {
  await server?.app.stop();
});

const admin = () =>
  createClient(
    AdminService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  );
const bearer = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

test('no key is UNAUTHENTICATED', async (t) => {
  t.is(await codeOf(admin().getProject({})), Code.Unauthenticated);
  t.is(
    await codeOf(admin().getProject({}, { headers: { authorization: 'Basic abc' } })),
    Code.Unauthenticated,
  );
});

test('a wrong key is UNAUTHENTICATED', async (t) => {
  const forged = `${projectA.adminKey.slice(0, -4)}AAAA`;
  t.is(await codeOf(admin().getProject({}, bearer(forged))), Code.Unauthenticated);
  t.is(await codeOf(admin().getProject({}, bearer('bk_not_a_key'))), Code.Unauthenticated);
});

test('a revoked key is UNAUTHENTICATED at once, even after it was used', async (t) => {
  const created = await admin().createApiKey(
    { name: 'short-lived', scopes: [Scope.ADMIN], reason: 'revocation test' },
    bearer(projectA.adminKey),
  );
  // Used once, so it sits in the in-process key cache.
  t.is((await admin().getProject({}, bearer(created.secret))).project?.id, projectA.projectId);
  const revoked = await admin().revokeApiKey(
    { keyId: created.key?.id ?? '', reason: 'leaked' },
    bearer(projectA.adminKey),
  );
  t.truthy(revoked.key?.revokedAt);
  t.is(await codeOf(admin().getProject({}, bearer(created.secret))), Code.Unauthenticated);
});

test('a key without the needed scope is PERMISSION_DENIED', async (t) => {
  const reader = await admin().createApiKey(
    { name: 'reader', scopes: [Scope.ENTITLEMENTS_READ], reason: 'scope test' },
    bearer(projectA.adminKey),
  );
  t.is(await codeOf(admin().getProject({}, bearer(reader.secret))), Code.PermissionDenied);
  t.is(await codeOf(admin().listApiKeys({}, bearer(reader.secret))), Code.PermissionDenied);
  // The same key passes authentication for the service its scope covers.
  const entitlements = createClient(
    EntitlementsService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  );
  t.is(
    await codeOf(entitlements.listEntitlements({ customerId: 'u' }, bearer(reader.secret))),
    'ok',
  );
});

test('a key never reaches another project', async (t) => {
  const ownProject = await admin().getProject({}, bearer(projectA.adminKey));
  t.is(ownProject.project?.id, projectA.projectId);

  const keysSeenByA = await admin().listApiKeys(
    { includeRevoked: true },
    bearer(projectA.adminKey),
  );
  t.true(keysSeenByA.keys.length > 0);
  t.true(keysSeenByA.keys.every((key) => key.projectId === projectA.projectId));
  t.false(keysSeenByA.keys.some((key) => key.id === projectB.adminKeyId));

  // Revoking B's key with A's admin key looks exactly like a missing key...
  const attempt = await codeOf(
    admin().revokeApiKey(
      { keyId: projectB.adminKeyId, reason: 'attack' },
      bearer(projectA.adminKey),
    ),
  );
  t.is(attempt, Code.NotFound);
  // ...and changes nothing: B's key still works.
  t.is((await admin().getProject({}, bearer(projectB.adminKey))).project?.id, projectB.projectId);
});

test('bad input is INVALID_ARGUMENT and creates nothing', async (t) => {
  // A project of its own: the other tests add keys concurrently.
  const project = await createTestProject(server.app, 'bad input');
  const before = await admin().listApiKeys({}, bearer(project.adminKey));
  for (const request of [
    { name: '', scopes: [Scope.ADMIN], reason: 'r' },
    { name: 'k', scopes: [], reason: 'r' },
    { name: 'k', scopes: [Scope.UNSPECIFIED], reason: 'r' },
    { name: 'k', scopes: [99 as Scope], reason: 'r' },
    { name: 'k', scopes: [Scope.ADMIN], reason: '' },
    { name: 'x'.repeat(1000), scopes: [Scope.ADMIN], reason: 'r' },
  ]) {
    t.is(
      await codeOf(admin().createApiKey(request, bearer(project.adminKey))),
      Code.InvalidArgument,
    );
  }
  t.is(
    await codeOf(admin().revokeApiKey({ keyId: 'nope', reason: 'r' }, bearer(project.adminKey))),
    Code.InvalidArgument,
  );
  const after = await admin().listApiKeys({}, bearer(project.adminKey));
  t.is(after.keys.length, before.keys.length);
});
