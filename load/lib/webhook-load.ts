/**
 * Webhook ingestion: signed Stripe events posted to the shim, `concurrency`
 * at a time, for `seconds`: events per second and latency through signature
 * check, receipt and exactly-once effects.
 */
import Stripe from 'stripe';
import { closedLoop, closedLoopResult } from './closed-loop.js';
import type { Result } from './results.js';

export interface WebhookLoadOptions {
  readonly url: string;
  readonly secret: string;
  readonly concurrency: number;
  readonly seconds: number;
  /** A full Stripe event for the n-th post (distinct ids: each is applied once). */
  readonly event: (n: number) => Stripe.Event;
}

export async function webhookLoad(options: WebhookLoadOptions): Promise<Result> {
  const figures = await closedLoop({
    concurrency: options.concurrency,
    seconds: options.seconds,
    call: async (n) => {
      const payload = JSON.stringify(options.event(n));
      const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: options.secret });
      const response = await fetch(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': header },
        body: payload,
      }).catch(() => undefined);
      await response?.arrayBuffer();
      if (!response) return 'no answer';
      return response.ok ? undefined : `HTTP ${response.status}`;
    },
  });
  return closedLoopResult(
    {
      name: 'webhook-ingestion',
      description:
        'signed customer.subscription.updated events through the shim (signature, receipt, effects)',
    },
    figures,
  );
}
