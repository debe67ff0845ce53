/** Stored documents to the engine's input facts. */
import type { GrantFacts, PurchaseFacts, SubscriptionFacts } from '../domain/entitlements.js';
import type { GrantDoc, Purchase } from '../store/documents.js';
import type { CurrentSubscription } from '../store/subscription-store.js';

export function subscriptionFacts({ doc, pastDueSince }: CurrentSubscription): SubscriptionFacts {
  return {
    id: doc.stripe_subscription_id,
    status: doc.status,
    items: doc.items.map((item) => ({
      priceId: item.price_id,
      productId: item.product_id,
      quantity: item.quantity,
      currentPeriodStart: item.current_period_start,
      currentPeriodEnd: item.current_period_end,
    })),
    cancelAtPeriodEnd: doc.cancel_at_period_end,
    cancelAt: doc.cancel_at,
    trialEnd: doc.trial_end,
    pastDueSince,
  };
}

export function purchaseFacts(doc: Purchase): PurchaseFacts {
  return {
    id: doc.checkout_session_id ?? doc.purchase_key,
    paid: doc.paid,
    refunded: doc.refunded,
    items: doc.items.map((item) => ({
      priceId: item.price_id,
      productId: item.product_id,
      quantity: item.quantity,
    })),
  };
}

export function grantFacts(doc: GrantDoc): GrantFacts {
  return {
    id: doc._id,
    feature: doc.feature,
    limit: doc.limit,
    expiresAt: doc.expires_at,
    revokedAt: doc.revoked_at,
  };
}
