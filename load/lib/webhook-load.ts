/**
 * Webhook ingestion: signed Stripe events posted to the shim, `concurrency`
 * at a time, for `seconds`: events per second and latency through signature
 * check, receipt and exactly-once effects.
 */
import Stripe from 'stripe';
import { percentiles, type Result } from './results.js';

export interface WebhookLoadOptions {
  readonly url: string;
  readonly secret: string;
  readonly concurrency: number;
  readonly seconds: number;
  /** A full Stripe event for the n-th post (distinct ids: each is applied once). */
  readonly event: (n: number) => Stripe.Event;
}

export async function webhookLoad(options: WebhookLoadOptions): Promise<Result> {
  const durations: number[] = [];
  let errors = 0;
  let next = 0;
  const deadline = Date.now() + options.seconds * 1000;
  const worker = async () => {
    while (Date.now() < deadline) {
      const payload = JSON.stringify(options.event(next++));
      const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: options.secret });
      const started = performance.now();
      const response = await fetch(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': header },
        body: payload,
      }).catch(() => undefined);
      await response?.arrayBuffer();
      durations.push(performance.now() - started);
      if (!response?.ok) errors += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const elapsedSeconds = (performance.now() - started) / 1000;
  const { p50, p95, p99 } = percentiles(durations);
  return {
    scenario: 'webhook-ingestion',
    description:
      'signed customer.subscription.updated events through the shim (signature, receipt, effects)',
    concurrency: options.concurrency,
    requests: durations.length,
    rps: Math.round(durations.length / elapsedSeconds),
    p50Ms: p50,
    p95Ms: p95,
    p99Ms: p99,
    errors,
  };
}
