/**
 * Stores a subscription as an event shows it, unless a newer event was
 * applied already. Two events of the same second cannot be ordered by their
 * timestamps; when they disagree, Stripe itself is asked for the current
 * state, so every delivery order ends in the same document.
 */
import type Stripe from 'stripe';
import { sameSubscriptionState, subscriptionDoc } from '../subscription-mapping.js';
import type { WebhookContext } from './types.js';

export async function applySubscription(
  subscription: Stripe.Subscription,
  eventCreated: number,
  context: WebhookContext,
): Promise<void> {
  const projectId = context.project._id;
  const doc = subscriptionDoc(projectId, subscription, eventCreated, context.now);
  if ((await context.subscriptions.applyIfNewer(doc)) === 'applied') return;
  const stored = await context.subscriptions.get(projectId, subscription.id);
  if (!stored || stored.event_created !== eventCreated || sameSubscriptionState(stored, doc))
    return;
  const current = await context.stripe.subscriptions.retrieve(subscription.id);
  await context.subscriptions.replaceIfNotNewer(
    subscriptionDoc(projectId, current, eventCreated, context.now),
  );
}

/** Fetches a subscription from Stripe and applies it as of the event's time. */
export async function refreshSubscription(
  subscriptionId: string,
  eventCreated: number,
  context: WebhookContext,
): Promise<string> {
  const subscription = await context.stripe.subscriptions.retrieve(subscriptionId);
  await applySubscription(subscription, eventCreated, context);
  return typeof subscription.customer === 'string'
    ? subscription.customer
    : subscription.customer.id;
}
