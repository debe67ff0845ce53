/**
 * One Stripe SDK client per project key. The SDK is the only way the
 * service talks to Stripe; `STRIPE_API_URL` points it at a local stand-in
 * (tests, stripe-mock).
 */
import Stripe from 'stripe';

export interface StripeEndpoint {
  readonly host: string;
  readonly port: number;
  readonly protocol: 'http' | 'https';
}

export class StripeClients {
  private readonly clients = new Map<string, Stripe>();

  constructor(
    private readonly endpoint: StripeEndpoint | undefined,
    private readonly timeoutMs: number,
  ) {}

  forKey(secretKey: string): Stripe {
    let client = this.clients.get(secretKey);
    if (!client) {
      client = this.dedicated(secretKey);
      this.clients.set(secretKey, client);
    }
    return client;
  }

  /**
   * A client of its own, not shared: its `request` events are the caller's
   * requests only (reconciliation counts its list calls that way).
   */
  dedicated(secretKey: string): Stripe {
    return new Stripe(secretKey, {
      ...(this.endpoint ?? {}),
      timeout: this.timeoutMs,
      // Retries with Stripe's own idempotency keys are safe and ride out blips.
      maxNetworkRetries: 2,
      appInfo: { name: 'billing-entitlements-service' },
    });
  }
}

export function parseStripeEndpoint(url: string): StripeEndpoint {
  const parsed = new URL(url);
  const protocol = parsed.protocol === 'http:' ? 'http' : 'https';
  const port = parsed.port ? Number(parsed.port) : protocol === 'http' ? 80 : 443;
  return { host: parsed.hostname, port, protocol };
}
