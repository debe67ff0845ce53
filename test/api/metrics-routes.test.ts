/**
 * MetricsService, in memory and over a port (rpc-harness.ts): a project's
 * figures for a window, the default window, the figures per day, and the
 * refusals.
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

rpcTest('ListDailyMetrics answers every day of the range, with its snapshot', async (t, run) => {
  const { client, admin } = setUp(run);
  const { days } = await client.listDailyMetrics(
    { firstDay: '2026-02-27', lastDay: '2026-03-02' },
    bearer(admin),
  );
  t.deepEqual(
    days.map((d) => [d.day, d.newSubscriptions]),
    [
      ['2026-02-27', 0n],
      ['2026-02-28', 1n],
      ['2026-03-01', 2n],
      ['2026-03-02', 3n],
    ],
  );
  const first = days[0]?.snapshot;
  t.is(first?.takenAt && timestampDate(first.takenAt).toISOString(), '2026-02-27T23:50:00.000Z');
  t.deepEqual(
    first?.mrr.map((m) => [m.currency, m.amountMinor]),
    [['usd', 2000n]],
  );
  t.deepEqual(
    first?.subscriptionsByStatus.map((s) => [s.status, s.count]),
    [['active', 2n]],
  );
  t.is(days[1]?.snapshot, undefined, 'a day without a snapshot has none');
  t.deepEqual(run.world.dailyMetrics.calls, [
    { projectId: 'p1', first: '2026-02-27', last: '2026-03-02' },
  ]);
});

rpcTest(
  'ListDailyMetrics without a range answers the 30 days up to today (UTC)',
  async (t, run) => {
    const { client, admin } = setUp(run);
    const before = new Date().toISOString().slice(0, 10);
    const { days } = await client.listDailyMetrics({}, bearer(admin));
    const after = new Date().toISOString().slice(0, 10);
    t.is(days.length, 30);
    t.true([before, after].includes(days.at(-1)?.day ?? ''), 'the last day is today');
  },
);

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

const dayRefusals: ReadonlyArray<[string, { firstDay?: string; lastDay?: string }]> = [
  ['a day that is not YYYY-MM-DD', { firstDay: '1 March 2026' }],
  ['a day that does not exist', { firstDay: '2026-02-30', lastDay: '2026-03-02' }],
  ['the first day after the last', { firstDay: '2026-03-02', lastDay: '2026-03-01' }],
  ['more than 400 days', { firstDay: '2025-01-01', lastDay: '2026-03-01' }],
  ['a last day after today', { lastDay: '2999-01-01' }],
];

for (const [name, range] of dayRefusals) {
  rpcTest(`refused: ListDailyMetrics with ${name}`, async (t, run) => {
    const { client, admin } = setUp(run);
    t.is(await codeOf(client.listDailyMetrics(range, bearer(admin))), Code.InvalidArgument);
    t.deepEqual(run.world.dailyMetrics.calls, []);
  });
}

rpcTest('refused: ListDailyMetrics with a read-only key', async (t, run) => {
  const { client, reader } = setUp(run);
  t.is(await codeOf(client.listDailyMetrics({}, bearer(reader))), Code.PermissionDenied);
});
