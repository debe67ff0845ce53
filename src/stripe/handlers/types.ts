import type Stripe from 'stripe';
import type { CustomerStore } from '../../store/customer-store.js';
import type { ProjectDoc } from '../../store/documents.js';
import type { PurchaseStore } from '../../store/purchase-store.js';
import type { SubscriptionStore } from '../../store/subscription-store.js';

/** What a handler may use: the project's own Stripe client and the stores. */
export interface WebhookContext {
  readonly project: ProjectDoc;
  readonly stripe: Stripe;
  readonly customers: CustomerStore;
  readonly subscriptions: SubscriptionStore;
  readonly purchases: PurchaseStore;
  readonly now: Date;
}

/** Whose entitlements may have changed. */
export interface HandlerResult {
  readonly stripeCustomerIds: readonly string[];
  readonly customerIds: readonly string[];
}

/**
 * Whose object an event is about, for telling a project's own events from
 * those of other projects on the same Stripe account (stripe/event-ownership.ts).
 */
export interface EventOwner {
  /** Metadata that may carry the project marker (checkout sessions the service started). */
  readonly metadata: Readonly<Record<string, string>> | null;
  readonly stripeCustomerId: string | null;
  /** For a payment that names no customer: its PaymentIntent. */
  readonly paymentIntentId: string | null;
}

export interface EventHandler {
  ownerOf(event: Stripe.Event): EventOwner;
  apply(event: Stripe.Event, context: WebhookContext): Promise<HandlerResult>;
}

export function ownedBy(
  stripeCustomerId: string | null,
  more: Partial<Omit<EventOwner, 'stripeCustomerId'>> = {},
): EventOwner {
  return {
    metadata: more.metadata ?? null,
    stripeCustomerId,
    paymentIntentId: more.paymentIntentId ?? null,
  };
}

export function changed(
  stripeCustomerIds: readonly (string | null)[],
  customerIds: readonly string[] = [],
): HandlerResult {
  return {
    stripeCustomerIds: stripeCustomerIds.filter((id): id is string => id !== null && id !== ''),
    customerIds,
  };
}
