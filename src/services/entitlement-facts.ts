/** Stored documents to the engine's input facts. */
import type { CreditLotFacts, PackPurchaseFacts } from '../domain/credits.js';
import type { GrantFacts, PurchaseFacts, SubscriptionFacts } from '../domain/entitlements.js';
import type { CreditGrantDoc, GrantDoc, Purchase } from '../store/documents.js';
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

export function creditGrantFacts(doc: CreditGrantDoc): CreditLotFacts {
  return {
    id: doc._id,
    feature: doc.feature,
    source: 'grant',
    amount: doc.amount,
    createdAt: doc.created_at,
    expiresAt: doc.expires_at,
    endedAt: doc.revoked_at,
  };
}

/** Undefined for a purchase with no checkout session (credit packs are named after it). */
export function packPurchaseFacts(doc: Purchase): PackPurchaseFacts | undefined {
  if (doc.checkout_session_id === null) return undefined;
  return {
    checkoutSessionId: doc.checkout_session_id,
    paidAt: doc.paid ? doc.paid_at : null,
    refundedAt: doc.refunded ? doc.refunded_at : null,
    items: doc.items.map((item) => ({
      priceId: item.price_id,
      productId: item.product_id,
      quantity: item.quantity,
    })),
  };
}
