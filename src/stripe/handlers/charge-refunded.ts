/**
 * charge.refunded: a fully refunded charge takes back its purchase. A
 * partial refund keeps the purchase (the customer still paid for it).
 */
import type Stripe from 'stripe';
import { stripeId } from '../subscription-mapping.js';
import { changed, type EventHandler, ownedBy } from './types.js';

const chargeOf = (event: Stripe.Event) => event.data.object as Stripe.Charge;

export const chargeRefunded: EventHandler = {
  ownerOf: (event) => {
    const charge = chargeOf(event);
    return ownedBy(stripeId(charge.customer), { paymentIntentId: stripeId(charge.payment_intent) });
  },
  apply: async (event, context) => {
    const charge = chargeOf(event);
    const paymentIntentId = stripeId(charge.payment_intent);
    if (!charge.refunded || !paymentIntentId) return changed([]);
    const stripeCustomerId = stripeId(charge.customer);
    await context.purchases.recordRefunded(
      context.project._id,
      paymentIntentId,
      stripeCustomerId,
      context.now,
    );
    // The charge may name no customer (guest checkout); the purchase's checkout may.
    const buyer = await context.purchases.stripeCustomerOf(context.project._id, paymentIntentId);
    return changed([stripeCustomerId, buyer]);
  },
};
