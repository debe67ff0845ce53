/**
 * invoice.paid and invoice.payment_failed: a payment moves the subscription
 * (past_due, back to active). The invoice does not carry the subscription,
 * so its current state is fetched from Stripe and applied.
 */
import type Stripe from 'stripe';
import { stripeId } from '../subscription-mapping.js';
import { refreshSubscription } from './apply-subscription.js';
import { changed, type EventHandler, ownedBy } from './types.js';

const invoiceOf = (event: Stripe.Event) => event.data.object as Stripe.Invoice;

export const invoiceChanged: EventHandler = {
  ownerOf: (event) => ownedBy(stripeId(invoiceOf(event).customer)),
  apply: async (event, context) => {
    const invoice = invoiceOf(event);
    const subscriptionId = stripeId(invoice.parent?.subscription_details?.subscription);
    if (!subscriptionId) return changed([stripeId(invoice.customer)]);
    const stripeCustomerId = await refreshSubscription(subscriptionId, event.created, context);
    return changed([stripeCustomerId]);
  },
};
