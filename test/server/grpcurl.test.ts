// needs: mongodb redis grpcurl
/**
 * Operators use grpcurl with server reflection: listing, describing, health
 * and an authenticated call all work without any proto file at hand.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { createTestProject, startTestApp, type TestApp } from '../helpers/app.js';
import { grpcurlBin } from '../helpers/services.js';

const run = promisify(execFile);
let server: TestApp;

test.before(async () => {
  server = await startTestApp();
});

test.after.always(async () => {
  await server?.app.stop();
});

/** grpcurl's order: flags, then the address, then the command (list, describe X, or a method). */
async function grpcurl(flags: readonly string[], ...command: string[]): Promise<string> {
  const address = `127.0.0.1:${server.app.port}`;
  const { stdout } = await run(grpcurlBin(), ['-plaintext', ...flags, address, ...command], {
    timeout: 20_000,
  });
  return stdout;
}

test('list shows every billing.v1 service, health and reflection', async (t) => {
  const services = (await grpcurl([], 'list')).trim().split('\n').sort();
  t.deepEqual(services, [
    'billing.v1.AdminService',
    'billing.v1.CheckoutService',
    'billing.v1.EntitlementsService',
    'billing.v1.MetricsService',
    'grpc.health.v1.Health',
    'grpc.reflection.v1.ServerReflection',
    'grpc.reflection.v1alpha.ServerReflection',
  ]);
});

test('describe shows methods and messages', async (t) => {
  const service = await grpcurl([], 'describe', 'billing.v1.EntitlementsService');
  t.regex(
    service,
    /rpc CheckEntitlement \( \.billing\.v1\.CheckEntitlementRequest \) returns \( \.billing\.v1\.CheckEntitlementResponse \)/,
  );
  t.regex(
    service,
    /rpc WatchEntitlements \( \.billing\.v1\.WatchEntitlementsRequest \) returns \( stream \.billing\.v1\.WatchEntitlementsResponse \)/,
  );
  const message = await grpcurl([], 'describe', 'billing.v1.Entitlement');
  t.regex(message, /repeated \.billing\.v1\.EntitlementSource sources = 4;/);
});

test('health check answers SERVING', async (t) => {
  const answer = JSON.parse(await grpcurl([], 'grpc.health.v1.Health/Check')) as { status: string };
  t.is(answer.status, 'SERVING');
});

test('an authenticated call works through reflection alone', async (t) => {
  const project = await createTestProject(server.app, 'grpcurl');
  const answer = JSON.parse(
    await grpcurl(
      ['-H', `authorization: Bearer ${project.adminKey}`, '-d', '{}'],
      'billing.v1.AdminService/GetProject',
    ),
  ) as { project: { id: string; name: string } };
  t.is(answer.project.id, project.projectId);
  t.is(answer.project.name, 'grpcurl');
});
