/**
 * The business gauges are computed on scrape, at most once per cache period,
 * shared by concurrent scrapes, and keep their last values when computing
 * fails. A fake clock and a fake computation; a private registry.
 */
import test from 'ava';
import { Registry } from 'prom-client';
import {
  type BusinessFigures,
  registerBusinessGauges,
} from '../../src/server/prometheus-metrics.js';

function setup(initial: BusinessFigures[]) {
  const registry = new Registry();
  const state = { clock: 1_000_000, calls: 0, figures: initial, fail: false, errors: 0 };
  registerBusinessGauges(registry, {
    figures: async () => {
      state.calls += 1;
      if (state.fail) throw new Error('mongodb down');
      return state.figures;
    },
    cacheMs: 30_000,
    onError: () => {
      state.errors += 1;
    },
    now: () => state.clock,
  });
  const scrape = async () => {
    const text = await registry.metrics();
    return text.split('\n').filter((line) => line.startsWith('billing_'));
  };
  return { state, scrape };
}

const project = (projectId: string, active: number, usd: bigint): BusinessFigures => ({
  projectId,
  activeSubscriptions: active,
  mrr: [{ currency: 'usd', amountMinor: usd }],
});

test('one computation serves every gauge and every scrape within the cache period', async (t) => {
  const { state, scrape } = setup([project('p1', 3, 4500n)]);
  const lines = await scrape();
  t.true(lines.includes('billing_active_subscriptions{project="p1"} 3'));
  t.true(lines.includes('billing_mrr_minor_units{project="p1",currency="usd"} 4500'));
  t.true(lines.includes('billing_business_metrics_computed_timestamp_seconds 1000'));
  t.is(state.calls, 1);

  state.figures = [project('p1', 4, 6000n)];
  state.clock += 29_999;
  await Promise.all([scrape(), scrape()]);
  t.is(state.calls, 1);
  t.true((await scrape()).includes('billing_active_subscriptions{project="p1"} 3'));

  state.clock += 1;
  const fresh = await scrape();
  t.is(state.calls, 2);
  t.true(fresh.includes('billing_active_subscriptions{project="p1"} 4'));
  t.true(fresh.includes('billing_mrr_minor_units{project="p1",currency="usd"} 6000'));
});

test('concurrent scrapes after the cache period share one computation', async (t) => {
  const { state, scrape } = setup([project('p1', 1, 100n)]);
  await Promise.all([scrape(), scrape(), scrape()]);
  t.is(state.calls, 1);
});

test('a project or currency that is gone disappears from the gauges', async (t) => {
  const { state, scrape } = setup([project('p1', 1, 100n), project('p2', 2, 200n)]);
  t.true((await scrape()).includes('billing_active_subscriptions{project="p2"} 2'));
  state.figures = [project('p1', 1, 100n)];
  state.clock += 30_000;
  const lines = await scrape();
  t.false(lines.some((line) => line.includes('project="p2"')));
  t.true(lines.includes('billing_active_subscriptions{project="p1"} 1'));
});

test('a failed computation keeps the last values and is retried on the next scrape', async (t) => {
  const { state, scrape } = setup([project('p1', 3, 4500n)]);
  await scrape();
  state.fail = true;
  state.clock += 60_000;
  const lines = await scrape();
  t.is(state.errors, 1);
  t.true(lines.includes('billing_active_subscriptions{project="p1"} 3'));
  // The timestamp says how old the figures are.
  t.true(lines.includes('billing_business_metrics_computed_timestamp_seconds 1000'));
  state.fail = false;
  state.figures = [project('p1', 5, 7500n)];
  const recovered = await scrape();
  t.true(recovered.includes('billing_active_subscriptions{project="p1"} 5'));
  t.true(recovered.includes('billing_business_metrics_computed_timestamp_seconds 1060'));
});

test('failing from the start: no business series, computed at 0, and the scrape answers', async (t) => {
  const { state, scrape } = setup([]);
  state.fail = true;
  t.deepEqual(await scrape(), ['billing_business_metrics_computed_timestamp_seconds 0']);
  t.is(state.errors, 1);
});
