/**
 * charge.refunded: a fully refunded charge takes back its purchase. A
 * partial refund keeps the purchase (the customer still paid for it).
 */
import type Stripe from 'stripe';
import { stripeId } from '../subscription-mapping.js';
import { changed, type EventHandler } from './types.js';

export const chargeRefunded: EventHandler = async (event, context) => {
  const charge = event.data.object as Stripe.Charge;
  const paymentIntentId = stripeId(charge.payment_intent);
  if (!charge.refunded || !paymentIntentId) return changed([]);
  await context.purchases.markRefunded(context.project._id, paymentIntentId);
  // The charge may name no customer (guest checkout); the purchase may.
  const purchase = await context.purchases.get(context.project._id, paymentIntentId);
  return changed([stripeId(charge.customer), purchase?.stripe_customer_id ?? null]);
};
