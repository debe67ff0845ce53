/**
 * The RPC duration histogram exposes exactly what prom-client's own
 * Histogram exposes for the same observations (it only observes faster).
 */
import test from 'ava';
import { Histogram, Registry } from 'prom-client';
import { RpcDurationHistogram } from '../../src/server/rpc-duration-histogram.js';

const buckets = [0.001, 0.01, 0.1, 1];
const observations: readonly [string, string, number][] = [
  ['billing.v1.EntitlementsService/CheckEntitlement', 'OK', 0.0004],
  ['billing.v1.EntitlementsService/CheckEntitlement', 'OK', 0.001],
  ['billing.v1.EntitlementsService/CheckEntitlement', 'OK', 0.05],
  ['billing.v1.EntitlementsService/CheckEntitlement', 'NOT_FOUND', 0.002],
  ['billing.v1.AdminService/GetProject', 'OK', 3],
];

function stock(): Registry {
  const registry = new Registry();
  const histogram = new Histogram({
    name: 'rpc_server_duration_seconds',
    help: 'RPC handling time',
    labelNames: ['method', 'code'] as const,
    buckets,
    registers: [registry],
  });
  for (const [method, code, seconds] of observations) histogram.observe({ method, code }, seconds);
  return registry;
}

function ours(): { registry: Registry; histogram: RpcDurationHistogram } {
  const registry = new Registry();
  const histogram = new RpcDurationHistogram({
    name: 'rpc_server_duration_seconds',
    help: 'RPC handling time',
    buckets,
    registry,
  });
  for (const [method, code, seconds] of observations) histogram.record(method, code, seconds);
  return { registry, histogram };
}

const lines = (text: string) => text.split('\n');

test('the text exposition equals prom-client Histogram for the same observations', async (t) => {
  const expected = lines(await stock().metrics());
  const actual = lines(await ours().registry.metrics());
  t.deepEqual(actual, expected);
  t.true(
    actual.includes(
      'rpc_server_duration_seconds_bucket{le="0.001",method="billing.v1.EntitlementsService/CheckEntitlement",code="OK"} 2',
    ),
  );
});

test('the JSON form equals prom-client Histogram too, and reset empties it', async (t) => {
  const { registry, histogram } = ours();
  type Value = { metricName?: string; labels: object; exemplar?: unknown };
  const sortValues = (metric: { values: Value[] }) =>
    // Exemplars are off: prom-client writes `exemplar: null` on its buckets.
    metric.values.map(({ exemplar: _, ...value }) => JSON.stringify(value)).sort();
  const [expected] = await stock().getMetricsAsJSON();
  const [actual] = await registry.getMetricsAsJSON();
  t.truthy(expected);
  t.truthy(actual);
  if (!expected || !actual) return;
  t.deepEqual(sortValues(actual), sortValues(expected));
  t.like(actual, { name: expected.name, help: expected.help, type: expected.type });
  histogram.reset();
  t.deepEqual((await registry.getMetricsAsJSON())[0]?.values, []);
});
