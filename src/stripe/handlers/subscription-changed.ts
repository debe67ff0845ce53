/** customer.subscription.created, .updated and .deleted: mirror the subscription. */
import type Stripe from 'stripe';
import { stripeId } from '../subscription-mapping.js';
import { applySubscription } from './apply-subscription.js';
import { changed, type EventHandler } from './types.js';

export const subscriptionChanged: EventHandler = async (event, context) => {
  const subscription = event.data.object as Stripe.Subscription;
  await applySubscription(subscription, event.created, context);
  return changed([stripeId(subscription.customer)]);
};
