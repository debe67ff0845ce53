/**
 * customer.subscription.created, customer.subscription.updated and
 * customer.subscription.deleted: record the subscription as the event shows it.
 */
import type Stripe from 'stripe';
import { stripeId } from '../subscription-mapping.js';
import { applySubscription } from './apply-subscription.js';
import { changed, type EventHandler, ownedBy } from './types.js';

const subscriptionOf = (event: Stripe.Event) => event.data.object as Stripe.Subscription;

export const subscriptionChanged: EventHandler = {
  ownerOf: (event) => ownedBy(stripeId(subscriptionOf(event).customer)),
  apply: async (event, context) => {
    const subscription = subscriptionOf(event);
    await applySubscription(subscription, event.created, context);
    return changed([stripeId(subscription.customer)]);
  },
};
