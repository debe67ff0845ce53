// needs: mongodb redis
/**
 * /readyz follows its dependencies: unready while Redis is down, ready again
 * when it comes back, without a restart. /metrics records RPCs by method and
 * code.
 */
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { createTestProject, readyz, startTestApp, type TestApp } from '../helpers/app.js';
import { type RedisHandle, startPrivateRedis } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

let redis: RedisHandle;
let server: TestApp;

test.before(async () => {
  redis = await startPrivateRedis();
  server = await startTestApp({ redisUrl: redis.url });
});

test.after.always(async () => {
  await server?.app.stop();
  await redis?.stop();
});

test.serial('/readyz is unready while Redis is down and ready again after', async (t) => {
  const before = await readyz(server.baseUrl);
  t.is(before.status, 200);
  t.deepEqual(before.body, { status: 'ready', checks: { mongodb: true, redis: true } });

  await redis.stop();
  const down = await waitFor(() => readyz(server.baseUrl), {
    what: '/readyz to say 503',
    until: (r) => r.status === 503,
  });
  t.is(down.status, 503);
  t.deepEqual(down.body.checks, { mongodb: true, redis: false });

  await redis.start();
  const back = await waitFor(() => readyz(server.baseUrl), {
    what: '/readyz to say 200 again',
    until: (r) => r.status === 200,
  });
  t.is(back.status, 200);
  t.deepEqual(back.body.checks, { mongodb: true, redis: true });
});

test.serial('/metrics counts RPCs by method and status code', async (t) => {
  const project = await createTestProject(server.app, 'metrics');
  const admin = createClient(
    AdminService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  );
  const series = (code: string) =>
    `rpc_server_duration_seconds_count{method="billing.v1.AdminService/GetProject",code="${code}"}`;
  const count = async (code: string): Promise<number> => {
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(series(code)));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  const okBefore = await count('OK');
  const deniedBefore = await count('UNAUTHENTICATED');

  await admin.getProject({}, { headers: { authorization: `Bearer ${project.adminKey}` } });
  await admin.getProject({}, { headers: { authorization: `Bearer ${project.adminKey}` } });
  const err = await t.throwsAsync(admin.getProject({}));
  t.is(ConnectError.from(err).code, Code.Unauthenticated);

  t.is((await count('OK')) - okBefore, 2);
  t.is((await count('UNAUTHENTICATED')) - deniedBefore, 1);
  const response = await fetch(`${server.baseUrl}/metrics`);
  t.regex(response.headers.get('content-type') ?? '', /text\/plain/);
});
