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

export type EventHandler = (event: Stripe.Event, context: WebhookContext) => Promise<HandlerResult>;

export function changed(
  stripeCustomerIds: readonly (string | null)[],
  customerIds: readonly string[] = [],
): HandlerResult {
  return {
    stripeCustomerIds: stripeCustomerIds.filter((id): id is string => id !== null && id !== ''),
    customerIds,
  };
}
