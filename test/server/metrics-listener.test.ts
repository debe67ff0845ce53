// needs: mongodb redis
/**
 * The metrics listener serves /metrics with every figure and nothing else;
 * METRICS_PORT=off runs the service without it. (What the public port's
 * /metrics leaves out is in test/metrics/project-metrics.test.ts.)
 */
import test from 'ava';
import { scrapeAll, startTestApp } from '../helpers/app.js';

test('the metrics listener serves /metrics and nothing else', async (t) => {
  const server = await startTestApp();
  t.teardown(() => server.app.stop());
  const text = await scrapeAll(server);
  t.regex(text, /^# HELP billing_mrr_minor_units /m);
  t.regex(text, /^# HELP reconciliation_drift_total /m);
  t.regex(text, /^process_cpu_user_seconds_total /m);
  for (const path of ['/', '/healthz', '/demo', '/metrics/x']) {
    t.is((await fetch(`${server.metricsUrl}${path}`)).status, 404, path);
  }
  t.is((await fetch(`${server.metricsUrl}/metrics`, { method: 'POST' })).status, 404);
});

test('METRICS_PORT=off: no metrics listener, the public /metrics still answers', async (t) => {
  const server = await startTestApp({ env: { METRICS_PORT: 'off' } });
  t.teardown(() => server.app.stop());
  t.is(server.app.metricsPort, undefined);
  const response = await fetch(`${server.baseUrl}/metrics`);
  t.is(response.status, 200);
  t.false((await response.text()).includes('billing_mrr_minor_units'));
});
