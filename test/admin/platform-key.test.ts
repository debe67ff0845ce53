// needs: mongodb redis
/**
 * Projects are created with a platform key (scope platform:admin), not with
 * a project's admin key; a platform key does that and nothing else, so it
 * never reads or changes any project's data.
 */
import type { DescMethodUnary } from '@bufbuild/protobuf';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService, type Scope } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import {
  createPlatformKey,
  createTestProject,
  startTestApp,
  type TestApp,
  type TestPlatformKey,
  type TestProject,
} from '../helpers/app.js';
import { codeOf } from '../helpers/rpc.js';

let server: TestApp;
let project: TestProject;
let platform: TestPlatformKey;

test.before(async () => {
  server = await startTestApp();
  project = await createTestProject(server.app, 'tenant');
  platform = await createPlatformKey(server.app);
});

test.after.always(async () => {
  await server?.app.stop();
});

const transport = () => createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
const admin = () => createClient(AdminService, transport());
const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
const newProject = { name: 'another', reason: 'new product' };

test("a project's admin key cannot create projects", async (t) => {
  t.is(
    await codeOf(admin().createProject(newProject, as(project.adminKey))),
    Code.PermissionDenied,
  );
});

test('a platform key creates a project whose admin key manages only that project', async (t) => {
  const created = await admin().createProject(newProject, as(platform.key));
  const own = await admin().getProject({}, as(created.adminKeySecret));
  t.is(own.project?.id, created.project?.id);
  t.not(own.project?.id, project.projectId);
  const keys = await admin().listApiKeys({}, as(created.adminKeySecret));
  t.deepEqual(
    keys.keys.map((k) => k.projectId),
    [created.project?.id],
  );
});

test('a platform key reaches no other method of any service', async (t) => {
  const methods = [
    ...AdminService.methods,
    ...MetricsService.methods,
    ...EntitlementsService.methods,
    ...CheckoutService.methods,
  ].filter(
    (m): m is DescMethodUnary =>
      m.methodKind === 'unary' && m !== AdminService.method.createProject,
  );
  for (const method of methods) {
    const call = transport().unary(
      method,
      undefined,
      undefined,
      { authorization: `Bearer ${platform.key}` },
      {},
    );
    t.is(await codeOf(call), Code.PermissionDenied, method.name);
  }
});

test('no project key can be given the platform scope or touch a platform key', async (t) => {
  // The API's Scope enum has no platform value: 99 is an unknown scope.
  t.is(
    await codeOf(
      admin().createApiKey({ name: 'x', scopes: [99 as Scope], reason: 'r' }, as(project.adminKey)),
    ),
    Code.InvalidArgument,
  );
  t.is(
    await codeOf(
      admin().revokeApiKey({ keyId: platform.keyId, reason: 'r' }, as(project.adminKey)),
    ),
    Code.NotFound,
  );
  t.is(await codeOf(admin().createProject(newProject, as(platform.key))), 'ok');
});
