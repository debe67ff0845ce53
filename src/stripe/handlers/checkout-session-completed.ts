/**
 * checkout.session.completed and checkout.session.async_payment_succeeded.
 * Links the product's customer id (client_reference_id) to the Stripe
 * customer; in payment mode records the purchase with its line items
 * (webhook payloads leave them out, so they are listed from Stripe); in
 * subscription mode applies the subscription at once instead of waiting for
 * its own event.
 */
import type Stripe from 'stripe';
import { purchaseKey } from '../../domain/purchases.js';
import type { PurchaseItemDoc } from '../../store/documents.js';
import { stripeId } from '../subscription-mapping.js';
import { refreshSubscription } from './apply-subscription.js';
import { changed, type EventHandler, ownedBy, type WebhookContext } from './types.js';

const sessionOf = (event: Stripe.Event) => event.data.object as Stripe.Checkout.Session;

export const checkoutSessionCompleted: EventHandler = {
  ownerOf: (event) => {
    const session = sessionOf(event);
    return ownedBy(stripeId(session.customer), { metadata: session.metadata });
  },
  apply: async (event, context) => {
    const session = sessionOf(event);
    const stripeCustomerId = stripeId(session.customer);
    const customerIds: string[] = [];
    if (stripeCustomerId && session.client_reference_id) {
      const link = await context.customers.link(
        context.project._id,
        session.client_reference_id,
        stripeCustomerId,
        context.now,
      );
      customerIds.push(link.customer_id);
    }
    if (session.mode === 'payment') await recordPurchase(session, context);
    const subscriptionId = stripeId(session.subscription);
    if (session.mode === 'subscription' && subscriptionId) {
      await refreshSubscription(subscriptionId, event.created, context);
    }
    return changed([stripeCustomerId], customerIds);
  },
};

async function recordPurchase(
  session: Stripe.Checkout.Session,
  context: WebhookContext,
): Promise<void> {
  const items: PurchaseItemDoc[] = [];
  for await (const line of context.stripe.checkout.sessions.listLineItems(session.id, {
    limit: 100,
  })) {
    if (!line.price) continue;
    items.push({
      price_id: line.price.id,
      product_id: stripeId(line.price.product) ?? '',
      quantity: line.quantity ?? 1,
    });
  }
  // Delayed methods (bank debits) complete unpaid; async_payment_succeeded follows, paid.
  const paid =
    session.payment_status === 'paid' || session.payment_status === 'no_payment_required';
  const paymentIntentId = stripeId(session.payment_intent);
  await context.purchases.recordCheckout(
    context.project._id,
    {
      checkoutSessionId: session.id,
      paymentIntentId,
      stripeCustomerId: stripeId(session.customer),
      items,
      amountTotal: session.amount_total,
      currency: session.currency,
      created: new Date(session.created * 1000),
    },
    context.now,
  );
  // Payment is a fact of its own: for delayed methods it arrives with a later event.
  if (paid)
    await context.purchases.recordPaid(
      context.project._id,
      purchaseKey(session.id, paymentIntentId),
      context.now,
    );
}
