// needs: mongodb redis
/**
 * One port, three protocols, three clients: the same RPC answers the same
 * through gRPC (@grpc/grpc-js over HTTP/2), Connect (HTTP/1.1 and HTTP/2) and
 * gRPC-Web (HTTP/1.1), and plain HTTP endpoints share the port.
 */
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';
import { GrpcJsClient } from '../helpers/grpc-js.js';

let server: TestApp;
let project: TestProject;

test.before(async () => {
  server = await startTestApp();
  project = await createTestProject(server.app, 'protocols');
});

test.after.always(async () => {
  await server?.app.stop();
});

const auth = () => ({ authorization: `Bearer ${project.adminKey}` });

test('gRPC through @grpc/grpc-js reaches GetProject', async (t) => {
  const client = new GrpcJsClient(`127.0.0.1:${server.app.port}`);
  try {
    const result = await client.unary(AdminService.method.getProject, {}, auth());
    t.is(result.error, undefined);
    t.is(result.response?.project?.id, project.projectId);
    t.is(result.response?.project?.name, 'protocols');
  } finally {
    client.close();
  }
});

const transports = {
  'Connect over HTTP/1.1': () =>
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  'Connect over HTTP/2': () =>
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '2' }),
  'gRPC-Web over HTTP/1.1': () =>
    createGrpcWebTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  'gRPC through connect-node over HTTP/2': () => createGrpcTransport({ baseUrl: server.baseUrl }),
} as const;

for (const [name, makeTransport] of Object.entries(transports)) {
  test(`${name} reaches GetProject`, async (t) => {
    const admin = createClient(AdminService, makeTransport());
    const answer = await admin.getProject({}, { headers: auth() });
    t.is(answer.project?.id, project.projectId);
    t.true(answer.project?.hasStripeSecretKey);
    // The secret itself is never part of the answer.
    t.is(answer.project?.stripeSecretKeyLast4, '0000');
  });
}

test('GetProjectMetrics answers on every protocol, and bad input is INVALID_ARGUMENT', async (t) => {
  const inverted = { windowStart: { seconds: 2000n }, windowEnd: { seconds: 1000n } };
  for (const makeTransport of Object.values(transports)) {
    const metrics = createClient(MetricsService, makeTransport());
    const answer = await metrics.getProjectMetrics({}, { headers: auth() });
    t.is(answer.activeCustomers, 0n);
    t.deepEqual(answer.mrr, []);
    t.truthy(answer.windowEnd);
    const err = await t.throwsAsync(metrics.getProjectMetrics(inverted, { headers: auth() }));
    t.is(ConnectError.from(err).code, Code.InvalidArgument);
  }
  const client = new GrpcJsClient(`127.0.0.1:${server.app.port}`);
  const result = await client.unary(MetricsService.method.getProjectMetrics, {}, auth());
  const refused = await client.unary(MetricsService.method.getProjectMetrics, inverted, auth());
  client.close();
  t.is(result.error, undefined);
  t.is(result.response?.newSubscriptions, 0n);
  t.is(refused.error?.code, grpc.status.INVALID_ARGUMENT);
});

test('plain HTTP/1.1 endpoints share the port', async (t) => {
  const health = await fetch(`${server.baseUrl}/healthz`);
  t.is(health.status, 200);
  t.deepEqual(await health.json(), { status: 'ok' });
  const missing = await fetch(`${server.baseUrl}/no-such-page`);
  t.is(missing.status, 404);
});
