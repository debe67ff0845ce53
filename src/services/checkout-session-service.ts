/**
 * Starting purchases and opening the billing portal, on the project's own
 * Stripe account. The Stripe customer is created on first use with a Stripe
 * idempotency key derived from (project, customer), so retries and
 * concurrent first calls never create a second one.
 */
import type Stripe from 'stripe';
import { FailedPreconditionError } from '../domain/errors.js';
import { projectMarkerKey } from '../domain/stripe-ownership.js';
import type { CustomerStore } from '../store/customer-store.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import type { ProjectCache } from './project-cache.js';

export interface CheckoutInput {
  readonly projectId: string;
  readonly customerId: string;
  readonly mode: 'subscription' | 'payment';
  readonly lineItems: readonly { priceId: string; quantity: number }[];
  readonly successUrl: string;
  readonly cancelUrl: string;
  readonly customerEmail: string | undefined;
  readonly idempotencyKey: string | undefined;
}

export interface CheckoutResult {
  readonly sessionId: string;
  readonly url: string;
  readonly stripeCustomerId: string;
  readonly expiresAt: Date;
}

export class CheckoutSessionService {
  constructor(
    private readonly projects: ProjectCache,
    private readonly customers: CustomerStore,
    private readonly stripeClients: StripeClients,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async createCheckoutSession(input: CheckoutInput): Promise<CheckoutResult> {
    const stripe = await this.stripeFor(input.projectId);
    const stripeCustomerId = await this.ensureStripeCustomer(
      stripe,
      input.projectId,
      input.customerId,
      input.customerEmail,
    );
    const session = await stripe.checkout.sessions.create(
      {
        mode: input.mode,
        customer: stripeCustomerId,
        client_reference_id: input.customerId,
        line_items: input.lineItems.map((item) => ({
          price: item.priceId,
          quantity: item.quantity,
        })),
        success_url: input.successUrl,
        cancel_url: input.cancelUrl,
        metadata: { [projectMarkerKey]: input.projectId, billing_customer_id: input.customerId },
      },
      idempotency(input.projectId, 'checkout', input.idempotencyKey),
    );
    return {
      sessionId: session.id,
      url: session.url ?? '',
      stripeCustomerId,
      expiresAt: new Date(session.expires_at * 1000),
    };
  }

  async createPortalSession(
    projectId: string,
    customerId: string,
    returnUrl: string,
    idempotencyKey: string | undefined,
  ): Promise<{ sessionId: string; url: string }> {
    const stripe = await this.stripeFor(projectId);
    const link = await this.customers.findByCustomerId(projectId, customerId);
    if (!link) {
      throw new FailedPreconditionError(
        `customer ${customerId} has no Stripe customer yet: start a checkout first`,
      );
    }
    const session = await stripe.billingPortal.sessions.create(
      { customer: link.stripe_customer_id, return_url: returnUrl },
      idempotency(projectId, 'portal', idempotencyKey),
    );
    return { sessionId: session.id, url: session.url };
  }

  private async stripeFor(projectId: string): Promise<Stripe> {
    const project = await this.projects.get(projectId);
    if (!project?.stripe_secret_key) {
      throw new FailedPreconditionError('this project has no Stripe secret key configured');
    }
    return this.stripeClients.forKey(project.stripe_secret_key);
  }

  private async ensureStripeCustomer(
    stripe: Stripe,
    projectId: string,
    customerId: string,
    email: string | undefined,
  ): Promise<string> {
    const existing = await this.customers.findByCustomerId(projectId, customerId);
    if (existing) return existing.stripe_customer_id;
    const created = await stripe.customers.create(
      { email, metadata: { [projectMarkerKey]: projectId, billing_customer_id: customerId } },
      { idempotencyKey: `billing-customer:${projectId}:${customerId}` },
    );
    const link = await this.customers.link(projectId, customerId, created.id, this.now());
    return link.stripe_customer_id;
  }
}

/** Stripe keeps idempotency keys for 24 hours: a retry within that returns the first session. */
function idempotency(
  projectId: string,
  kind: string,
  key: string | undefined,
): Stripe.RequestOptions {
  return key ? { idempotencyKey: `billing-${kind}:${projectId}:${key}` } : {};
}
