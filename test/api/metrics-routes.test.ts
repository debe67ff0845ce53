/**
 * MetricsService, in memory and over a port (rpc-harness.ts): a project's
 * figures for a window, the default window, and the refusals.
 */
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import { MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import { codeOf } from '../helpers/rpc.js';
import { bearer, type RpcRun, rpcTest } from './rpc-harness.js';

const dayMs = 24 * 3600_000;

function setUp(run: RpcRun) {
  return {
    client: run.client(MetricsService),
    admin: run.world.keys.add('p1', ['admin']),
    reader: run.world.keys.add('p1', ['entitlements:read']),
  };
}

rpcTest('GetProjectMetrics answers the figures of the asked window', async (t, run) => {
  const { client, admin } = setUp(run);
  const windowStart = new Date('2026-05-01T00:00:00Z');
  const windowEnd = new Date('2026-06-01T00:00:00Z');
  const answer = await client.getProjectMetrics(
    { windowStart: timestampFromDate(windowStart), windowEnd: timestampFromDate(windowEnd) },
    bearer(admin),
  );
  t.deepEqual(
    answer.subscriptionsByStatus.map((s) => [s.status, s.count]),
    [['active', 3n]],
  );
  t.deepEqual(
    answer.mrr.map((m) => [m.currency, m.amountMinor]),
    [['eur', 4500n]],
  );
  t.like(answer, { activeCustomers: 2n, newSubscriptions: 1n, churnedSubscriptions: 0n });
  t.deepEqual(run.world.projectMetrics.windows, [{ start: windowStart, end: windowEnd }]);
});

rpcTest('GetProjectMetrics without a window covers the last 30 days', async (t, run) => {
  const { client, admin } = setUp(run);
  const answer = await client.getProjectMetrics({}, bearer(admin));
  const start = answer.windowStart ? timestampDate(answer.windowStart).getTime() : 0;
  const end = answer.windowEnd ? timestampDate(answer.windowEnd).getTime() : 0;
  t.is(end - start, 30 * dayMs);
});

type Refusal = (k: ReturnType<typeof setUp>) => Promise<unknown>;

const refusals: ReadonlyArray<[string, Refusal, Code]> = [
  ['without a key', (k) => k.client.getProjectMetrics({}), Code.Unauthenticated],
  [
    'with a read-only key',
    (k) => k.client.getProjectMetrics({}, bearer(k.reader)),
    Code.PermissionDenied,
  ],
  [
    'with a window longer than 400 days',
    (k) =>
      k.client.getProjectMetrics(
        {
          windowStart: timestampFromDate(new Date('2025-01-01T00:00:00Z')),
          windowEnd: timestampFromDate(new Date('2026-06-01T00:00:00Z')),
        },
        bearer(k.admin),
      ),
    Code.InvalidArgument,
  ],
];

for (const [name, call, code] of refusals) {
  rpcTest(`refused: GetProjectMetrics ${name}`, async (t, run) => {
    t.is(await codeOf(call(setUp(run))), code);
    t.deepEqual(run.world.projectMetrics.windows, []);
  });
}
