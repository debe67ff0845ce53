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
   * A client of its own, not shared: `onAnswered` hears of the caller's
   * requests only, each attempt that Stripe answered (reconciliation counts
   * its list calls that way). The SDK's own `request` event also fires for
   * an attempt lost on the way (a keep-alive socket closed by the server
   * as it was reused), which Stripe never saw.
   */
  dedicated(secretKey: string, onAnswered?: (method: string) => void): Stripe {
    return new Stripe(secretKey, {
      ...(this.endpoint ?? {}),
      timeout: this.timeoutMs,
      // Retries with Stripe's own idempotency keys are safe and ride out blips.
      maxNetworkRetries: 2,
      appInfo: { name: 'billing-entitlements-service' },
      ...(onAnswered
        ? { httpClient: new AnsweredRequests(Stripe.createNodeHttpClient(), onAnswered) }
        : {}),
    });
  }
}

/** Node's HTTP client, telling of every request that got an answer (its method). */
class AnsweredRequests extends Stripe.HttpClient {
  constructor(
    private readonly inner: Stripe.HttpClient,
    private readonly onAnswered: (method: string) => void,
  ) {
    super();
  }

  override getClientName(): string {
    return this.inner.getClientName();
  }

  override async makeRequest(
    ...args: Parameters<Stripe.HttpClient['makeRequest']>
  ): ReturnType<Stripe.HttpClient['makeRequest']> {
    const response = await this.inner.makeRequest(...args);
    this.onAnswered(args[3]);
    return response;
  }
}

export function parseStripeEndpoint(url: string): StripeEndpoint {
  const parsed = new URL(url);
  const protocol = parsed.protocol === 'http:' ? 'http' : 'https';
  const port = parsed.port ? Number(parsed.port) : protocol === 'http' ? 80 : 443;
  return { host: parsed.hostname, port, protocol };
}
